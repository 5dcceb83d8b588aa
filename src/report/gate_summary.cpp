#include "report/gate_summary.h"

#include <fmt/format.h>

namespace qg::gate {

namespace {
std::string threshold_text(const TargetOutcome& t) {
  return fmt::format("{} {}", t.op == ">=" ? "≥" : t.op, t.display_threshold());
}
// Markdown table cells must not contain '|' or newlines.
std::string cell(std::string s) {
  for (auto& c : s)
    if (c == '|' || c == '\n') c = c == '|' ? '/' : ' ';
  return s;
}
}  // namespace

std::string gate_verdict(const GateOutcome& o) {
  switch (o.exit_code()) {
    case 0:
      return "PASS";
    case 1:
      return "FAIL (a target was missed)";
    default:
      return "ERROR (a step failed or a target could not be measured)";
  }
}

std::string gate_summary_markdown(const GateOutcome& o) {
  std::string md = fmt::format("# quantgate gate: {}\n\n", o.recipe_name);
  md += fmt::format("**{}** (exit code {}). Recipe `{}`, output `{}`, {:.0f} s.\n\n", gate_verdict(o),
                    o.exit_code(), o.recipe_path, o.out_dir, o.seconds);
  md += o.card_path.empty() ? "No model card was written.\n\n"
                            : fmt::format("Filled model card: `{}`\n\n", o.card_path);
  md +=
      "## Targets\n\n| target | threshold | measured | CI | result | results file "
      "|\n|---|---|---|---|---|---|\n";
  for (const auto& t : o.targets) {
    const std::string measured = t.value ? t.display(*t.value) : "—";
    const std::string ci = t.ci_lo && t.ci_hi ? fmt::format("{:.0f}% CI {}–{}", 100 * t.ci_level,
                                                            t.display(*t.ci_lo), t.display(*t.ci_hi))
                                              : "—";
    const std::string result = !t.value ? "ERROR: " + t.why_unmeasured : t.pass ? "pass" : "FAIL";
    md += fmt::format("| {} | {} | {} | {} | {} | {} |\n", t.title, threshold_text(t), measured, ci,
                      cell(result), t.results_path.empty() ? "—" : "`" + t.results_path + "`");
  }
  md +=
      "\nA target passes on its point estimate; the CI says how sure that is (a CI that straddles the "
      "threshold "
      "means more data could change the verdict).\n\n";
  md +=
      "## Steps\n\n| step | status | exit | seconds | results | log | note "
      "|\n|---|---|---|---|---|---|---|\n";
  for (const auto& s : o.steps)
    md += fmt::format("| {} | {} | {} | {:.1f} | {} | {} | {} |\n", s.name, step_status_name(s.status),
                      s.exit_code < 0 ? "—" : std::to_string(s.exit_code), s.seconds,
                      s.results_path.empty() ? "—" : "`" + s.results_path + "`",
                      s.log_path.empty() ? "—" : "`" + s.log_path + "`", cell(s.detail));
  if (!o.errors.empty()) {
    md += "\n## Errors\n\n";
    for (const auto& e : o.errors) md += "- " + e + "\n";
  }
  if (!o.warnings.empty()) {
    md += "\n## Warnings\n\n";
    for (const auto& w : o.warnings) md += "- " + w + "\n";
  }
  md += "\nThe junit.xml beside this file holds the same verdicts for CI.\n";
  return md;
}

}  // namespace qg::gate
