#include "evals/mmlu_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "common/error.h"

namespace qg::evals {

namespace {

std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("cannot open the file (missing?)", {.file = path.string(), .hint = "check --data and --subjects"});
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::size_t MmluData::n_test() const {
  std::size_t n = 0;
  for (const auto& s : subjects) n += s.test.size();
  return n;
}

std::vector<std::vector<std::string>> read_csv_records(const std::filesystem::path& path, std::size_t n_fields) {
  const std::string s = read_file_bytes(path);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false, after_quote = false;
  std::size_t line = 1, record_line = 1;
  auto fail = [&](const std::string& what) {
    throw Error(fmt::format("record {} (line {}): {}", rows.size() + 1, record_line, what), {.file = path.string()});
  };
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = after_quote = false;
  };
  auto end_row = [&] {
    end_field();
    if (row.size() != n_fields) fail(fmt::format("{} fields, expected {}", row.size(), n_fields));
    rows.push_back(std::move(row));
    row.clear();
    record_line = line;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n') ++line;
    if (quoted) {
      if (c == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        field += c;  // LF and CR inside quotes are kept
      }
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
        ++i;
        ++line;
      }
      end_row();
    } else if (after_quote) {
      fail(fmt::format("character '{}' after a closing quote", c));
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else {  // a quote inside an unquoted field is literal, as Python's csv module reads it
      field += c;
      field_started = true;
    }
  }
  if (quoted) fail("unterminated quoted field at the end of the file");
  if (field_started || !row.empty()) end_row();
  return rows;
}

std::vector<MmluRecord> read_mmlu_csv(const std::filesystem::path& path) {
  const auto rows = read_csv_records(path, 6);
  std::vector<MmluRecord> out;
  out.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    MmluRecord rec;
    rec.question = r[0];
    for (int c = 0; c < 4; ++c) rec.choices[c] = r[1 + c];
    if (r[5].size() != 1 || r[5][0] < 'A' || r[5][0] > 'D')
      throw Error(fmt::format("record {}: answer '{}' is not one of A, B, C, D", i + 1, r[5]), {.file = path.string()});
    rec.answer = r[5][0] - 'A';
    rec.index = i;
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<MmluSubjectInfo> read_mmlu_categories(const std::filesystem::path& path) {
  std::istringstream in(read_file_bytes(path));
  std::string line;
  std::vector<MmluSubjectInfo> out;
  static const std::set<std::string> kGroups = {"stem", "humanities", "social_sciences", "other"};
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::size_t start = 0;
    for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) f.push_back(line.substr(start, tab - start));
    f.push_back(line.substr(start));
    if (n == 1) {
      if (f.empty() || f[0] != "subject") throw Error("line 1: expected the header 'subject\\tgroup\\t...'", {.file = path.string()});
      continue;
    }
    if (f.size() < 2) throw Error(fmt::format("line {}: expected subject<TAB>group", n), {.file = path.string()});
    if (!kGroups.count(f[1]))
      throw Error(fmt::format("line {}: group '{}' is not stem, humanities, social_sciences or other", n, f[1]), {.file = path.string()});
    out.push_back({f[0], f[1], f.size() > 2 ? f[2] : "", f.size() > 3 ? f[3] : ""});
  }
  if (out.empty()) throw Error("no subjects", {.file = path.string()});
  return out;
}

MmluData load_mmlu(const std::filesystem::path& dir, const std::vector<std::string>& subjects, std::size_t limit) {
  MmluData data;
  data.dir = dir;
  const auto cats = read_mmlu_categories(dir / "categories.tsv");
  std::vector<MmluSubjectInfo> chosen;
  if (subjects.empty()) {
    chosen = cats;
  } else {
    std::set<std::string> seen;
    for (const auto& name : subjects) {
      auto it = std::find_if(cats.begin(), cats.end(), [&](const MmluSubjectInfo& c) { return c.subject == name; });
      if (it == cats.end())
        throw Error(fmt::format("unknown MMLU subject '{}'", name),
                    {.file = (dir / "categories.tsv").string(), .hint = "subjects are the 57 names in categories.tsv, e.g. abstract_algebra"});
      if (seen.insert(name).second) chosen.push_back(*it);
    }
  }
  for (const auto& info : chosen) {
    MmluSubject s;
    s.info = info;
    s.dev = read_mmlu_csv(dir / "dev" / (info.subject + "_dev.csv"));
    s.test = read_mmlu_csv(dir / "test" / (info.subject + "_test.csv"));
    if (limit > 0 && s.test.size() > limit) s.test.resize(limit);
    data.subjects.push_back(std::move(s));
  }
  return data;
}

}  // namespace qg::evals
