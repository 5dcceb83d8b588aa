#pragma once
// `quantgate inspect` output: a human summary and the results JSON (kind "inspect" of quantgate.results/1).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/inspection.h"

namespace qg {

std::string inspect_text(const ModelInspection& inspection);
// provenance: provenance_json(...) of the run.
nlohmann::json inspect_json(const ModelInspection& inspection, const nlohmann::json& provenance);

}  // namespace qg
