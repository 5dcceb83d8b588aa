// [mmlu] lm-eval's MMLU prompts byte for byte (golden_prompts*.jsonl), the chat message lists, and the
// HF-backend context/continuation token split with Gemma's tokenizer (ids checked against `tokenizers`).
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "catch.h"
#include "common/error.h"
#include "evals/mmlu_data.h"
#include "evals/mmlu_prompts.h"
#include "test_paths.h"
#include "text/golden_io.h"

using namespace qg;
using namespace qg::evals;

namespace {
std::filesystem::path mmlu_dir() { return qg::test::shared_datasets_dir() / "mmlu"; }

const text::Tokenizer& gemma() {
  static const auto tok = text::Tokenizer::load(qg::test::shared_datasets_dir() / "tokenizers" / "gemma3");
  return tok;
}

std::vector<nlohmann::json> golden_lines() {
  std::vector<nlohmann::json> out;
  for (const char* f : {"golden_prompts.jsonl", "golden_prompts_edge.jsonl"}) {
    std::ifstream in(mmlu_dir() / f, std::ios::binary);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

const MmluSubject& subject_of(const std::string& name) {
  static std::map<std::string, MmluData> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, load_mmlu(mmlu_dir(), {name})).first;
  return it->second.subjects[0];
}
}  // namespace

TEST_CASE("MMLU prompts: every golden context and chat message list, byte for byte", "[mmlu]") {
  const auto lines = golden_lines();
  REQUIRE(lines.size() == 15);
  int contexts = 0, chats = 0;
  for (const auto& g : lines) {
    const std::string subject = g["subject"];
    const auto& s = subject_of(subject);
    const MmluRecord& rec = s.test.at(g["index"].get<std::size_t>());
    const int shots = g["shots"];
    INFO(subject << " " << g["index"] << " " << g.value("why", ""));
    if (g.contains("context")) {
      std::string built = mmlu_context(subject, s.dev, rec, shots);
      const std::string why = g.value("why", "");
      if (why.rfind("ver 1", 0) == 0) {  // lm-eval <= v0.4.3: the description lost one newline
        const auto desc = mmlu_description(subject);
        built = desc.substr(0, desc.size() - 1) + built.substr(desc.size());
      }
      CHECK(built == g["context"].get<std::string>());
      CHECK(g["continuations"] == nlohmann::json({" A", " B", " C", " D"}));
      CHECK(std::string(1, static_cast<char>('A' + rec.answer)) == g["answer"].get<std::string>());
      ++contexts;
    } else {
      const bool multiturn = g["chat_fewshot_as_multiturn"];
      const auto msgs = mmlu_chat_messages(subject, s.dev, rec, shots, multiturn);
      REQUIRE(msgs.size() == g["messages"].size());
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        CHECK(msgs[i].role == g["messages"][i]["role"].get<std::string>());
        CHECK(msgs[i].content == g["messages"][i]["content"].get<std::string>());
      }
      CHECK(g["continuations"] == nlohmann::json({"A", "B", "C", "D"}));
      ++chats;
    }
  }
  CHECK(contexts == 13);
  CHECK(chats == 2);
  // The worked example of mmlu-lm-eval.md: 993 characters, and the k=0/k=1 patterns.
  const auto& aa = subject_of("abstract_algebra");
  CHECK(mmlu_context("abstract_algebra", aa.dev, aa.test[0], 5).size() == 993);
  CHECK(mmlu_context("abstract_algebra", aa.dev, aa.test[0], 1) ==
        mmlu_description("abstract_algebra") + mmlu_question_text(aa.dev[0]) + " B\n\n" + mmlu_question_text(aa.test[0]));
}

