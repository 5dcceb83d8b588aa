#pragma once
// The one clock of the load generator: steady_clock in seconds (double). Client events, the scheduler,
// the VRAM sampler and the in-process test server all use it, so their timestamps compare directly.
#include <chrono>

namespace qg::load {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace qg::load
