// `quantgate compare R.json... [--out compare.md] [--json OUT] [--label KEY=NAME ...]`: one row per model from
// kl, mmlu, bench and inspect results, with charts beside the markdown.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "report/compare_charts.h"
#include "report/compare_markdown.h"
#include "report/compare_results.h"

namespace qg::cli {

namespace {
struct CompareArgs {
  std::vector<std::string> results;
  std::string out, json_out, gnuplot = "gnuplot";
  std::vector<std::string> labels;
  std::int64_t concurrency = -1;
  bool no_charts = false;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw Error("cannot write output", {.file = path});
}
}  // namespace

CommandRunner register_compare(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "One row per model (disk size, KL, MMLU, recovery, tok/s, TTFT, VRAM) from kl, mmlu, bench and inspect results "
      "JSON, as markdown with SVG charts (gnuplot) beside it.");
  cmd->add_option("RESULTS", a->results, "results JSON files (kl, mmlu, bench, inspect)")->required();
  cmd->add_option("--out", a->out, "write the markdown here (charts go beside it); default: print it");
  cmd->add_option("--json", a->json_out, "write the comparison as JSON here ('-' for stdout)");
  cmd->add_option("--label", a->labels, "KEY=NAME: name the row of a checkpoint path or served model id (repeatable; "
                                        "rows follow the order of the labels; one NAME for several KEYs merges them)");
  cmd->add_option("--concurrency", a->concurrency, "bench level to show (default: the smallest every bench result has)");
  cmd->add_option("--gnuplot", a->gnuplot, "gnuplot program to run (default: gnuplot from PATH)");
  cmd->add_flag("--no-charts", a->no_charts, "write the markdown only");
  return [a](const std::vector<std::string>&) {
    report::CompareOptions opt;
    for (const auto& l : a->labels) opt.labels.push_back(report::parse_label(l));
    if (a->concurrency >= 0) opt.concurrency = a->concurrency;
    std::vector<report::ResultFile> files;
    for (const auto& r : a->results) files.push_back(report::load_result_file(r));
    const report::Comparison c = report::build_comparison(files, opt);
    report::ChartSet charts;
    if (!a->out.empty() && !a->no_charts) charts = report::render_charts(c, a->out, a->gnuplot);
    for (const auto& w : charts.warnings) std::cerr << "warning: charts skipped: " << w << "\n";
    const std::string md = report::comparison_markdown(c, charts.charts, charts.warnings);
    if (a->json_out == "-") std::cout << report::comparison_json(c).dump(2) << "\n";
    else if (!a->json_out.empty()) write_text(a->json_out, report::comparison_json(c).dump(2) + "\n");
    if (a->out.empty()) {
      if (a->json_out != "-") std::cout << md;
    } else {
      write_text(a->out, md);
      std::cout << fmt::format("wrote {} ({} models, {} charts)\n", a->out, c.rows.size(), charts.charts.size());
    }
    return 0;
  };
}

}  // namespace qg::cli
