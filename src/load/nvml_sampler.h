#pragma once
// VRAM sampling through NVML loaded at run time (dlopen("libnvidia-ml.so.1"): no build dependency; see
// docs/serving-protocols.md §6 for the calls and struct layouts). A background thread samples every GPU's
// memory (total − free) and the per-process usage at <= 10 Hz, timestamped with now_seconds().
// Without the library, a driver, or permission, the report says "not measured" and why; never throws.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace qg::load {

struct GpuVram {
  unsigned nvml_index = 0;
  std::string name, uuid;
  std::uint64_t total_bytes = 0;
  std::uint64_t baseline_used_bytes = 0;  // first sample (before the load)
  std::uint64_t peak_used_bytes = 0;
  std::uint64_t steady_used_bytes = 0;    // median of the samples in the second half of the run
  // The serving process: the given pid, else the process using the most memory on this GPU.
  std::int64_t process_pid = -1;
  std::int64_t process_peak_bytes = -1;   // -1: not available (containers without --pid=host, MIG, ...)
  std::size_t n_samples = 0;
};

struct VramReport {
  bool measured = false;
  std::string reason;  // why not measured (or a caveat when measured)
  std::string driver_version;
  double interval_s = 0;
  std::vector<GpuVram> gpus;
};

class NvmlSampler {
 public:
  // server_pid: the serving process's host pid if known (NVML reports host pids).
  explicit NvmlSampler(double interval_s = 0.1, std::optional<std::int64_t> server_pid = std::nullopt,
                       const char* library = "libnvidia-ml.so.1");
  ~NvmlSampler();
  NvmlSampler(const NvmlSampler&) = delete;
  NvmlSampler& operator=(const NvmlSampler&) = delete;

  void start();        // takes the baseline sample and starts the thread (no-op when NVML is unusable)
  VramReport stop();   // stops the thread and summarises

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::load
