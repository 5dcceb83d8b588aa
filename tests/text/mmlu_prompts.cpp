#include "text/mmlu_prompts.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "text/golden_io.h"
#include "text/unicode.h"

namespace qg::test {

std::vector<std::vector<std::string>> read_mmlu_csv(const std::filesystem::path& path) {
  const std::string s = read_bytes(path);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_row = [&] {
    end_field();
    if (row.size() != 6) throw std::runtime_error(path.string() + ": a record without 6 fields");
    rows.push_back(std::move(row));
    row.clear();
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      end_row();
    } else {
      field += c;
      field_started = true;
    }
  }
  if (field_started || !row.empty()) end_row();
  return rows;
}

namespace {

std::string desc(std::string subject) {
  std::replace(subject.begin(), subject.end(), '_', ' ');
  return "The following are multiple choice questions (with answers) about " + subject + ".\n\n";
}

std::string text_of(const std::vector<std::string>& r) {
  return text::python_strip(r[0]) + "\nA. " + r[1] + "\nB. " + r[2] + "\nC. " + r[3] + "\nD. " + r[4] + "\nAnswer:";
}

std::string context(const std::string& subject, const std::vector<std::vector<std::string>>& dev, const std::vector<std::string>& row,
                    std::size_t k) {
  std::string out = desc(subject);
  for (std::size_t i = 0; i < k; ++i) out += text_of(dev[i]) + " " + dev[i][5] + "\n\n";
  return out + text_of(row);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> mmlu_golden_cases(const std::filesystem::path& mmlu_dir) {
  std::vector<std::string> subjects;
  const std::string suffix = "_test.csv";
  for (const auto& e : std::filesystem::directory_iterator(mmlu_dir / "test")) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      subjects.push_back(name.substr(0, name.size() - suffix.size()));
  }
  std::sort(subjects.begin(), subjects.end());  // Python's sorted(): byte order for these ASCII names
  std::vector<std::pair<std::string, std::string>> cases;
  for (const auto& s : subjects) {
    const auto dev = read_mmlu_csv(mmlu_dir / "dev" / (s + "_dev.csv"));
    const auto test = read_mmlu_csv(mmlu_dir / "test" / (s + "_test.csv"));
    for (std::size_t i = 0; i < 3; ++i) cases.emplace_back("mmlu/" + s + "/test" + std::to_string(i) + "/k0", context(s, dev, test[i], 0));
    cases.emplace_back("mmlu/" + s + "/test0/k5", context(s, dev, test[0], 5));
    cases.emplace_back("mmlu/" + s + "/test0/k0+gold", context(s, dev, test[0], 0) + " " + test[0][5]);
  }
  for (const std::string fname : {"golden_prompts.jsonl", "golden_prompts_edge.jsonl"}) {
    std::ifstream in(mmlu_dir / fname, std::ios::binary);
    std::string line;
    for (int n = 0; std::getline(in, line); ++n) {
      const auto r = nlohmann::json::parse(line);
      if (!r.contains("context")) continue;
      const std::string ctx = r["context"].get<std::string>();
      const std::string answer = r["answer"].get<std::string>();
      const std::string gold = r["continuations"][std::string("ABCD").find(answer)].get<std::string>();
      cases.emplace_back(fname + "/" + std::to_string(n) + "/context", ctx);
      cases.emplace_back(fname + "/" + std::to_string(n) + "/context+gold", ctx + gold);
    }
  }
  return cases;
}

}  // namespace qg::test
