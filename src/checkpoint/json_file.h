#pragma once
// Reading a JSON file (config.json, index files) with errors that name the file and the position.
#include <filesystem>
#include <nlohmann/json.hpp>

namespace qg {

nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace qg
