// `quantgate compare` ([compare]): hand-made results of three models (BF16 reference, W4A16, W8A16) in every
// format the reader accepts (the quantgate.results/1 envelope, through report/results_file.h) -> the golden
// markdown; values checked against the fixture numbers; the charts drawn by gnuplot parse as XML and hold one
// series per model with the expected points; bad input is a qg::Error.
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "catch.h"
#include "common/error.h"
#include "report/compare_charts.h"
#include "report/compare_markdown.h"
#include "report/compare_results.h"
#include "report/run_program.h"
#include "test_paths.h"

namespace {

namespace fs = std::filesystem;
using namespace qg::report;

// The qg::Error message of f(), or "" when it does not throw one (portable across Catch2 v2 and v3).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const qg::Error& e) {
    return e.what();
  }
  return "";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

fs::path fx(const std::string& name) { return qg::test::fixtures_dir() / "compare" / name; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::vector<std::string> kAllFiles = {"kl_w4a16.json",  "kl_w8a16.json",  "mmlu_w4a16.json",   "mmlu_w8a16.json",
                                            "bench_w4a16.json", "bench_bf16.json", "inspect_w4a16.json"};

// The labels the golden was written with: bench_w4a16.json names its model by the served id only, merged into
// the W4A16 row by giving it the same label.
CompareOptions golden_options() {
  CompareOptions o;
  o.labels = {{"/models/gemma-4-E4B-it", "BF16"},
              {"/models/gemma-4-E4B-it-W4A16", "W4A16"},
              {"gemma-w4a16", "W4A16"},
              {"/models/gemma-4-E4B-it-W8A16", "W8A16"}};
  return o;
}

Comparison golden_comparison() {
  std::vector<ResultFile> files;
  for (const auto& f : kAllFiles) files.push_back(load_result_file(fx(f)));
  return build_comparison(files, golden_options());
}

const CompareRow& row(const Comparison& c, const std::string& label) {
  for (const auto& r : c.rows)
    if (r.label == label) return r;
  FAIL("no row " << label);
  throw;
}

// Minimal XML well-formedness check (tags balanced and properly nested, attributes quoted, comments, PIs,
// DOCTYPE and CDATA skipped): enough to tell a complete SVG from a truncated or garbled one.
bool well_formed_xml(const std::string& s, std::string& why) {
  std::vector<std::string> stack;
  std::size_t i = 0, roots = 0;
  while ((i = s.find('<', i)) != std::string::npos) {
    auto skip_to = [&](const char* end) {
      const std::size_t e = s.find(end, i);
      if (e == std::string::npos) return false;
      i = e + std::strlen(end);
      return true;
    };
    if (s.compare(i, 4, "<!--") == 0) { if (!skip_to("-->")) return why = "unclosed comment", false; continue; }
    if (s.compare(i, 9, "<![CDATA[") == 0) { if (!skip_to("]]>")) return why = "unclosed CDATA", false; continue; }
    if (s.compare(i, 2, "<?") == 0) { if (!skip_to("?>")) return why = "unclosed PI", false; continue; }
    if (s.compare(i, 2, "<!") == 0) { if (!skip_to(">")) return why = "unclosed DOCTYPE", false; continue; }
    // a tag: find its end outside quoted attribute values
    std::size_t j = i + 1;
    char quote = 0;
    for (; j < s.size(); ++j) {
      if (quote) { if (s[j] == quote) quote = 0; }
      else if (s[j] == '"' || s[j] == '\'') quote = s[j];
      else if (s[j] == '>') break;
    }
    if (j >= s.size()) return why = "unterminated tag at " + std::to_string(i), false;
    std::string tag = s.substr(i + 1, j - i - 1);
    const bool closing = !tag.empty() && tag[0] == '/';
    const bool self_closing = !tag.empty() && tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \t\r\n/"));
    if (name.empty()) return why = "empty tag name at " + std::to_string(i), false;
    if (closing) {
      if (stack.empty() || stack.back() != name) return why = "mismatched </" + name + ">", false;
      stack.pop_back();
    } else if (!self_closing) {
      if (stack.empty()) ++roots;
      stack.push_back(name);
    } else if (stack.empty()) {
      ++roots;
    }
    i = j + 1;
  }
  if (!stack.empty()) return why = "unclosed <" + stack.back() + ">", false;
  if (roots != 1) return why = "expected one root element, found " + std::to_string(roots), false;
  return true;
}

struct Series {
  std::string title;    // the key's text
  int point_marks = 0;  // point symbols (<use> of #gpPt*) in the series, the key's sample included
};
// gnuplot's SVG terminal puts each plotted series in <g id="gnuplot_plot_N"> ... </g> (nested groups inside),
// with its key text in the first <text>. Error-bar styles draw a white halo (color='#FFFFFF') under each point
// symbol: not counted.
std::vector<Series> svg_series(const std::string& svg) {
  std::vector<Series> out;
  const std::string open_tag = "<g id=\"gnuplot_plot_";
  for (std::size_t begin = svg.find(open_tag); begin != std::string::npos; begin = svg.find(open_tag, begin + 1)) {
    Series s;
    int depth = 0;
    for (std::size_t i = begin; i < svg.size();) {
      const std::size_t lt = svg.find('<', i);
      if (lt == std::string::npos) break;
      const std::size_t gt = svg.find('>', lt);
      const std::string tag = svg.substr(lt, gt - lt + 1);
      if (tag.rfind("<g", 0) == 0 && (tag.size() == 3 || tag[2] == ' ') && tag[tag.size() - 2] != '/') ++depth;
      else if (tag == "</g>" && --depth == 0) break;
      else if (tag.rfind("<use xlink:href='#gpPt", 0) == 0 && tag.find("color='#FFFFFF'") == std::string::npos) ++s.point_marks;
      else if (tag == "<text>" && s.title.empty()) s.title = svg.substr(gt + 1, svg.find("</text>", gt) - gt - 1);
      i = gt + 1;
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("compare: the fixtures give the golden markdown", "[compare]") {
  const Comparison c = golden_comparison();
  const std::string md = comparison_markdown(c, {}, {});
  const std::string golden = slurp(fx("expected.md"));
  REQUIRE(!golden.empty());
  if (md != golden) FAIL_CHECK("markdown differs from tests/fixtures/compare/expected.md:\n" << md);
  CHECK(md == golden);
}

TEST_CASE("compare: rows and values come from the right files", "[compare]") {
  const Comparison c = golden_comparison();
  REQUIRE(c.rows.size() == 3);
  CHECK(c.rows[0].label == "BF16");  // --label order
  CHECK(c.rows[1].label == "W4A16");
  CHECK(c.rows[2].label == "W8A16");
  CHECK(c.concurrency == 1);  // smallest level both bench results have (1 in both, 8 only in the W4A16 one)

  const CompareRow& bf16 = row(c, "BF16");
  CHECK(bf16.kl_reference);
  CHECK(!bf16.kl);
  CHECK(bf16.mmlu_reference);
  CHECK(!bf16.recovery);
  // .safetensors bytes only (config and tokenizer excluded): 4998721536 + 4995632128 + 5933871104
  CHECK(bf16.disk_bytes == 15928224768ull);
  REQUIRE(bf16.mmlu);
  CHECK(bf16.mmlu->acc == 0.6598);  // identical in both mmlu files: accepted once

  const CompareRow& w4 = row(c, "W4A16");
  CHECK(w4.keys == std::vector<std::string>{"/models/gemma-4-E4B-it-W4A16", "gemma-w4a16"});
  CHECK(w4.disk_bytes == 6438338560ull);  // kl's file list and inspect's file_bytes agree
  REQUIRE(w4.kl);
  CHECK(w4.kl->mean == 0.011873);
  CHECK(w4.kl->ci_lo == 0.011452);
  CHECK(w4.kl->p99 == 0.118204);
  CHECK(w4.kl->reference == "BF16");
  CHECK(w4.kl->histogram.size() == 10);
  REQUIRE(w4.recovery);
  CHECK(w4.recovery->recovery == 0.9901);
  CHECK(w4.recovery->ci_hi == 0.9944);
  REQUIRE(w4.bench);
  CHECK(w4.bench->output_tok_s == 61.8);
  CHECK(w4.bench->ttft_p99_ms == 2230.4);
  CHECK(w4.bench->vram_peak == 77123862528ull);
  // from the percentiles: min at 0, p50, p90, p99, p99.9, max at 1
  REQUIRE(w4.bench->cdf_from_percentiles);
  REQUIRE(w4.bench->ttft_cdf.size() == 6);
  CHECK(w4.bench->ttft_cdf.front() == CdfPoint{1702.3, 0.0});
  CHECK(w4.bench->ttft_cdf[4].ms == 2281.0);
  CHECK(w4.bench->ttft_cdf[4].fraction == Approx(0.999).epsilon(1e-15));  // 99.9 / 100: one rounding
  CHECK(w4.bench->ttft_cdf.back() == CdfPoint{2290.9, 1.0});

  const CompareRow& w8 = row(c, "W8A16");  // kl_w8a16.json names it with a trailing slash
  CHECK(w8.keys == std::vector<std::string>{"/models/gemma-4-E4B-it-W8A16"});
  CHECK(w8.disk_bytes == 7904494592ull);
  CHECK(!w8.bench);

  // BF16 was benched with --save-detailed: the CDF is the four successful requests' TTFTs (the failed one, with
  // an error, left out), in ms, at 1/4, 2/4, 3/4, 4/4.
  REQUIRE(bf16.bench);
  CHECK(!bf16.bench->cdf_from_percentiles);
  REQUIRE(bf16.bench->ttft_cdf.size() == 4);
  const double want_ms[] = {2330.5, 2412.1, 2441.0, 2587.3};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(bf16.bench->ttft_cdf[i].ms == Approx(want_ms[i]).epsilon(1e-12));  // seconds * 1000 in double
    CHECK(bf16.bench->ttft_cdf[i].fraction == static_cast<double>(i + 1) / 4);
  }
  CHECK(!bf16.bench->vram_peak);
  CHECK(bf16.bench->vram_reason.find("NVML not available") != std::string::npos);

  const auto j = comparison_json(c);
  REQUIRE(j["rows"].size() == 3);
  CHECK(j["rows"][1]["bench"]["ttft_p50_ms"] == 1890.2);
  CHECK(!j["rows"][2].contains("bench"));
}

TEST_CASE("compare: a bench level can be chosen, and one a file lacks is an error", "[compare]") {
  CompareOptions o = golden_options();
  std::vector<ResultFile> files = {load_result_file(fx("bench_w4a16.json"))};
  o.concurrency = 8;
  const Comparison c = build_comparison(files, o);
  REQUIRE(c.rows.size() == 1);
  CHECK(c.rows[0].bench->output_tok_s == 301.4);
  CHECK(c.rows[0].bench->ttft_p50_ms == 6320.5);
  files.push_back(load_result_file(fx("bench_bf16.json")));
  const std::string e = error_of([&] { build_comparison(files, o); });
  CHECK(has(e, "bench_bf16.json"));
  CHECK(has(e, "max_concurrency 8"));
}

TEST_CASE("compare: charts render with gnuplot, one series per model", "[compare]") {
  // gnuplot is a dependency (scripts/setup.sh installs gnuplot-nox): its absence fails this test, never skips it.
  qg::test::TempDir tmp("compare_charts");
  const auto version = run_program({"gnuplot", "--version"}, tmp / "version.log");
  {
    INFO("gnuplot is not installed: run scripts/setup.sh (Debian package gnuplot-nox)");
    REQUIRE(version.has_value());
    REQUIRE(*version == 0);
  }

  const Comparison c = golden_comparison();
  const ChartSet set = render_charts(c, tmp / "compare.md");
  CHECK(set.warnings.empty());
  REQUIRE(set.charts.size() == 3);
  CHECK(set.charts[0].file == "compare.kl.svg");
  CHECK(set.charts[1].file == "compare.ttft.svg");
  CHECK(set.charts[2].file == "compare.mmlu.svg");

  struct Want {
    std::string title;
    int points;
  };
  // Each series draws its points plus one sample mark in the key.
  const std::map<std::string, std::vector<Want>> want = {
      {"compare.kl.svg", {{"W4A16", 10}, {"W8A16", 10}}},                         // the 10 histogram bins
      {"compare.ttft.svg", {{"BF16", 4}, {"W4A16 (percentiles)", 6}}},            // 4 requests; min, 4 pcts, max
      {"compare.mmlu.svg", {{"BF16", 5}, {"W4A16", 5}, {"W8A16", 5}}}};          // 4 groups + all
  for (const auto& ch : set.charts) {
    INFO(ch.file);
    const std::string svg = slurp(tmp / ch.file);
    std::string why;
    CHECK(well_formed_xml(svg, why));
    INFO(why);
    CHECK(svg.find("<svg") != std::string::npos);
    const auto series = svg_series(svg);
    const auto& w = want.at(ch.file);
    REQUIRE(series.size() == w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      CHECK(series[i].title == w[i].title);
      CHECK(series[i].point_marks == w[i].points + 1);
    }
  }
  // the markdown links them
  const std::string md = comparison_markdown(c, set.charts, set.warnings);
  CHECK(md.find("![KL distribution per token](compare.kl.svg)") != std::string::npos);
  CHECK(md.find("](compare.mmlu.svg)") != std::string::npos);
}

TEST_CASE("compare: without gnuplot the markdown is written and charts are skipped with a warning", "[compare]") {
  qg::test::TempDir tmp("compare_nognuplot");
  const Comparison c = golden_comparison();
  const ChartSet set = render_charts(c, tmp / "compare.md", (tmp / "no-such-gnuplot").string());
  CHECK(set.charts.empty());
  REQUIRE(set.warnings.size() == 1);
  CHECK(set.warnings[0].find("gnuplot-nox") != std::string::npos);
  for (const char* chart : {"kl", "ttft", "mmlu"}) {  // data and scripts are written for a later run by hand
    CHECK(fs::exists(tmp / (std::string("compare.") + chart + ".dat")));
    CHECK(fs::exists(tmp / (std::string("compare.") + chart + ".gp")));
    CHECK(!fs::exists(tmp / (std::string("compare.") + chart + ".svg")));
  }
  const std::string md = comparison_markdown(c, set.charts, set.warnings);
  CHECK(md.find("charts skipped") != std::string::npos);
  CHECK(md.find("| W4A16 |") != std::string::npos);
}

TEST_CASE("compare: bad input is a qg::Error naming the file", "[compare]") {
  qg::test::TempDir tmp("compare_bad");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(tmp / name) << text;
    return tmp / name;
  };
  std::string e = error_of([&] { load_result_file(tmp / "missing.json"); });
  CHECK(has(e, "missing.json"));
  CHECK(has(e, "cannot read"));
  e = error_of([&] { load_result_file(write("trunc.json", "{\"schema\": \"quantgate.res")); });
  CHECK(has(e, "trunc.json"));
  CHECK(has(e, "not valid JSON"));
  e = error_of([&] { load_result_file(write("kind.json", R"({"schema": "quantgate.results/1", "kind": "perplexity"})")); });
  CHECK(has(e, "kind.json"));
  CHECK(has(e, "unknown results kind 'perplexity'"));
  e = error_of([&] { load_result_file(write("schema.json", R"({"schema": "quantgate.kl.v2"})")); });
  CHECK(has(e, "results schema 'quantgate.kl.v2' found, expected 'quantgate.results/1'"));
  // Results of an older schema (the per-command markers before quantgate.results/1) are refused, not guessed at.
  auto old_kl = nlohmann::json::parse(slurp(fx("kl_w4a16.json")));
  old_kl["schema"] = "quantgate.kl.v1";
  old_kl.erase("kind");
  e = error_of([&] { load_result_file(write("old_kl.json", old_kl.dump())); });
  CHECK(has(e, "old_kl.json"));
  CHECK(has(e, "results schema 'quantgate.kl.v1' found"));
  e = error_of([&] { load_result_file(write("other.json", R"({"hello": 1})")); });
  CHECK(has(e, "other.json"));

  // a kl result without its mean: the key is named
  auto kl = nlohmann::json::parse(slurp(fx("kl_w4a16.json")));
  kl["results"].erase("kl_mean");
  const auto no_mean = write("no_mean.json", kl.dump());
  e = error_of([&] { build_comparison({load_result_file(no_mean)}, {}); });
  CHECK(has(e, "no_mean.json"));
  CHECK(has(e, "results.kl_mean.value"));

  // two MMLU runs that disagree on the reference's accuracy (e.g. different --limit): both files named
  auto mmlu = nlohmann::json::parse(slurp(fx("mmlu_w8a16.json")));
  mmlu["reference"]["acc"] = 0.61;
  const auto other_ref = write("mmlu_other_ref.json", mmlu.dump());
  e = error_of([&] { build_comparison({load_result_file(fx("mmlu_w4a16.json")), load_result_file(other_ref)}, {}); });
  CHECK(has(e, "two different mmlu results"));
  CHECK(has(e, "mmlu_w4a16.json"));
  CHECK(has(e, "mmlu_other_ref.json"));

  // the histogram only feeds the chart: a kl result without one still fills the table, and gets no KL series
  kl = nlohmann::json::parse(slurp(fx("kl_w4a16.json")));
  kl["results"].erase("kl_histogram");
  const Comparison no_hist = build_comparison({load_result_file(write("no_hist.json", kl.dump()))}, {});
  REQUIRE(no_hist.rows.size() == 2);
  REQUIRE(no_hist.rows[1].kl);
  CHECK(no_hist.rows[1].kl->mean == 0.011873);
  CHECK(no_hist.rows[1].kl->histogram.empty());
  CHECK(render_charts(no_hist, tmp / "no_hist.md", (tmp / "no-gnuplot").string()).warnings.empty());  // no chart to draw

  REQUIRE_THROWS_AS(parse_label("no-equals-sign"), qg::Error);
  REQUIRE_THROWS_AS(parse_label("=NAME"), qg::Error);
  CHECK(parse_label("/m/a=b=W4") == std::pair<std::string, std::string>{"/m/a=b", "W4"});
}
