#pragma once
// The CPU reference's only threading primitive. OpenMP when the build has it, std::thread otherwise.
#include <cstdint>
#include <functional>

namespace qg::cpu {

// Threads to use for a request of `n_threads` (0: every hardware thread).
int resolve_threads(int n_threads);

// Runs fn(i) for every i in [0, n) on up to n_threads threads and returns when all are done; rethrows
// the first exception fn threw. A call made from inside another parallel_for runs inline on the calling
// thread (no nested oversubscription), so library functions may use it freely.
void parallel_for(std::int64_t n, int n_threads, const std::function<void(std::int64_t)>& fn);

}  // namespace qg::cpu
