#pragma once
// The CPU reference's only threading primitive: a small pool of persistent threads that sleep (never
// spin) between jobs, so a loaded machine (CI running tests in parallel) does not turn every barrier into
// a busy-wait. Owned by a CpuForward; ops receive it by reference.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace qg::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // 0: every hardware thread; 1: everything on the calling thread
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Runs fn(i) for every i in [0, n) on the pool and the calling thread; returns when all are done and
  // rethrows the first exception fn threw. Called from inside a task it runs inline (no nesting); calls
  // from several outside threads take turns.
  void parallel_for(std::int64_t n, const std::function<void(std::int64_t)>& fn);

 private:
  struct Job;
  void worker_loop();
  void run(Job& job);

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one job at a time
  std::mutex mutex_;       // guards job_ and stop_
  std::condition_variable wake_, done_;
  std::shared_ptr<Job> job_;
  bool stop_ = false;
};

}  // namespace qg::cpu
