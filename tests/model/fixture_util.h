#pragma once
// Access to the transformers-made fixtures (scripts/make_fixtures.py) and their expected.json.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "checkpoint/json_file.h"
#include "test_paths.h"

namespace qg::test {

inline std::filesystem::path gemma4_fixture(const std::string& name) { return fixtures_dir() / "gemma4" / name; }
inline nlohmann::json gemma4_expected(const std::string& name) {
  return read_json_file(gemma4_fixture(name) / "expected.json");
}
// Copies a fixture checkpoint (config + weights, no goldens) to `dst` so a test can corrupt it.
inline void copy_fixture(const std::string& name, const std::filesystem::path& dst) {
  for (const auto& e : std::filesystem::directory_iterator(gemma4_fixture(name)))
    if (e.is_regular_file()) std::filesystem::copy_file(e.path(), dst / e.path().filename());
}

}  // namespace qg::test
