#pragma once
// `quantgate inspect` output: a human summary and the results JSON (schema quantgate.inspect/1).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/inspection.h"

namespace qg {

inline constexpr const char* kInspectSchema = "quantgate.inspect/1";

std::string inspect_text(const ModelInspection& inspection);
nlohmann::json inspect_json(const ModelInspection& inspection, const std::vector<std::string>& argv);

}  // namespace qg
