// `quantgate gate RECIPE.json [--out DIR]`: runs a release gate recipe (evals/README.md) — quantize, inspect,
// kl, mmlu, bench as child processes of this binary, then the card, summary.md and junit.xml — and exits
// 0 every target met, 1 a target missed, 2 an error (bad recipe, a step failed, a target not measured).
#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "report/gate_run.h"
#include "report/gate_summary.h"

namespace qg::cli {

namespace {
volatile std::sig_atomic_t g_gate_interrupted = 0;  // CLI only: Ctrl-C skips the remaining steps
extern "C" void on_gate_sigint(int) { g_gate_interrupted = 1; }

struct GateArgs {
  std::string recipe, out;
};

// The running binary, so the steps run the same quantgate whatever PATH holds.
std::filesystem::path self_exe(const std::string& argv0) {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::absolute(argv0) : p;
}

void print_outcome(const gate::GateOutcome& o) {
  std::cout << "\n";
  for (const auto& t : o.targets) {
    const std::string measured = t.value ? t.display(*t.value) : "not measured";
    const std::string ci = t.ci_lo && t.ci_hi ? fmt::format(" ({:.0f}% CI {}–{})", 100 * t.ci_level,
                                                            t.display(*t.ci_lo), t.display(*t.ci_hi))
                                              : "";
    const std::string result = !t.value ? "ERROR: " + t.why_unmeasured : t.pass ? "pass" : "FAIL";
    std::cout << fmt::format("  {:<48} {}{} target {} {}: {}\n", t.title, measured, ci,
                             t.op == ">=" ? "≥" : t.op, t.display_threshold(), result);
  }
  for (const auto& w : o.warnings) std::cerr << "warning: " << w << "\n";
  for (const auto& e : o.errors) std::cerr << "error: " << e << "\n";
  std::cout << fmt::format("\ngate {}: {}\n", o.recipe_name, gate::gate_verdict(o));
  std::cout << fmt::format("summary: {}/summary.md   junit: {}/junit.xml\n", o.out_dir, o.out_dir);
  if (!o.card_path.empty())
    std::cout << fmt::format("filled model card: {}\n", o.card_path);
  else
    std::cout << "no model card was filled\n";
}
}  // namespace

CommandRunner register_gate(CLI::App& app) {
  auto a = std::make_shared<GateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gate",
      "Run a release gate recipe (evals/*.json): quantize if asked, inspect, kl, mmlu, bench, fill the model "
      "card, "
      "write summary.md and junit.xml; exit 0 all targets met, 1 a target missed, 2 an error.");
  cmd->add_option("RECIPE", a->recipe, "recipe JSON (schema quantgate.recipe/1, see evals/README.md)")
      ->required();
  cmd->add_option("--out", a->out, "output directory (default: the recipe's output_dir)");
  return [a](const std::vector<std::string>& argv) {
    gate::Recipe recipe;
    try {
      recipe = gate::load_recipe(a->recipe);
      if (a->out.empty() && recipe.output_dir.empty())
        throw Error("the recipe has no output_dir and --out was not given", {.file = a->recipe});
    } catch (const Error& e) {
      // Bad recipe: exit 2, and with --out the reports say so too (a CI job still finds its junit.xml).
      if (!a->out.empty()) {
        gate::GateOutcome o{.recipe_path = a->recipe,
                            .recipe_name = std::filesystem::path(a->recipe).stem().string(),
                            .out_dir = a->out};
        o.errors.push_back(e.what());
        gate::write_gate_reports(o, a->out);
      }
      throw;
    }
    const std::filesystem::path out =
        a->out.empty() ? std::filesystem::path(recipe.output_dir) : std::filesystem::path(a->out);
    std::cout << fmt::format("gate {}: recipe {}, output {}\n", recipe.name, a->recipe, out.string())
              << std::flush;
    // The running step gets Ctrl-C too (same process group) and reports what it measured; the gate then skips
    // the rest and still writes the summary and JUnit.
    g_gate_interrupted = 0;
    const auto previous = std::signal(SIGINT, on_gate_sigint);
    const gate::GateOutcome o = gate::run_gate(
        recipe, {.self_exe = self_exe(argv.empty() ? "quantgate" : argv[0]),
                 .out_dir = out,
                 .progress = [](const std::string& line) { std::cout << line << "\n"
                                                                     << std::flush; },
                 .stop = [] { return g_gate_interrupted != 0; }});
    std::signal(SIGINT, previous);
    print_outcome(o);
    return o.exit_code();
  };
}

}  // namespace qg::cli
