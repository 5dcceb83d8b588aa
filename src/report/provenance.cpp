#include "report/provenance.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "load/gpu_info.h"
#include "qg_git_sha.h"
#include "qg_version.h"

namespace qg {

std::string quantgate_version_string() { return fmt::format("quantgate {} (git {})", QG_VERSION, QG_GIT_SHA); }

nlohmann::json provenance_json(const ProvenanceInputs& in) {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json j = {{"quantgate_version", QG_VERSION}, {"git_sha", QG_GIT_SHA}, {"host", host}, {"time_utc", when},
                      {"argv", in.argv}, {"flags", in.flags}, {"checkpoints", in.checkpoints},
                      {"datasets", in.datasets}, {"seeds", in.seeds}};
  const load::GpuInfo gpu = load::query_gpu_info();
  if (gpu.available) {
    j["gpu"] = {{"name", gpu.names.front()}, {"names", gpu.names}, {"driver_version", gpu.driver_version},
                {"cuda_version", gpu.cuda_version.empty() ? nlohmann::json() : nlohmann::json(gpu.cuda_version)},
                {"source", "NVML (libnvidia-ml.so.1 loaded at run time); cuda_version = the driver's CUDA version"}};
  } else {
    j["gpu"] = nullptr;
    j["gpu_note"] = gpu.note;
  }
  return j;
}

nlohmann::json provenance_json(const std::vector<std::string>& argv) { return provenance_json(ProvenanceInputs{.argv = argv}); }

}  // namespace qg
