#pragma once
// What one `quantgate gate` run found: the steps it ran (each a child process with its exit code, results
// file and log) and one verdict per target, judged from the results files (not from the children's exit
// codes, so the verdict is the recipe's threshold even when a step's own gate flag differs). The exit code
// follows: 2 when a step failed or a target could not be measured, else 1 when a target was missed, else 0.
#include <optional>
#include <string>
#include <vector>

#include "report/gate_recipe.h"
#include "report/results_file.h"

namespace qg::gate {

enum class StepStatus { kOk, kGateMissed, kUpToDate, kFailed, kSkipped };
const char* step_status_name(StepStatus s);  // "ok", "own gate missed", "up to date", "FAILED", "skipped"

struct StepRecord {
  std::string name;  // quantize, inspect-reference, inspect-candidate, kl, mmlu, bench, card
  StepStatus status = StepStatus::kSkipped;
  int exit_code = -1;  // the child's; -1 when none ran
  double seconds = 0;
  std::string results_path;  // empty when the step writes none
  std::string log_path;      // the child's stdout + stderr
  std::string detail;        // why skipped / failed, or what was reused
  std::string log_tail;      // the end of the log when the step failed (for the console and junit.xml)
};

struct TargetOutcome {
  std::string id;     // "kl_mean", "mmlu_recovery"
  std::string title;  // "Mean KL vs reference (WikiText-2)" ...
  std::string op;     // "<" or ">="
  double threshold = 0;
  std::optional<double> value, ci_lo, ci_hi;
  double ci_level = 0.95;
  bool pass = false;
  std::string why_unmeasured;  // set when value is empty: an error, not a miss
  std::string results_path;
  std::string display(double v) const;    // a measured value: KL as 0.0123, recovery as 98.74%
  std::string display_threshold() const;  // as the recipe gives it: 0.014, 99%
};

struct GateOutcome {
  std::string recipe_path, recipe_name, out_dir, card_path;  // card_path empty when no card was written
  std::vector<StepRecord> steps;
  std::vector<TargetOutcome> targets;
  std::vector<std::string> errors;  // recipe-level or card errors, beside failed steps
  std::vector<std::string> warnings;
  double seconds = 0;
  int exit_code() const;
};

// The KL target from a kl results file (nullopt file: not measured, `why` says why).
TargetOutcome kl_target(const Targets& t, const std::optional<ResultsFile>& kl,
                        const std::string& why_missing);
// The MMLU recovery target from an mmlu results file run with --ref.
TargetOutcome mmlu_target(const Targets& t, const std::optional<ResultsFile>& mmlu,
                          const std::string& why_missing);

}  // namespace qg::gate
