#include "text/pattern.h"

namespace qg::text {

TextPattern::TextPattern(std::string text, bool is_regex, const std::string& context) : text_(std::move(text)) {
  if (is_regex || text_.empty()) regex_.emplace(text_, context);
}

std::vector<std::pair<std::size_t, std::size_t>> TextPattern::find_all(std::string_view s) const {
  if (regex_) return regex_->find_all(s);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t pos = s.find(text_); pos != std::string_view::npos; pos = s.find(text_, pos + text_.size()))
    out.emplace_back(pos, pos + text_.size());
  return out;
}

std::vector<PatternSpan> spans_from_matches(std::size_t length, const std::vector<std::pair<std::size_t, std::size_t>>& matches) {
  if (length == 0) return {{0, 0, false}};
  std::vector<PatternSpan> out;
  out.reserve(matches.size() * 2 + 1);
  std::size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
  }
  if (prev != length) out.push_back({prev, length, false});
  return out;
}

}  // namespace qg::text
