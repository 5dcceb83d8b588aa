// Byte-level BPE (Llama 3 / Qwen 2 style: regex Split + ByteLevel) against `tokenizers` goldens. The two
// tokenizer.json files are small synthetic ones that scripts/make_tokenizer_goldens.py trained with
// `tokenizers` on WikiText-2 (none of the real files can be downloaded here):
//   llama3_like: Llama 3's regex, ignore_merges, <|begin_of_text|> template, added tokens with lstrip,
//                rstrip, single_word and normalized flags, merges as ["a", "b"]
//   qwen2_like:  NFC normalizer, Qwen 2's regex, no BOS, merges as "a b" strings, an NFD added token
#include <string>

#include "catch.h"
#include "test_paths.h"
#include "text/golden_io.h"
#include "text/mmlu_prompts.h"
#include "text/tokenizer.h"

using qg::test::describe_mismatch;
using qg::test::Ids;
using qg::text::Tokenizer;

namespace {

const nlohmann::json& cases() {
  static const nlohmann::json j = qg::test::read_json(qg::test::fixtures_dir() / "text" / "bytelevel_cases.json");
  return j;
}

void check_tokenizer(const std::string& name) {
  const Tokenizer tok = Tokenizer::load(qg::test::fixtures_dir() / "text" / name);
  const auto& c = cases()["tokenizers"][name];

  SECTION("edge cases, ids and decodes") {
    for (const auto& e : c["edge_cases"]) {
      const std::string text = e["text"].get<std::string>();
      INFO(name << " " << e["name"].get<std::string>() << ": \"" << text << "\"");
      const Ids plain = tok.encode(text, false), special = tok.encode(text, true);
      CHECK(describe_mismatch(e["ids"].get<Ids>(), plain) == "");
      CHECK(describe_mismatch(e["ids_special"].get<Ids>(), special) == "");
      CHECK(tok.decode(special, false) == e["decoded"].get<std::string>());
      CHECK(tok.decode(special, true) == e["decoded_skip_special"].get<std::string>());
    }
  }

  SECTION("all of WikiText-2 test: count and FNV-64 checkpoints every 4096 ids") {
    const std::string text = qg::test::read_bytes(qg::test::shared_datasets_dir() / "wikitext-2-raw" / "wiki.test.raw");
    const auto& w = c["wikitext"];
    const Ids ids = tok.encode(text, true);
    const auto every = w["checkpoint_every"].get<std::size_t>();
    const auto hashes = qg::test::fnv64_checkpoints(ids, every);
    const auto& want = w["checkpoints"];
    std::size_t agree = 0;
    while (agree < want.size() && agree < hashes.checkpoints.size() && hashes.checkpoints[agree] == want[agree].get<std::string>()) ++agree;
    INFO(name << ": the first " << agree * every << " ids agree; the first difference is in ids [" << agree * every << ", "
              << (agree + 1) * every << ")");
    CHECK(ids.size() == w["count"].get<std::size_t>());
    CHECK(agree == want.size());
    CHECK(hashes.final_hex == w["fnv64"].get<std::string>());
    if (w["roundtrip_ok"].get<bool>()) CHECK(tok.decode(ids, true) == text);
  }

  SECTION("MMLU prompts") {
    const auto built = qg::test::mmlu_golden_cases(qg::test::shared_datasets_dir() / "mmlu");
    const auto golden = qg::test::read_qgids(qg::test::fixtures_dir() / "text" / "bytelevel_mmlu.qgids");
    int bad = 0, seen = 0;
    for (const auto& [gname, gids] : golden) {
      if (gname.rfind(name + "/", 0) != 0) continue;
      const std::string key = gname.substr(name.size() + 1);
      const auto it = std::find_if(built.begin(), built.end(), [&](const auto& b) { return b.first == key; });
      REQUIRE(it != built.end());
      ++seen;
      const std::string diff = describe_mismatch(gids, tok.encode(it->second, true), gname);
      if (!diff.empty() && ++bad <= 5) FAIL_CHECK(diff);
    }
    CHECK(seen == static_cast<int>(built.size()));
    CHECK(bad == 0);
  }
}

}  // namespace

TEST_CASE("Llama 3 style byte-level BPE matches tokenizers", "[text]") { check_tokenizer("llama3_like"); }

TEST_CASE("Qwen 2 style byte-level BPE (NFC, 'a b' merges) matches tokenizers", "[text]") { check_tokenizer("qwen2_like"); }
