// The Oniguruma-subset regex engine used by Split pre-tokenizers.
#include <string>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "text/regex.h"
#include "text/text_test_util.h"

using qg::text::Regex;

namespace {
std::vector<std::string> matches(const std::string& pattern, const std::string& text) {
  std::vector<std::string> out;
  for (auto [b, e] : Regex(pattern).find_all(text)) out.push_back(text.substr(b, e - b));
  return out;
}
const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}  // namespace

TEST_CASE("alternation is leftmost-first and quantifiers backtrack", "[text]") {
  CHECK(matches("a|ab", "ab") == std::vector<std::string>{"a"});
  CHECK(matches("ab|a", "ab") == std::vector<std::string>{"ab"});
  CHECK(matches("a+b", "aaab aab") == std::vector<std::string>{"aaab", "aab"});
  CHECK(matches("a*?b", "aab") == std::vector<std::string>{"aab"});
  CHECK(matches("x{2,3}", "xxxxxxx") == std::vector<std::string>{"xxx", "xxx"});
  CHECK(matches("x{2}", "xxxxx") == std::vector<std::string>{"xx", "xx"});
  CHECK(matches("a{,2}b", "aaab") == std::vector<std::string>{"aab"});
  CHECK(matches("a++a", "aaaa").empty());        // possessive: gives nothing back
  CHECK(matches("(?>a+)b|a", "aa") == std::vector<std::string>{"a", "a"});
  CHECK(matches("\\s+(?!\\S)", "a   b") == std::vector<std::string>{"  "});
  CHECK(matches("x(?=y)", "xy xz") == std::vector<std::string>{"x"});
  CHECK(matches("{", "a{b") == std::vector<std::string>{"{"});  // a brace that is no interval is literal
}

TEST_CASE("empty matches follow onig's find_iter rule", "[text]") {
  // an empty match right after a match is skipped; other empty matches are reported
  CHECK(matches("a*", "baa") == std::vector<std::string>{"", "aa"});
  CHECK(Regex("x*").find_all("ab").size() == 3);
}

TEST_CASE("classes, categories and case-insensitive groups", "[text]") {
  CHECK(matches("\\p{L}+", "héllo wörld 中文") == std::vector<std::string>{"héllo", "wörld", "中文"});
  CHECK(matches("\\p{N}", "a1½Ⅻ") == std::vector<std::string>{"1", "½", "Ⅻ"});
  CHECK(matches("[^\\s\\p{L}\\p{N}]+", "a, b!? c") == std::vector<std::string>{",", "!?"});
  CHECK(matches("[a-c]+", "abcd") == std::vector<std::string>{"abc"});
  CHECK(matches("(?i:'s|'t)", "'S 'T 's \xE2\x80\x99s '\xC5\xBF") ==
        std::vector<std::string>{"'S", "'T", "'s", "'\xC5\xBF"});  // ſ folds to s; U+2019 is no apostrophe
  CHECK(matches("(?i)ab", "AB aB") == std::vector<std::string>{"AB", "aB"});
  CHECK(matches("[\\x{4E00}-\\x{9FFF}]+", "ab中文c") == std::vector<std::string>{"中文"});
  CHECK(matches("\\P{L}+", "ab12cd") == std::vector<std::string>{"12"});
  CHECK(matches("^a|b$", "a\na b\nb") == std::vector<std::string>{"a", "a", "b", "b"});
  CHECK(matches(".", "\n") .empty());
}

TEST_CASE("the Llama 3 pre-tokenizer pattern splits as tiktoken does", "[text]") {
  CHECK(matches(kLlama3, "Hello world! It's 12345 apples.\n\n  Next") ==
        std::vector<std::string>{"Hello", " world", "!", " It", "'s", " ", "123", "45", " apples", ".\n\n", " ", " Next"});
  CHECK(matches(kLlama3, "a  \t\nb") == std::vector<std::string>{"a", "  \t\n", "b"});
}

TEST_CASE("unsupported regex syntax is an error naming the pattern", "[text]") {
  using qg::test::contains;
  using qg::test::error_of;
  const std::string lookbehind = error_of([] { Regex("(?<=a)b", "tokenizer.json: pre_tokenizer"); });
  CHECK(contains(lookbehind, "lookbehind"));
  CHECK(contains(lookbehind, "(?<=a)b"));
  CHECK(contains(lookbehind, "tokenizer.json: pre_tokenizer"));
  CHECK(contains(error_of([] { Regex("\\p{Han}+"); }), "\\p{Han}"));
  CHECK_THROWS_AS(Regex("(ab"), qg::Error);
  CHECK_THROWS_AS(Regex("[a-"), qg::Error);
  CHECK_THROWS_AS(Regex("*a"), qg::Error);
  CHECK_THROWS_AS(Regex("(a*)*"), qg::Error);  // unbounded repeat of something that can match empty
  CHECK_THROWS_AS(Regex("\\1"), qg::Error);
}
