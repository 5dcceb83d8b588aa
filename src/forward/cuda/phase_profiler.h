#pragma once
// Where the engine's GPU time goes (bench-engine --profile, issue 11): CUDA events recorded on the engine's
// stream at phase boundaries; the time between one mark and the next belongs to the first mark's phase. Flushed
// (synchronized and summed) once per step, so enabling it costs one event per phase and one sync per step;
// disabled, mark() and flush() return at once.
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qg::cuda {

class PhaseProfiler {
 public:
  PhaseProfiler() = default;
  PhaseProfiler(const PhaseProfiler&) = delete;
  PhaseProfiler& operator=(const PhaseProfiler&) = delete;
  ~PhaseProfiler();

  void enable(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }
  // The phase `name` (a string literal) starts now on `stream`.
  void mark(const char* name, cudaStream_t stream) {
    if (enabled_) record(name, stream);
  }
  // Ends the open phase, waits for the events and adds the durations to the totals.
  void flush();
  // Phases by total time: name, ms, share, count.
  std::string report() const;

 private:
  void record(const char* name, cudaStream_t stream);
  bool enabled_ = false;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> events_;  // pool, reused after each flush
  std::vector<const char*> names_;
  std::size_t used_ = 0;
  struct Total {
    double ms = 0;
    std::int64_t count = 0;
  };
  std::map<std::string, Total> totals_;
};

}  // namespace qg::cuda
