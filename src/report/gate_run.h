#pragma once
// Runs a recipe: each measuring step is this same binary's subcommand in a child process (quantize, inspect,
// kl, mmlu, bench), each writing its results JSON under the output directory and its stdout + stderr to
// logs/<step>.log, so a failing step (even a crash) loses nothing measured before it. Then fills the card
// (library call), judges the targets from the results files and writes summary.md and junit.xml. Steps that
// do not depend on a failed one still run; the summary and JUnit are written whatever happened after the
// recipe was read.
//
// Output directory:
//   quantize.json  inspect-reference.json  inspect-candidate.json  kl.json  mmlu.json  bench.json
//   logs/<step>.log  summary.md  junit.xml  (+ the candidate and card when the recipe puts them under {out}/)
#include <filesystem>
#include <functional>
#include <string>

#include "report/gate_outcome.h"
#include "report/gate_recipe.h"

namespace qg::gate {

struct GateOptions {
  std::filesystem::path
      self_exe;  // the quantgate binary the steps run (the CLI passes /proc/self/exe resolved)
  std::filesystem::path out_dir;                     // the recipe's output_dir unless overridden by --out
  std::function<void(const std::string&)> progress;  // one line per step event; may be empty
  // Polled before each step: true (Ctrl-C) skips the remaining steps; the reports are still written (exit 2).
  std::function<bool()> stop;
};

// Never throws for a step's failure (it is recorded); throws qg::Error only when the output directory cannot
// be created or summary.md / junit.xml cannot be written.
GateOutcome run_gate(const Recipe& recipe, const GateOptions& options);

// Writes OUT/summary.md and OUT/junit.xml (creating OUT); run_gate calls it, and the CLI for a recipe it
// could not read when --out names where the reports go.
void write_gate_reports(const GateOutcome& outcome, const std::filesystem::path& out_dir);

}  // namespace qg::gate
