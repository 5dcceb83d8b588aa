#pragma once
// Which dataset files a result was computed from: each file's size and sha256, and one sha256 over the list
// (the sha256 of the "sha256  name\n" lines, as `sha256sum` prints them, in the given order), so two results
// on the same data carry the same dataset hash.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg {

// {"dir", "files": [{"name", "bytes", "sha256"}], "sha256"}; names relative to dir. Throws qg::Error naming a
// file that cannot be read.
nlohmann::json dataset_identity_json(const std::filesystem::path& dir, const std::vector<std::string>& relative_paths);

}  // namespace qg
