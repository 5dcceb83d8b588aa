#pragma once
// summary.md of a `quantgate gate` run: the verdict, each target with its threshold, measured value, CI and
// pass/fail, each step with its status, time, results file and log, and where the filled card is.
#include <string>

#include "report/gate_outcome.h"

namespace qg::gate {

std::string gate_summary_markdown(const GateOutcome& o);
// "PASS", "FAIL (a target missed)", "ERROR (...)": the one-line verdict of exit_code().
std::string gate_verdict(const GateOutcome& o);

}  // namespace qg::gate
