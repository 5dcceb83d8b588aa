#pragma once
// The few markdown structures the card filler edits: lines, "## " sections and pipe tables. Lines keep their
// exact bytes; a table row is re-rendered ("| a | b |") only when the filler changes it.
#include <optional>
#include <string>
#include <vector>

namespace qg::card {

struct Lines {
  std::vector<std::string> lines;  // without '\n'
  bool final_newline = true;
};
Lines split_lines(const std::string& text);
std::string join_lines(const Lines& l);

// The table (consecutive lines starting with '|') that first follows the line "## <title>" before the next
// "## " heading: [first, last] line indices; nullopt when the section or its table is absent.
struct TableSpan {
  std::size_t first = 0, last = 0;
};
std::optional<std::size_t> find_section(const Lines& l, const std::string& title);
std::optional<TableSpan> find_table(const Lines& l, std::size_t from);

std::vector<std::string> split_row(const std::string& line);  // "| a | b |" -> {"a", "b"} (cells trimmed)
std::string render_row(const std::vector<std::string>& cells);  // {"a", "b"} -> "| a | b |"

}  // namespace qg::card
