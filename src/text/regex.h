#pragma once
// A small backtracking regex engine for the patterns in tokenizer.json files (Split pre-tokenizers and
// Replace normalizers/decoders). `tokenizers` compiles those with Oniguruma (Ruby syntax), a
// backtracking engine with leftmost-first alternation; this engine has the same semantics for the
// subset such files use, so matches are the same, not just similar:
//   literals, ., escapes (\s \S \d \D \w \W \h \H \n \r \t \f \v \a \e \xHH \x{H..} \uHHHH),
//   classes [...] with ranges, negation and \p{..}/\P{..} general categories (L, Lu, N, Nd, P, S, Z, ...),
//   groups (...) (?:...) (?i:...) (?-i:...) (?i), lookahead (?=...) (?!...), atomic (?>...),
//   quantifiers * + ? {n} {n,} {n,m} {,m}, lazy (x*?) and possessive (x*+) forms, anchors ^ $ \A \z \Z \b \B.
// Anything else (lookbehind, backreferences, scripts like \p{Han}, nested classes) is rejected with a
// qg::Error that names the pattern, rather than matched differently.
// Case-insensitive matching folds ASCII letters, plus U+017F (long s) and U+212A (Kelvin sign), which
// Unicode folds onto s and k; other letters match case-sensitively.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qg::text {

class Regex {
 public:
  // Throws qg::Error for syntax we do not support; `context` (e.g. "tokenizer.json pre_tokenizer
  // Split") is put in the message.
  explicit Regex(std::string_view pattern, const std::string& context = "regex");

  // The non-overlapping matches in `text` (valid UTF-8) as byte ranges [first, second), in the order and
  // with the empty-match rule of the onig crate's find_iter (an empty match right after the previous
  // match is skipped).
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

  struct ClassItem {
    enum Kind : std::uint8_t { kRange, kCategories, kSpace, kWord, kHex } kind;
    bool negated;
    char32_t lo, hi;          // kRange
    std::uint32_t mask;       // kCategories
  };
  struct CharClass {
    bool negated = false;
    std::vector<ClassItem> items;
    std::uint64_t ascii[2] = {0, 0};  // membership of code points < 128, final (after negation)
    bool matches(char32_t c) const;
    bool matches_slow(char32_t c) const;
  };
  enum class Op : std::uint8_t { kChar, kClass, kAny, kSplit, kJmp, kMatch, kLook, kAtomic, kAssert };
  enum class Anchor : std::uint8_t { kLineBegin, kLineEnd, kTextBegin, kTextEnd, kTextEndNewline, kWordBoundary, kNotWordBoundary };
  struct Inst {
    Op op;
    bool negate = false;       // kLook: negative lookahead
    Anchor anchor = Anchor::kTextBegin;
    char32_t c = 0;            // kChar
    int x = 0, y = 0;          // kSplit: try x then y; kJmp: x; kClass: x = class index; kLook/kAtomic: x = body, y = next
  };

 private:
  struct Thread {
    int pc;
    int pos;
  };
  int run(const std::u32string& text, int pc, int pos, std::vector<Thread>& stack) const;
  bool check_anchor(Anchor a, const std::u32string& text, int pos) const;

  std::string pattern_;
  std::vector<Inst> program_;
  std::vector<CharClass> classes_;
  friend class RegexCompiler;
};

}  // namespace qg::text
