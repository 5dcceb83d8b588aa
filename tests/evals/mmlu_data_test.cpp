// [mmlu] the CSV loader on the real data (../shared/datasets/mmlu) and its errors on bad input.
#include <fstream>
#include <map>
#include <sstream>

#include "catch.h"
#include "common/error.h"
#include "evals/mmlu_data.h"
#include "test_paths.h"

using namespace qg;
using namespace qg::evals;

namespace {
std::filesystem::path mmlu_dir() { return qg::test::shared_datasets_dir() / "mmlu"; }

void write(const std::filesystem::path& p, const std::string& s) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const qg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool has(const std::string& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    if (s.find(p) == std::string::npos) {
      UNSCOPED_INFO("message: " << s);
      return false;
    }
  return true;
}
}  // namespace

TEST_CASE("MMLU loader: counts of every split equal COUNTS.tsv", "[mmlu]") {
  const auto data = load_mmlu(mmlu_dir());
  REQUIRE(data.subjects.size() == 57);
  std::map<std::string, std::array<std::size_t, 3>> counts;  // dev, val, test
  std::ifstream in(mmlu_dir() / "COUNTS.tsv");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string s;
    std::size_t d, v, t;
    if (ls >> s >> d >> v >> t) counts[s] = {d, v, t};
  }
  std::size_t dev = 0, val = 0, test = 0;
  std::map<std::string, std::pair<std::size_t, std::size_t>> groups;
  for (const auto& s : data.subjects) {
    INFO(s.info.subject);
    REQUIRE(counts.count(s.info.subject));
    CHECK(s.dev.size() == counts[s.info.subject][0]);
    CHECK(s.test.size() == counts[s.info.subject][2]);
    const auto v = read_mmlu_csv(mmlu_dir() / "val" / (s.info.subject + "_val.csv"));
    CHECK(v.size() == counts[s.info.subject][1]);
    dev += s.dev.size();
    val += v.size();
    test += s.test.size();
    groups[s.info.group].first += 1;
    groups[s.info.group].second += s.test.size();
  }
  CHECK(dev == 285);
  CHECK(val == 1531);
  CHECK(test == 14042);
  CHECK(data.n_test() == 14042);
  // lm-eval's groups (mmlu-lm-eval.md section 6); anatomy is stem there.
  CHECK(groups["stem"] == std::pair<std::size_t, std::size_t>{19, 3153});
  CHECK(groups["humanities"] == std::pair<std::size_t, std::size_t>{13, 4705});
  CHECK(groups["social_sciences"] == std::pair<std::size_t, std::size_t>{12, 3077});
  CHECK(groups["other"] == std::pair<std::size_t, std::size_t>{13, 3107});
  CHECK(data.subjects[1].info.subject == "anatomy");
  CHECK(data.subjects[1].info.group == "stem");
}

TEST_CASE("MMLU loader: quoted fields keep LF and CR; --subjects and --limit", "[mmlu]") {
  const auto data = load_mmlu(mmlu_dir(), {"college_mathematics", "high_school_computer_science", "sociology"}, 70);
  REQUIRE(data.subjects.size() == 3);
  CHECK(data.subjects[0].dev[2].question.find("\r\n") != std::string::npos);  // CR kept
  CHECK(data.subjects[0].test[9].choices[3] == " Both (a) and (b).");          // leading space kept
  bool newline_choice = false;
  for (const auto& c : data.subjects[1].test[28].choices) newline_choice |= c.find('\n') != std::string::npos;
  CHECK(newline_choice);
  CHECK(data.subjects[1].test.size() == 70);
  CHECK(data.subjects[2].test[69].question.size() >= 2);
  CHECK(data.subjects[2].test[69].question.substr(data.subjects[2].test[69].question.size() - 2) == "\xC2\x85");  // U+0085 kept
  CHECK(data.subjects[2].test[69].index == 69);
}

TEST_CASE("MMLU loader: errors name the file, record or subject", "[mmlu]") {
  qg::test::TempDir tmp("mmlu_bad");
  write(tmp / "categories.tsv", "subject\tgroup\tsubcategory\thendrycks_category\nalpha\tstem\tmath\tstem\nbeta\tother\tx\ty\n");
  write(tmp / "dev/alpha_dev.csv", "q,a,b,c,d,A\n");
  write(tmp / "test/alpha_test.csv", "\"multi\nline\",a,b,c,d,B\nq2,a,b,c,d,C\r\n");
  const auto ok = load_mmlu(tmp.path(), {"alpha"});
  REQUIRE(ok.subjects[0].test.size() == 2);
  CHECK(ok.subjects[0].test[0].question == "multi\nline");
  CHECK(ok.subjects[0].test[1].answer == 2);

  CHECK(has(error_of([&] { load_mmlu(tmp.path(), {"beta"}); }), {"beta_dev.csv"}));
  CHECK(has(error_of([&] { load_mmlu(tmp.path(), {"gamma"}); }), {"unknown MMLU subject 'gamma'"}));
  CHECK(has(error_of([&] { load_mmlu(tmp.path()); }), {"beta_dev.csv"}));

  write(tmp / "test/alpha_test.csv", "q1,a,b,c,d,A\nq2,a,b,c,B\n");
  CHECK(has(error_of([&] { load_mmlu(tmp.path(), {"alpha"}); }), {"alpha_test.csv", "record 2", "5 fields, expected 6"}));
  write(tmp / "test/alpha_test.csv", "q1,a,b,c,d,E\n");
  CHECK(has(error_of([&] { load_mmlu(tmp.path(), {"alpha"}); }), {"answer 'E'"}));
  write(tmp / "test/alpha_test.csv", "\"q1,a,b,c,d,A\n");
  CHECK(has(error_of([&] { load_mmlu(tmp.path(), {"alpha"}); }), {"unterminated quoted field"}));
  write(tmp / "test/alpha_test.csv", "\"q1\"x,a,b,c,d,A\n");
  CHECK(has(error_of([&] { load_mmlu(tmp.path(), {"alpha"}); }), {"after a closing quote"}));
  write(tmp / "categories.tsv", "subject\tgroup\nalpha\tmath\n");
  CHECK(has(error_of([&] { load_mmlu(tmp.path()); }), {"categories.tsv", "group 'math'"}));
}
