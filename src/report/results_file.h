#pragma once
// The results file every command writes (reports/schema/results.md): one envelope,
//   {"schema": "quantgate.results/1", "kind": "kl"|"mmlu"|"bench"|"inspect"|"quantize", "provenance": {...}, ...}
// with the kind's own keys beside it. Loading validates the envelope and the keys each kind must have, so a
// file of another schema or version, or a JSON that is not a results file, is a clear qg::Error.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg {

inline constexpr const char* kResultsSchema = "quantgate.results/1";

// The kinds this version knows, in the order of the docs.
const std::vector<std::string>& results_kinds();

// {"schema": kResultsSchema, "kind": kind, "provenance": provenance}; throws qg::Error for an unknown kind.
nlohmann::json results_envelope(const std::string& kind, nlohmann::json provenance);

struct ResultsFile {
  std::string path;
  std::string kind;
  nlohmann::json json;  // the whole file
};

// Validates a parsed results JSON; `path` names it in errors.
ResultsFile parse_results(nlohmann::json j, const std::string& path);
// Reads and validates a results file.
ResultsFile load_results_file(const std::filesystem::path& path);

}  // namespace qg
