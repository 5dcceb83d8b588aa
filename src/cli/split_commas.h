#pragma once
// "a,b,,c" -> {"a", "b", "c"}: the comma-separated lists of the CLI (--subjects, --weights); empty items dropped.
#include <algorithm>
#include <string>
#include <vector>

namespace qg::cli {

inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace qg::cli
