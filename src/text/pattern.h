#pragma once
// The {"String": s} / {"Regex": r} patterns of tokenizer.json (Split, Replace). `tokenizers` compiles
// both with Oniguruma (a String is escaped first), so both yield leftmost, non-overlapping matches.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/regex.h"

namespace qg::text {

class TextPattern {
 public:
  TextPattern(std::string text, bool is_regex, const std::string& context);
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view s) const;
  const std::string& text() const { return text_; }
  bool is_regex() const { return regex_.has_value(); }

 private:
  std::string text_;
  std::optional<Regex> regex_;  // set for Regex patterns and for the empty String
};

// `tokenizers`' Pattern::find_matches: the matches plus the gaps between them, covering all of `s`, as
// (begin, end, is_match); an empty `s` gives one empty non-match.
struct PatternSpan {
  std::size_t begin, end;
  bool is_match;
};
std::vector<PatternSpan> spans_from_matches(std::size_t length, const std::vector<std::pair<std::size_t, std::size_t>>& matches);

}  // namespace qg::text
