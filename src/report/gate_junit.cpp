#include "report/gate_junit.h"

#include <fmt/format.h>

#include <algorithm>

#include "report/gate_summary.h"

namespace qg::gate {

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n' && c != '\t' && c != '\r') continue;  // not allowed in XML 1.0, even escaped
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string gate_junit_xml(const GateOutcome& o) {
  const std::string suite = "quantgate.gate." + o.recipe_name;
  const auto failed_steps = std::count_if(
      o.steps.begin(), o.steps.end(), [](const StepRecord& s) { return s.status == StepStatus::kFailed; });
  const auto failures = std::count_if(o.targets.begin(), o.targets.end(),
                                      [](const TargetOutcome& t) { return t.value && !t.pass; });
  const auto unmeasured =
      std::count_if(o.targets.begin(), o.targets.end(), [](const TargetOutcome& t) { return !t.value; });
  const auto errors = unmeasured + failed_steps + static_cast<long>(o.errors.size());
  const auto tests = static_cast<long>(o.targets.size()) + failed_steps + static_cast<long>(o.errors.size());
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += fmt::format(
      "<testsuites name=\"quantgate gate\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
      tests, failures, errors, o.seconds);
  x += fmt::format(
      "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3f}\">\n",
      xml_escape(suite), tests, failures, errors, o.seconds);
  x += fmt::format(
      "    <properties>\n      <property name=\"recipe\" value=\"{}\"/>\n      <property name=\"output_dir\" "
      "value=\"{}\"/>\n"
      "      <property name=\"card\" value=\"{}\"/>\n      <property name=\"verdict\" value=\"{}\"/>\n    "
      "</properties>\n",
      xml_escape(o.recipe_path), xml_escape(o.out_dir), xml_escape(o.card_path), xml_escape(gate_verdict(o)));
  for (const auto& t : o.targets) {
    const std::string name = fmt::format("{} {} {}", t.id, t.op, t.display_threshold());
    x += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n", xml_escape(suite),
                     xml_escape(name));
    const std::string ci = t.ci_lo && t.ci_hi ? fmt::format(" ({:.0f}% CI {}..{})", 100 * t.ci_level,
                                                            t.display(*t.ci_lo), t.display(*t.ci_hi))
                                              : "";
    if (!t.value) {
      x += fmt::format("      <error type=\"not measured\" message=\"{}\">{}</error>\n",
                       xml_escape(t.why_unmeasured), xml_escape(t.title + ": " + t.why_unmeasured));
    } else if (!t.pass) {
      const std::string msg = fmt::format("{}: measured {}{}, target {} {}", t.title, t.display(*t.value), ci,
                                          t.op, t.display_threshold());
      x += fmt::format("      <failure type=\"threshold\" message=\"{}\">{}\nresults: {}</failure>\n",
                       xml_escape(msg), xml_escape(msg), xml_escape(t.results_path));
    } else {
      x += fmt::format("      <system-out>{}</system-out>\n",
                       xml_escape(fmt::format("measured {}{}, target {} {}, results {}", t.display(*t.value),
                                              ci, t.op, t.display_threshold(), t.results_path)));
    }
    x += "    </testcase>\n";
  }
  for (const auto& s : o.steps) {
    if (s.status != StepStatus::kFailed) continue;
    x += fmt::format("    <testcase classname=\"{}\" name=\"step {}\" time=\"{:.3f}\">\n", xml_escape(suite),
                     xml_escape(s.name), s.seconds);
    x += fmt::format("      <error type=\"step failed\" message=\"{}\">{}</error>\n", xml_escape(s.detail),
                     xml_escape(s.detail + (s.log_path.empty() ? "" : "\nlog: " + s.log_path) +
                                (s.log_tail.empty() ? "" : "\n" + s.log_tail)));
    x += "    </testcase>\n";
  }
  for (const auto& e : o.errors)
    x += fmt::format(
        "    <testcase classname=\"{}\" name=\"gate\" time=\"0\">\n      <error type=\"error\" "
        "message=\"{}\"/>\n    </testcase>\n",
        xml_escape(suite), xml_escape(e));
  x += "  </testsuite>\n</testsuites>\n";
  return x;
}

}  // namespace qg::gate
