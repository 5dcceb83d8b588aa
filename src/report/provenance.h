#pragma once
// Provenance attached to every results JSON (reports/schema/results.md): which quantgate, where, when, with
// which command line and flags, on which GPU, from which checkpoints and datasets, with which seeds.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg {

std::string quantgate_version_string();  // "quantgate 0.1.0 (git 1a2b3c4d5e6f)"

struct ProvenanceInputs {
  std::vector<std::string> argv;
  nlohmann::json flags = nlohmann::json::object();        // every flag of the command: name -> value
  nlohmann::json checkpoints = nlohmann::json::object();  // role ("reference", "candidate", ...) -> checkpoint_identity_json
  nlohmann::json datasets = nlohmann::json::object();     // role ("corpus", "mmlu", ...) -> {path, bytes, sha256, ...}
  nlohmann::json seeds = nlohmann::json::object();        // name -> seed
};

// {"quantgate_version", "git_sha", "host", "time_utc", "argv", "flags", "gpu" ({"name", "names", "driver_version",
// "cuda_version", "source"} or null), "gpu_note" (only when gpu is null: why), "checkpoints", "datasets", "seeds"}.
// The GPU is read through NVML at run time (load/gpu_info.h).
nlohmann::json provenance_json(const ProvenanceInputs& in);
// The same with only the command line (for outputs that are not results files: score, tokenize).
nlohmann::json provenance_json(const std::vector<std::string>& argv);

}  // namespace qg
