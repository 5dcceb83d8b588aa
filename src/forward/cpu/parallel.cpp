#include "forward/cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace qg::cpu {

namespace {
thread_local bool t_inside_parallel = false;

// Marks the current thread as a worker for the duration of a task.
struct InsideParallel {
  bool previous;
  InsideParallel() : previous(t_inside_parallel) { t_inside_parallel = true; }
  ~InsideParallel() { t_inside_parallel = previous; }
};
}  // namespace

int resolve_threads(int n_threads) {
  if (n_threads > 0) return n_threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

void parallel_for(std::int64_t n, int n_threads, const std::function<void(std::int64_t)>& fn) {
  if (n <= 0) return;
  const int threads = static_cast<int>(std::min<std::int64_t>(resolve_threads(n_threads), n));
  if (threads <= 1 || t_inside_parallel) {
    InsideParallel guard;
    for (std::int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](std::int64_t i) {
    try {
      fn(i);
    } catch (...) {  // an exception must not leave an OpenMP region or a std::thread
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    InsideParallel guard;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) run(i);
  }
#else
  std::atomic<std::int64_t> next{0};
  auto worker = [&] {
    InsideParallel guard;
    for (std::int64_t i = next++; i < n; i = next++) run(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads - 1));
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
#endif
  if (error) std::rethrow_exception(error);
}

}  // namespace qg::cpu
