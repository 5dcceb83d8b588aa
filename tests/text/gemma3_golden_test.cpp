// Gemma 3/4 tokenizer (../shared/datasets/tokenizers/gemma3/tokenizer.json) against goldens made with the
// `tokenizers` library by scripts/make_tokenizer_goldens.py: all of WikiText-2 test, MMLU prompts built
// from ../shared/datasets/mmlu, llama.cpp's Gemma 4 vectors, edge cases, Gemma 3 chat renders.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "catch.h"
#include "test_paths.h"
#include "text/chat_format.h"
#include "text/golden_io.h"
#include "text/mmlu_prompts.h"
#include "text/text_test_util.h"
#include "text/tokenizer.h"

using qg::test::describe_mismatch;
using qg::test::Ids;
using qg::text::Tokenizer;

namespace {

const std::filesystem::path& gemma_dir() {
  static const auto dir = qg::test::shared_datasets_dir() / "tokenizers" / "gemma3";
  return dir;
}
const Tokenizer& gemma() {
  static const Tokenizer tok = Tokenizer::load(gemma_dir());  // 33 MB: load once per test run
  return tok;
}
const nlohmann::json& cases() {
  static const nlohmann::json j = qg::test::read_json(qg::test::fixtures_dir() / "text" / "gemma3_cases.json");
  return j;
}
Ids ids_of(const nlohmann::json& j) { return j.get<Ids>(); }

}  // namespace

TEST_CASE("Gemma tokenizer.json loads with the expected shape and BOS rule", "[text]") {
  const Tokenizer& tok = gemma();
  CHECK(tok.vocab_size() == 262145);
  CHECK(tok.token_to_id("<bos>") == 2);
  CHECK(tok.token_to_id("<start_of_turn>") == 105);
  CHECK(tok.token_to_id("<image_soft_token>") == 262144);
  CHECK(tok.id_to_token(106) == "<end_of_turn>");
  CHECK(tok.is_special(2));
  CHECK_FALSE(tok.is_special(4));  // <mask> is an added token but not special
  const auto& bos = tok.bos_rule();
  CHECK(bos.bos_id == 2);
  CHECK(bos.encode_adds_bos);
  CHECK(bos.model_expects_bos);
  CHECK(bos.warning.empty());
  CHECK(tok.roundtrip_lossless());
  CHECK(tok.encode("Hello", true).front() == 2);
  CHECK(tok.encode_for_model("Hello") == tok.encode("Hello", true));
}

TEST_CASE("Gemma: all of WikiText-2 test encodes to the tokenizers golden, id for id", "[text]") {
  const auto wiki_path = qg::test::shared_datasets_dir() / "wikitext-2-raw" / "wiki.test.raw";
  const std::string text = qg::test::read_bytes(wiki_path);
  const auto& meta = cases()["wikitext"];
  REQUIRE(text.size() == meta["bytes"].get<std::size_t>());
  const auto golden = qg::test::read_qgids(qg::test::fixtures_dir() / "text" / "gemma3_wikitext.qgids");
  REQUIRE(golden.size() == 1);
  const Ids& expected = golden[0].second;
  REQUIRE(expected.size() == meta["count"].get<std::size_t>());
  CHECK(qg::test::fnv64_checkpoints(expected, meta["checkpoint_every"].get<std::size_t>()).final_hex == meta["fnv64"].get<std::string>());

  const Ids ids = gemma().encode(text, true, wiki_path.string());
  const std::string diff = describe_mismatch(expected, ids, "wiki.test.raw");
  if (!diff.empty()) {
    // Say where in the file: decode the agreeing prefix to find the byte offset.
    std::size_t i = 0;
    while (i < ids.size() && i < expected.size() && ids[i] == expected[i]) ++i;
    const std::string prefix = gemma().decode(Ids(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(i)), true);
    FAIL(diff << "; near byte " << prefix.size() << ": \"" << text.substr(prefix.size(), 60) << "\"");
  }
  // Lossless: decoding gives the file back.
  CHECK(gemma().decode(ids, true) == text);
  CHECK(meta["roundtrip_ok"].get<bool>());
}

