#pragma once
// Charts of `quantgate compare`, drawn by gnuplot as SVG beside the markdown: KL distribution per model (the kl
// histogram), TTFT CDF per model (bench), accuracy per MMLU category per model. For each chart a data file
// (<stem>.<chart>.dat) and a gnuplot script (<stem>.<chart>.gp) are written and gnuplot is run on the script.
#include <filesystem>
#include <string>
#include <vector>

#include "report/compare_markdown.h"
#include "report/compare_results.h"

namespace qg::report {

struct ChartSet {
  std::vector<ChartLink> charts;      // rendered SVGs, relative to the markdown's folder
  std::vector<std::string> warnings;  // why charts were skipped (gnuplot not installed)
};

// out_md: the markdown path; charts go beside it. A chart with no data (no kl, bench or mmlu result) is not
// drawn. gnuplot missing: no charts, a warning. gnuplot failing on a script: qg::Error naming the script and
// gnuplot's output.
ChartSet render_charts(const Comparison& c, const std::filesystem::path& out_md, const std::string& gnuplot = "gnuplot");

}  // namespace qg::report
