#include "forward/cuda/phase_profiler.h"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/cuda_check.cuh"

namespace qg::cuda {

PhaseProfiler::~PhaseProfiler() {
  for (cudaEvent_t ev : events_) cudaEventDestroy(ev);
}

void PhaseProfiler::record(const char* name, cudaStream_t stream) {
  if (used_ == events_.size()) {
    cudaEvent_t ev = nullptr;
    QG_CUDA_CHECK(cudaEventCreate(&ev));
    events_.push_back(ev);
    names_.push_back(nullptr);
  }
  QG_CUDA_CHECK(cudaEventRecord(events_[used_], stream));
  names_[used_] = name;
  stream_ = stream;
  ++used_;
}

void PhaseProfiler::flush() {
  if (!enabled_ || used_ == 0) return;
  record("(end)", stream_);
  QG_CUDA_CHECK(cudaEventSynchronize(events_[used_ - 1]));
  for (std::size_t i = 0; i + 1 < used_; ++i) {
    float ms = 0;
    QG_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]));
    Total& t = totals_[names_[i]];
    t.ms += ms;
    ++t.count;
  }
  used_ = 0;
}

std::string PhaseProfiler::report() const {
  std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double sum = 0;
  for (const auto& r : rows) sum += r.second.ms;
  std::string out = "| phase | ms | share | count |\n|---|---|---|---|\n";
  for (const auto& [name, t] : rows)
    out += fmt::format("| {} | {:.1f} | {:.1f} % | {} |\n", name, t.ms, sum > 0 ? 100.0 * t.ms / sum : 0.0, t.count);
  out += fmt::format("| total | {:.1f} | | |\n", sum);
  return out;
}

}  // namespace qg::cuda
