#include "report/card_markdown.h"

namespace qg::card {

namespace {
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}
}  // namespace

Lines split_lines(const std::string& text) {
  Lines l;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    if (nl == std::string::npos) {
      l.lines.push_back(text.substr(start));
      l.final_newline = false;
      return l;
    }
    l.lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return l;
}

std::string join_lines(const Lines& l) {
  std::string out;
  for (std::size_t i = 0; i < l.lines.size(); ++i) {
    out += l.lines[i];
    if (i + 1 < l.lines.size() || l.final_newline) out += '\n';
  }
  return out;
}

std::optional<std::size_t> find_section(const Lines& l, const std::string& title) {
  for (std::size_t i = 0; i < l.lines.size(); ++i)
    if (trim(l.lines[i]) == "## " + title) return i;
  return std::nullopt;
}

std::optional<TableSpan> find_table(const Lines& l, std::size_t from) {
  for (std::size_t i = from + 1; i < l.lines.size(); ++i) {
    if (l.lines[i].rfind("## ", 0) == 0) return std::nullopt;
    if (l.lines[i].rfind("|", 0) == 0) {
      TableSpan t{i, i};
      while (t.last + 1 < l.lines.size() && l.lines[t.last + 1].rfind("|", 0) == 0) ++t.last;
      return t;
    }
  }
  return std::nullopt;
}

std::vector<std::string> split_row(const std::string& line) {
  std::vector<std::string> cells;
  std::string s = trim(line);
  if (!s.empty() && s.front() == '|') s.erase(0, 1);
  if (!s.empty() && s.back() == '|') s.pop_back();
  std::size_t start = 0;
  while (true) {
    const auto bar = s.find('|', start);
    cells.push_back(trim(s.substr(start, bar == std::string::npos ? std::string::npos : bar - start)));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return cells;
}

std::string render_row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const auto& c : cells) out += " " + c + " |";
  return out;
}

}  // namespace qg::card
