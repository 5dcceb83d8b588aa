#pragma once
// junit.xml of a `quantgate gate` run, in the common JUnit XML form CI systems read (Jenkins, GitLab, GitHub
// actions' test reporters): <testsuites><testsuite><testcase/>...</testsuite></testsuites>, one testcase per
// target; a missed target is a <failure> with the measured value, a target not measured (a step failed) an
// <error>; each failed step is one more testcase with an <error> carrying the tail of its log.
#include <string>

#include "report/gate_outcome.h"

namespace qg::gate {

std::string gate_junit_xml(const GateOutcome& o);
// XML text with &, <, >, " and ' escaped, and control characters XML 1.0 forbids dropped.
std::string xml_escape(const std::string& s);

}  // namespace qg::gate
