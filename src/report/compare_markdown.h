#pragma once
// `quantgate compare` output: the markdown table (one row per model, "—" where not measured), its notes and
// sources, links to the charts; and the same numbers as JSON.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/compare_results.h"

namespace qg::report {

struct ChartLink {
  std::string title;
  std::string file;  // relative to the markdown file
};

std::string comparison_markdown(const Comparison& c, const std::vector<ChartLink>& charts,
                                const std::vector<std::string>& chart_warnings);
nlohmann::json comparison_json(const Comparison& c);

}  // namespace qg::report
