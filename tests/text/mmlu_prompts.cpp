#include "text/mmlu_prompts.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "evals/mmlu_data.h"
#include "text/golden_io.h"
#include "text/unicode.h"

namespace qg::test {

std::vector<std::vector<std::string>> read_mmlu_csv(const std::filesystem::path& path) {
  return evals::read_csv_records(path, 6);  // the library's RFC 4180 reader (tested in tests/evals)
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