TEST_CASE("Gemma: MMLU prompts built from the CSVs match the tokenizers goldens", "[text]") {
  const auto built = qg::test::mmlu_golden_cases(qg::test::shared_datasets_dir() / "mmlu");
  const auto golden = qg::test::read_qgids(qg::test::fixtures_dir() / "text" / "gemma3_mmlu.qgids");
  REQUIRE(built.size() == golden.size());
  REQUIRE(built.size() >= 300);
  int bad = 0;
  for (std::size_t i = 0; i < built.size(); ++i) {
    REQUIRE(built[i].first == golden[i].first);  // same prompt, same order as the script
    const std::string diff = describe_mismatch(golden[i].second, gemma().encode(built[i].second, true), built[i].first);
    if (!diff.empty() && ++bad <= 5) FAIL_CHECK(diff);
  }
  CHECK(bad == 0);
}

TEST_CASE("Gemma: llama.cpp's Gemma 4 tokenizer vectors", "[text]") {
  const auto& vectors = cases()["llama_cpp_vectors"];
  REQUIRE(vectors.size() == 46);
  // The inputs straight from ../shared/datasets, so the test also covers the files there.
  const std::string inp = qg::test::read_bytes(gemma_dir() / "test-vectors" / "ggml-vocab-gemma-4.gguf.inp");
  std::vector<std::string> inputs;
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (std::size_t b = 0;;) {
    const std::size_t e = inp.find(sep, b);
    inputs.push_back(inp.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + sep.size();
  }
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    const auto& v = vectors[i];
    INFO("vector " << i << ": \"" << v["text"].get<std::string>() << "\"");
    CHECK(inputs[i] == v["text"].get<std::string>());
    const Ids ids = gemma().encode(v["text"].get<std::string>(), false);
    CHECK(describe_mismatch(ids_of(v["ids"]), ids) == "");
    CHECK(describe_mismatch(ids_of(v["llama_cpp_ids"]), ids) == "");
  }
}

TEST_CASE("Gemma: edge cases (whitespace, newlines, tabs, emoji, CJK, combining marks, special-token look-alikes, empty)",
          "[text]") {
  for (const auto& c : cases()["edge_cases"]) {
    const std::string text = c["text"].get<std::string>();
    INFO(c["name"].get<std::string>() << ": \"" << text << "\"");
    const Ids plain = gemma().encode(text, false), special = gemma().encode(text, true);
    CHECK(describe_mismatch(ids_of(c["ids"]), plain) == "");
    CHECK(describe_mismatch(ids_of(c["ids_special"]), special) == "");
    CHECK(gemma().decode(special, false) == c["decoded"].get<std::string>());
    CHECK(gemma().decode(special, true) == c["decoded_skip_special"].get<std::string>());
    // Gemma's tokenizer is lossless (byte fallback, no normalizer that loses information), except for
    // text spelling an added token (it comes back as that token, or not at all when special) and for a
    // literal U+2581, which the decoder turns into a space like the escaped spaces.
    const bool lossless = text.find('<') == std::string::npos && text.find("[multimodal]") == std::string::npos &&
                          text.find("\xE2\x96\x81") == std::string::npos;
    if (lossless) CHECK(gemma().decode(plain, true) == text);
  }
}

TEST_CASE("Gemma 3 chat format renders like its Jinja template and tokenizes like apply_chat_template", "[text]") {
  const auto format = qg::text::detect_chat_format(gemma());
  CHECK(format.kind == qg::text::ChatFormatKind::kGemma3);
  CHECK(qg::test::contains(format.evidence, "tokenizer_config.json chat_template"));
  int checked = 0;
  for (const auto& c : cases()["chat"]) {
    INFO(c["name"].get<std::string>());
    std::vector<qg::text::ChatMessage> messages;
    for (const auto& m : c["messages"]) messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    qg::text::ChatOptions opt;
    opt.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    if (c.contains("error")) {  // the template raised: so must we
      CHECK(qg::test::contains(qg::test::error_of([&] { qg::text::render_chat(format, messages, opt); }), "alternate"));
      continue;
    }
    CHECK(qg::text::render_chat(format, messages, opt) == c["rendered"].get<std::string>());
    CHECK(describe_mismatch(ids_of(c["ids"]), qg::text::encode_chat(gemma(), format, messages, opt)) == "");
    ++checked;
  }
  CHECK(checked >= 6);
}
