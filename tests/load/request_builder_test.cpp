// Request bodies and prompt sets.
#include <nlohmann/json.hpp>

#include "catch.h"
#include "common/error.h"
#include "load/prompts.h"
#include "load/request_builder.h"

using namespace qg::load;

TEST_CASE("request: chat and completions bodies", "[load]") {
  RequestOptions o;
  o.model = "m";
  o.max_tokens = 64;
  o.endpoint = Endpoint::kChat;
  auto chat = nlohmann::json::parse(build_request_body(o, Prompt{"hello", 1, -1}));
  CHECK(chat["messages"][0]["content"] == "hello");
  CHECK(chat["max_completion_tokens"] == 64);
  CHECK(chat["max_tokens"] == 64);  // older llama.cpp reads only max_tokens
  CHECK(chat["stream"] == true);
  CHECK(chat["stream_options"]["include_usage"] == true);
  CHECK(chat["ignore_eos"] == true);
  CHECK_FALSE(chat.contains("temperature"));
  o.endpoint = Endpoint::kCompletions;
  o.temperature = 0.0;
  o.extra_body = {{"min_tokens", 64}};
  auto comp = nlohmann::json::parse(build_request_body(o, Prompt{"p", -1, 7}));
  CHECK(comp["prompt"] == "p");
  CHECK(comp["max_tokens"] == 7);  // per-prompt output length wins
  CHECK(comp["temperature"] == 0.0);
  CHECK(comp["min_tokens"] == 64);
  CHECK(parse_endpoint("/v1/chat/completions") == Endpoint::kChat);
  CHECK(parse_endpoint("completions") == Endpoint::kCompletions);
  CHECK_THROWS_AS(parse_endpoint("embeddings"), qg::Error);
}

namespace {
// A toy tokenizer: each id is a 2-letter word "aa".."zz"-like, words separated by spaces; special id 0.
class ToyTokenizer : public TokenCounter {
 public:
  std::vector<std::int32_t> encode(const std::string& text) const override {
    std::vector<std::int32_t> ids;
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && text[i] == ' ') ++i;
      if (i >= text.size()) break;
      std::size_t j = text.find(' ', i);
      if (j == std::string::npos) j = text.size();
      ids.push_back(std::stoi(text.substr(i + 1, j - i - 1)));
      i = j;
    }
    return ids;
  }
  std::string decode(std::span<const std::int32_t> ids) const override {
    std::string s;
    for (auto id : ids) s += (s.empty() ? "t" : " t") + std::to_string(id);
    return s;
  }
  std::size_t vocab_size() const override { return 100; }
  bool is_special(std::int32_t id) const override { return id == 0; }
};
}  // namespace

TEST_CASE("prompts: random-token prompts have the exact length and a shared prefix", "[load]") {
  ToyTokenizer tok;
  auto ps = random_token_prompts(tok, {5, 32, 8, 1});
  REQUIRE(ps.size() == 5);
  for (const auto& p : ps) {
    CHECK(p.n_tokens == 32);
    CHECK(tok.encode(p.text).size() == 32);
    CHECK(p.text.substr(0, ps[0].text.find(' ', 0)) == ps[0].text.substr(0, ps[0].text.find(' ', 0)));
  }
  auto a = tok.encode(ps[0].text), b = tok.encode(ps[1].text);
  CHECK(std::equal(a.begin(), a.begin() + 8, b.begin()));
  CHECK_FALSE(std::equal(a.begin(), a.end(), b.begin()));
  for (auto id : a) CHECK(id != 0);
}

#include "test_paths.h"
#include "text/tokenizer.h"

namespace {
class FixtureTokenizer : public TokenCounter {
 public:
  explicit FixtureTokenizer(qg::text::Tokenizer t) : t_(std::move(t)) {}
  std::vector<std::int32_t> encode(const std::string& s) const override {
    auto ids = t_.encode(s, false);
    return {ids.begin(), ids.end()};
  }
  std::string decode(std::span<const std::int32_t> ids) const override {
    std::vector<qg::text::TokenId> v(ids.begin(), ids.end());
    return t_.decode(v, false);
  }
  std::size_t vocab_size() const override { return t_.vocab_size(); }
  bool is_special(std::int32_t id) const override { return t_.is_special(static_cast<qg::text::TokenId>(id)); }

 private:
  qg::text::Tokenizer t_;
};
}  // namespace

TEST_CASE("prompts: exact lengths with a real BPE tokenizer (byte-level fixture)", "[load]") {
  FixtureTokenizer tok(qg::text::Tokenizer::load(qg::test::fixtures_dir() / "text/qwen2_like/tokenizer.json"));
  auto ps = random_token_prompts(tok, {4, 100, 0, 42});
  REQUIRE(ps.size() == 4);
  for (const auto& p : ps) {
    CHECK(p.n_tokens == 100);
    CHECK(tok.encode(p.text).size() == 100);
  }
}
