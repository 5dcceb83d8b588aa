#pragma once
// The committed lm-eval MMLU requests of tests/fixtures/mmlu (8 questions 0-shot, 2 left-truncated 5-shot), as the
// golden test and the GPU scorer test read them.
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catch.h"
#include "evals/mmlu_prompts.h"
#include "test_paths.h"

namespace qg::test {

inline std::vector<evals::MmluRequest> read_fixture_mmlu_requests() {
  std::vector<evals::MmluRequest> out;
  for (const char* name : {"prompts_0shot.jsonl", "prompts_5shot.jsonl"}) {
    std::ifstream in(fixtures_dir() / "mmlu" / name);
    REQUIRE(in);
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      evals::MmluRequest r;
      r.subject = j.at("subject").get<std::string>();
      r.index = j.at("index").get<std::size_t>();
      r.gold = j.at("answer").get<std::string>()[0] - 'A';
      r.context = j.at("context").get<std::string>();
      r.context_ids = j.at("context_ids").get<std::vector<TokenId>>();
      for (std::size_t c = 0; c < 4; ++c) {
        r.continuations[c] = j.at("continuations").at(c).get<std::string>();
        r.continuation_ids[c] = j.at("continuation_ids").at(c).get<std::vector<TokenId>>();
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace qg::test
