#include "forward/cpu/thread_pool.h"

#include <atomic>
#include <exception>

namespace qg::cpu {

namespace {
thread_local bool t_inside_task = false;

struct InsideTask {
  bool previous;
  InsideTask() : previous(t_inside_task) { t_inside_task = true; }
  ~InsideTask() { t_inside_task = previous; }
};
}  // namespace

// One parallel_for. Workers hold it by shared_ptr, so a worker that wakes late sees a finished job (all
// indices claimed) and does nothing, instead of touching the caller's next job.
struct ThreadPool::Job {
  const std::function<void(std::int64_t)>* fn = nullptr;
  std::int64_t n = 0;
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> finished{0};
  std::mutex error_mutex;
  std::exception_ptr error;
};

ThreadPool::ThreadPool(int n_threads) {
  const unsigned hw = std::thread::hardware_concurrency();
  size_ = n_threads > 0 ? n_threads : (hw == 0 ? 1 : static_cast<int>(hw));
  for (int t = 1; t < size_; ++t) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run(Job& job) {
  InsideTask guard;
  for (;;) {
    const std::int64_t i = job.next.fetch_add(1);
    if (i >= job.n) return;
    try {
      (*job.fn)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job.error_mutex);
      if (!job.error) job.error = std::current_exception();
    }
    if (job.finished.fetch_add(1) + 1 == job.n) {
      std::lock_guard<std::mutex> lock(mutex_);  // the caller checks `finished` under this mutex
      done_.notify_all();
    }
  }
}

void ThreadPool::worker_loop() {
  std::shared_ptr<Job> last;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || (job_ && job_ != last); });
      if (stop_) return;
      job = job_;
    }
    last = job;
    run(*job);
  }
}

void ThreadPool::parallel_for(std::int64_t n, const std::function<void(std::int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1 || t_inside_task) {
    InsideTask guard;
    for (std::int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::lock_guard<std::mutex> call(call_mutex_);
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = job;
  }
  wake_.notify_all();
  run(*job);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return job->finished.load() == job->n; });
    job_.reset();
  }
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace qg::cpu
