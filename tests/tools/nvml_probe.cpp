// qg_nvml_probe [SECONDS] [PID]: samples VRAM with the bench's NVML sampler for a few seconds and prints the report
// (PID: the process to follow, as `bench --server-pid`; default: the one using the most memory)
// (manual check of the dlopen path on a GPU host: g++ -std=c++20 -Isrc tests/tools/nvml_probe.cpp
// src/load/nvml_sampler.cpp -ldl -pthread).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "load/nvml_sampler.h"

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  std::optional<std::int64_t> pid;
  if (argc > 2) pid = std::atoll(argv[2]);
  qg::load::NvmlSampler s(0.1, pid);
  s.start();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const auto r = s.stop();
  std::printf("measured %d reason '%s' driver '%s'\n", r.measured, r.reason.c_str(), r.driver_version.c_str());
  for (const auto& g : r.gpus)
    std::printf("gpu %u %s %s total %llu baseline %llu peak %llu steady %llu samples %zu pid %lld proc_peak %lld\n",
                g.nvml_index, g.name.c_str(), g.uuid.c_str(), (unsigned long long)g.total_bytes,
                (unsigned long long)g.baseline_used_bytes, (unsigned long long)g.peak_used_bytes,
                (unsigned long long)g.steady_used_bytes, g.n_samples, (long long)g.process_pid,
                (long long)g.process_peak_bytes);
  return r.measured ? 0 : 1;
}