TEST_CASE("MMLU token split: Gemma ids equal `tokenizers` for every subject (k=0, k=5), one BOS", "[mmlu]") {
  // gemma3_mmlu.qgids: encode(prompt, add_special_tokens=True) by `tokenizers` 0.23 (tests/fixtures/text/README.md).
  std::map<std::string, qg::test::Ids> golden;
  for (auto& [name, ids] : qg::test::read_qgids(qg::test::fixtures_dir() / "text" / "gemma3_mmlu.qgids")) golden[name] = ids;
  const auto data = load_mmlu(mmlu_dir(), {}, 1);
  MmluTokenization info;
  for (int k : {0, 5}) {
    const auto reqs = build_mmlu_requests(data, gemma(), {k, false, false}, &info);
    REQUIRE(reqs.size() == 57);
    CHECK(info.single_token_choices);
    CHECK(info.bos_rule.find("exactly one BOS <bos> (id 2)") != std::string::npos);
    int bad = 0;
    for (const auto& r : reqs) {
      const auto& g = golden.at("mmlu/" + r.subject + "/test0/k" + std::to_string(k));
      bad += r.context_ids != g;
      CHECK(r.context_ids[0] == 2);
      CHECK(r.context_ids[1] != 2);
      CHECK(r.continuation_ids[0] == std::vector<TokenId>{562});  // " A"
      CHECK(r.continuation_ids[1] == std::vector<TokenId>{603});
      CHECK(r.continuation_ids[2] == std::vector<TokenId>{565});
      CHECK(r.continuation_ids[3] == std::vector<TokenId>{622});
      if (k == 0) {  // context + " " + gold, encoded whole, ends in the gold continuation id
        auto whole = r.context_ids;
        whole.insert(whole.end(), r.continuation_ids[r.gold].begin(), r.continuation_ids[r.gold].end());
        bad += whole != golden.at("mmlu/" + r.subject + "/test0/k0+gold");
      }
    }
    CHECK(bad == 0);
  }
  // "...Answer:" + " A" ends [7925 "Answer", 236787 ":", 562 "▁A"].
  const auto aa = build_mmlu_requests(load_mmlu(mmlu_dir(), {"abstract_algebra"}, 1), gemma(), {5, false, false});
  const auto& c = aa[0].context_ids;
  REQUIRE(c.size() > 2);
  CHECK(c[c.size() - 2] == 7925);
  CHECK(c[c.size() - 1] == 236787);
}

TEST_CASE("MMLU token split: trailing whitespace moves into the continuation (_encode_pair)", "[mmlu]") {
  std::vector<TokenId> ctx, cont;
  mmlu_encode_pair(gemma(), "Answer:\n", "A", {2}, ctx, cont);
  const auto base = gemma().encode("Answer:", false);
  std::vector<TokenId> expect_ctx{2};
  expect_ctx.insert(expect_ctx.end(), base.begin(), base.end());
  CHECK(ctx == expect_ctx);
  const auto whole = gemma().encode("Answer:\nA", false);
  CHECK(cont == std::vector<TokenId>(whole.begin() + static_cast<std::ptrdiff_t>(base.size()), whole.end()));
  CHECK(cont == std::vector<TokenId>{107, 236776});  // "\n", "A": two tokens (mmlu-lm-eval.md section 4)
  // U+0085 counts as whitespace (Python isspace), as rstrip does.
  mmlu_encode_pair(gemma(), "x\xC2\x85", "A", {}, ctx, cont);
  CHECK(ctx == gemma().encode("x", false));
}

TEST_CASE("MMLU --chat: Gemma turn format, the template's BOS only, continuations \"\\nA\"", "[mmlu]") {
  const auto data = load_mmlu(mmlu_dir(), {"abstract_algebra"}, 2);
  MmluTokenization info;
  for (bool multiturn : {false, true}) {
    const auto reqs = build_mmlu_requests(data, gemma(), {5, true, multiturn}, &info);
    REQUIRE(reqs.size() == 2);
    CHECK_FALSE(info.single_token_choices);
    const auto& r = reqs[0];
    CHECK(r.context.rfind("<bos><start_of_turn>user\n" + mmlu_description("abstract_algebra"), 0) == 0);
    CHECK(r.context.size() > 20);
    CHECK(r.context.substr(r.context.size() - 21) == "<start_of_turn>model\n");
    CHECK(r.context_ids[0] == 2);
    CHECK(r.context_ids[1] != 2);
    CHECK(r.continuations[0] == "A");
    CHECK(r.continuation_ids[0] == std::vector<TokenId>{107, 236776});
  }
  CHECK_THROWS_AS(build_mmlu_requests(data, gemma(), {6, false, false}), qg::Error);
}
