// Loading tokenizer.json: both merge forms, added-token rules, BOS rule, and a clear error (file + what was
// expected, unknown types named) for every malformed input.
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch.h"
#include "test_paths.h"
#include "text/text_test_util.h"
#include "text/tokenizer.h"

using qg::test::contains;
using qg::test::error_of;
using qg::test::TempDir;
using qg::text::TokenId;
using qg::text::Tokenizer;
using Ids = std::vector<TokenId>;

namespace {

// A tiny BPE: characters a b c d ▁ and byte tokens for 'x' (0x78) and '!' (0x21), merges a+b, ab+c, ▁+a.
nlohmann::json tiny_tokenizer() {
  return nlohmann::json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [
      {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
    ],
    "normalizer": null,
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
      "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
      "vocab": {"<unk>": 0, "<s>": 1, "a": 2, "b": 3, "c": 4, "d": 5, "ab": 6, "abc": 7, "<0x78>": 8, "<0x21>": 9,
                "\u2581": 10, "\u2581a": 11},
      "merges": [["a", "b"], ["ab", "c"], ["\u2581", "a"]]}
  })");
}

std::filesystem::path write(const TempDir& dir, const nlohmann::json& j, const std::string& name = "tokenizer.json") {
  const auto path = dir / name;
  std::ofstream(path) << j.dump();
  return path;
}

std::string load_error(const nlohmann::json& j) {
  TempDir dir("tok_err");
  const auto path = write(dir, j);
  return error_of([&] { Tokenizer::load(path); });
}

}  // namespace

TEST_CASE("BPE merges in the 'a b' and [\"a\", \"b\"] forms give the same ids", "[text]") {
  TempDir dir("tok_merges");
  auto j = tiny_tokenizer();
  const auto tuple_form = Tokenizer::load(write(dir, j, "tuple.json"));
  j["model"]["merges"] = {"#version: 0.2", "a b", "ab c", "\u2581 a"};  // a "#version" line is skipped
  const auto string_form = Tokenizer::load(write(dir, j, "string.json"));
  for (const std::string text : {"abc", "abcab", "cab", "ab\xE2\x96\x81" "a", "dcba"}) {
    INFO(text);
    CHECK(tuple_form.encode(text, false) == string_form.encode(text, false));
  }
  CHECK(tuple_form.encode("abcab", false) == Ids{7, 6});
  CHECK(tuple_form.encode("abcab", true) == Ids{1, 7, 6});
  CHECK(tuple_form.encode("", true) == Ids{1});
  CHECK(tuple_form.encode("", false).empty());
}

TEST_CASE("unknown characters use byte fallback, else one fused <unk>", "[text]") {
  TempDir dir("tok_unk");
  const auto tok = Tokenizer::load(write(dir, tiny_tokenizer()));
  CHECK(tok.encode("ax!", false) == Ids{2, 8, 9});  // x and ! have <0xXX> tokens
  CHECK(tok.encode("ayzb", false) == Ids{2, 0, 3});  // y, z: not all bytes known -> one fused unk
  CHECK(tok.decode(Ids{2, 8, 9}, false) == "ax!");
  CHECK(tok.decode(Ids{1, 2}, true) == "a");         // <s> is special: skipped
  CHECK(tok.decode(Ids{1, 2}, false) == "<s>a");
  CHECK(tok.decode(Ids{2, 999}, false) == "a");      // unknown ids are dropped, as in `tokenizers`
}

TEST_CASE("added tokens: ids, lstrip/rstrip, single_word, normalized", "[text]") {
  TempDir dir("tok_added");
  auto j = tiny_tokenizer();
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}};
  auto added = [](int id, const char* content, bool special, bool lstrip, bool rstrip, bool single_word, bool normalized) {
    return nlohmann::json{{"id", id}, {"content", content}, {"special", special}, {"lstrip", lstrip}, {"rstrip", rstrip},
                          {"single_word", single_word}, {"normalized", normalized}};
  };
  // The ids written in the file are not trusted: a token in the vocab keeps its vocab id, new ones count
  // up from the vocab size (12), as `tokenizers` assigns them on load.
  j["added_tokens"].push_back(added(500, "<mask>", true, true, false, false, false));
  j["added_tokens"].push_back(added(501, "<r>", false, false, true, false, false));
  j["added_tokens"].push_back(added(502, "sw", false, false, false, true, false));
  j["added_tokens"].push_back(added(503, "c d", false, false, false, false, true));
  j["added_tokens"].push_back(added(504, "abc", false, false, false, false, false));
  const auto tok = Tokenizer::load(write(dir, j));
  CHECK(tok.token_to_id("<mask>") == 12);
  CHECK(tok.token_to_id("<r>") == 13);
  CHECK(tok.token_to_id("abc") == 7);
  CHECK(tok.vocab_size() == 16);

  CHECK(tok.encode("a   <mask>", false) == Ids{2, 12});           // lstrip takes the spaces before it
  CHECK(tok.encode("<r>   a", false) == Ids{13, 2});              // rstrip takes the spaces after it
  CHECK(tok.encode("sw", false) == Ids{14});
  CHECK(tok.encode("a sw b", false) == Ids{2, 10, 14, 10, 3});
  CHECK(tok.encode("asw", false) != Ids{2, 14});                    // inside a word: not the single_word token
  CHECK(tok.encode("c d", false) == Ids{15});                       // normalized token: matched as "c▁d"
  CHECK(tok.encode("abcd", false) == Ids{7, 5});                    // "abc" is both vocab and added: id 7
  CHECK(tok.decode(Ids{15}, false) == "c\xE2\x96\x81" "d");         // decodes to its normalized form, as `tokenizers`
  CHECK(tok.is_special(12));
  CHECK_FALSE(tok.is_special(13));
}

