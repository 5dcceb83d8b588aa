// `quantgate card --template CARD.md --checkpoint DIR --results R.json... --out README.md`: fills the model
// card's measured tables from results files about the checkpoint in DIR (issue 10; reports/README.md).
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "report/card_fill.h"
#include "report/results_file.h"

namespace qg::cli {

namespace {
struct CardArgs {
  std::string template_path, checkpoint, out;
  std::vector<std::string> results;
};

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read the card template (no such file?)", {.file = path});
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

CommandRunner register_card(CLI::App& app) {
  auto a = std::make_shared<CardArgs>();
  CLI::App* cmd = app.add_subcommand(
      "card",
      "Fill a model card's Benchmarks, Quality Targets, Memory Requirements and Disk size from results files (kl, "
      "mmlu, bench, inspect) about the checkpoint --checkpoint names; every other byte is kept, a value not "
      "measured stays '—' with a footnote. Results about another checkpoint are refused (exit 2).");
  cmd->add_option("--template", a->template_path, "the model card (markdown) to fill; a filled card refills the same")
      ->required();
  cmd->add_option("--checkpoint", a->checkpoint, "the release's checkpoint directory: every result must be about it")
      ->required();
  cmd->add_option("--results", a->results, "results JSON files (quantgate.results/1)")->required()->expected(1, -1);
  cmd->add_option("--out", a->out, "where to write the filled card (may be the template itself)")->required();
  return [a](const std::vector<std::string>&) {
    const std::string text = read_text(a->template_path);
    std::vector<ResultsFile> results;
    for (const auto& r : a->results) results.push_back(load_results_file(r));
    const card::CardFill filled = card::fill_card(text, card::select_card_sources(a->checkpoint, std::move(results)));
    for (const auto& w : filled.warnings) std::cerr << "warning: " << w << "\n";
    std::ofstream out(a->out, std::ios::binary);
    if (!out || !(out << filled.text) || !out.flush()) throw Error("cannot write the filled card", {.file = a->out});
    std::cout << fmt::format("filled card written to {}\n", a->out);
    return 0;
  };
}

}  // namespace qg::cli
