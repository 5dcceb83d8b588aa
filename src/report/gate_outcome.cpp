#include "report/gate_outcome.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"

namespace qg::gate {

const char* step_status_name(StepStatus s) {
  switch (s) {
    case StepStatus::kOk:
      return "ok";
    case StepStatus::kGateMissed:
      return "ok (its own gate missed)";
    case StepStatus::kUpToDate:
      return "up to date";
    case StepStatus::kFailed:
      return "FAILED";
    case StepStatus::kSkipped:
      return "skipped";
  }
  return "?";
}

std::string TargetOutcome::display(double v) const {
  if (id == "mmlu_recovery") return fmt::format("{:.2f}%", 100 * v);
  return v == 0 || v >= 0.001 ? fmt::format("{:.4f}", v)
                              : fmt::format("{:.3g}", v);  // 4 decimals would print 0.0000
}

std::string TargetOutcome::display_threshold() const {
  return id == "mmlu_recovery" ? fmt::format("{:g}%", 100 * threshold) : fmt::format("{:g}", threshold);
}

int GateOutcome::exit_code() const {
  const bool step_failed = std::any_of(steps.begin(), steps.end(),
                                       [](const StepRecord& s) { return s.status == StepStatus::kFailed; });
  const bool unmeasured =
      std::any_of(targets.begin(), targets.end(), [](const TargetOutcome& t) { return !t.value; });
  if (step_failed || unmeasured || !errors.empty()) return 2;
  return std::all_of(targets.begin(), targets.end(), [](const TargetOutcome& t) { return t.pass; }) ? 0 : 1;
}

namespace {
// A number the results schema requires; a file without it is a corrupt results file (qg::Error, exit 2).
double required_number(const nlohmann::json& j, const ResultsFile& f, const std::string& key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number())
    throw Error(fmt::format("{} results file has no number '{}'", f.kind, key), {.file = f.path});
  return j[key].get<double>();
}
}  // namespace

TargetOutcome kl_target(const Targets& t, const std::optional<ResultsFile>& kl,
                        const std::string& why_missing) {
  TargetOutcome o{
      .id = "kl_mean", .title = "Mean KL(reference ‖ candidate)", .op = "<", .threshold = t.kl_mean_max};
  if (!kl) {
    o.why_unmeasured = why_missing;
    return o;
  }
  o.results_path = kl->path;
  if (kl->json.value("partial", false)) {
    o.why_unmeasured = "the kl result is partial (interrupted run)";
    return o;
  }
  const auto& r = kl->json["results"];
  o.value = required_number(r["kl_mean"], *kl, "value");
  const auto& ci = r["kl_mean_ci"];
  o.ci_lo = required_number(ci, *kl, "lo");
  o.ci_hi = required_number(ci, *kl, "hi");
  o.ci_level = ci.value("confidence", 0.95);
  o.pass = *o.value < t.kl_mean_max;
  return o;
}

TargetOutcome mmlu_target(const Targets& t, const std::optional<ResultsFile>& mmlu,
                          const std::string& why_missing) {
  TargetOutcome o{.id = "mmlu_recovery",
                  .title = "MMLU recovery (candidate acc / reference acc)",
                  .op = ">=",
                  .threshold = t.mmlu_recovery_min};
  if (!mmlu) {
    o.why_unmeasured = why_missing;
    return o;
  }
  o.results_path = mmlu->path;
  if (mmlu->json.value("partial", false)) {
    o.why_unmeasured = "the mmlu result is partial (interrupted run)";
    return o;
  }
  if (!mmlu->json.contains("recovery") || !mmlu->json["recovery"].is_object()) {
    o.why_unmeasured = "the mmlu result has no recovery (run without --ref)";
    return o;
  }
  const auto& r = mmlu->json["recovery"];
  if (!r["recovery"].is_number()) {  // reference accuracy 0: recovery undefined (null in the file)
    o.why_unmeasured = "MMLU recovery is undefined (the reference answered no question right)";
    return o;
  }
  o.value = r["recovery"].get<double>();
  o.ci_lo = required_number(r, *mmlu, "ci_low");
  o.ci_hi = required_number(r, *mmlu, "ci_high");
  o.ci_level = r.value("ci_level", 0.95);
  o.pass = *o.value >= t.mmlu_recovery_min;
  return o;
}

}  // namespace qg::gate