TEST_CASE("the BOS rule is read from the files and stated", "[text]") {
  TempDir dir("tok_bos");
  write(dir, tiny_tokenizer());
  {
    const auto tok = Tokenizer::load(dir.path());
    const auto& r = tok.bos_rule();
    CHECK(r.bos_id == 1);
    CHECK(r.bos_token == "<s>");
    CHECK(r.encode_adds_bos);
    CHECK(r.model_expects_bos);
    CHECK(contains(r.source, "TemplateProcessing"));
    CHECK(r.warning.empty());
    CHECK(tok.encode_for_model("ab") == Ids{1, 6});
  }
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": {"content": "<s>"}, "add_bos_token": false})";
  {
    const auto tok = Tokenizer::load(dir.path());
    CHECK(contains(tok.bos_rule().warning, "add_bos_token=false"));
    CHECK(tok.encode("ab", true) == Ids{1, 6});  // follows tokenizer.json, as `tokenizers` does
  }
  auto j = tiny_tokenizer();
  j["post_processor"] = nullptr;
  write(dir, j);
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<s>", "add_bos_token": false})";
  {
    const auto tok = Tokenizer::load(dir.path());
    CHECK_FALSE(tok.bos_rule().encode_adds_bos);
    CHECK_FALSE(tok.bos_rule().model_expects_bos);
    CHECK(tok.encode_for_model("ab") == Ids{6});
  }
}

TEST_CASE("malformed tokenizer files are errors naming the file and what was expected", "[text]") {
  {
    TempDir dir("tok_missing");
    CHECK(contains(error_of([&] { Tokenizer::load(dir / "nope.json"); }), "no such file"));
    CHECK(contains(error_of([&] { Tokenizer::load(dir.path()); }), "no tokenizer.json"));
    std::ofstream(dir / "tokenizer.json") << "{\"model\": ";
    const std::string e = error_of([&] { Tokenizer::load(dir.path()); });
    CHECK(contains(e, "tokenizer.json"));
    CHECK(contains(e, "not valid JSON"));
  }
  auto j = tiny_tokenizer();
  j.erase("model");
  CHECK(contains(load_error(j), "missing field 'model'"));

  j = tiny_tokenizer();
  j["model"]["type"] = "WordPiece";
  CHECK(contains(load_error(j), "model type 'WordPiece' is not supported"));

  j = tiny_tokenizer();
  j["normalizer"] = {{"type", "Lowercase"}};
  CHECK(contains(load_error(j), "normalizer type 'Lowercase' is not supported"));

  j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Punctuation"}, {"behavior", "Isolated"}}}}};
  const std::string pre = load_error(j);
  CHECK(contains(pre, "pre_tokenizer.pretokenizers[0]"));
  CHECK(contains(pre, "pre_tokenizer type 'Punctuation'"));

  j = tiny_tokenizer();
  j["decoder"] = {{"type", "CTC"}};
  CHECK(contains(load_error(j), "decoder type 'CTC'"));

  j = tiny_tokenizer();
  j["post_processor"] = {{"type", "Mystery"}};
  CHECK(contains(load_error(j), "post_processor type 'Mystery'"));

  j = tiny_tokenizer();
  j["model"]["merges"].push_back({"a", "zz"});
  CHECK(contains(load_error(j), "token 'zz' is not in model.vocab"));

  j = tiny_tokenizer();
  j["model"]["merges"] = {"a b c"};
  CHECK(contains(load_error(j), "model.merges[0]"));

  j = tiny_tokenizer();
  j["model"]["vocab"]["e"] = "five";
  CHECK(contains(load_error(j), "token 'e': expected a non-negative integer id"));

  j = tiny_tokenizer();
  j["version"] = "2.0";
  CHECK(contains(load_error(j), "version"));

  j = tiny_tokenizer();
  j["model"]["dropout"] = 0.1;
  CHECK(contains(load_error(j), "dropout"));

  j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(?<=x)y"}}}, {"behavior", "Isolated"}, {"invert", false}};
  CHECK(contains(load_error(j), "lookbehind"));

  j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", "Sideways"}, {"invert", false}};
  CHECK(contains(load_error(j), "unknown split behavior 'Sideways'"));
}

TEST_CASE("invalid UTF-8 input is an error with the byte offset, not a crash", "[text]") {
  TempDir dir("tok_utf8");
  const auto tok = Tokenizer::load(write(dir, tiny_tokenizer()));
  const std::string e = error_of([&] { tok.encode(std::string("abc\xC3(", 5), false, "prompt.txt"); });
  CHECK(contains(e, "prompt.txt"));
  CHECK(contains(e, "invalid UTF-8 at byte offset 3"));
}
