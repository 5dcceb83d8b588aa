#pragma once
// Provenance attached to every results JSON: which quantgate, where, when, with which command line.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg {

std::string quantgate_version_string();  // "quantgate 0.1.0 (git 1a2b3c4d5e6f)"
nlohmann::json provenance_json(const std::vector<std::string>& argv);

}  // namespace qg
