#include "evals/kl_overlap.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "common/error.h"

namespace qg {

namespace {

// Which chunks' reference rows are kept and which are compared, handed between the two threads. Chunk i uses
// comparer i % 2, so the reference may start chunk i once chunk i - 2 is compared.
class Handoff {
 public:
  // Reference thread: false when the run is over (stopped, or the candidate failed).
  bool wait_until_free(std::size_t ci) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return stopping_ || ci < compared_ + 2; });
    return !stopping_;
  }
  void kept(std::size_t ci) {
    {
      const std::lock_guard lock(m_);
      kept_ = ci + 1;
    }
    cv_.notify_all();
  }
  void failed(std::exception_ptr error) {
    {
      const std::lock_guard lock(m_);
      error_ = std::move(error);
    }
    cv_.notify_all();
  }
  // Candidate thread: rethrows the reference thread's error.
  void wait_until_kept(std::size_t ci) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return error_ != nullptr || kept_ > ci; });
    if (kept_ <= ci) std::rethrow_exception(error_);
  }
  void compared(std::size_t ci) {
    {
      const std::lock_guard lock(m_);
      compared_ = ci + 1;
    }
    cv_.notify_all();
  }
  void stop() {
    {
      const std::lock_guard lock(m_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::size_t kept_ = 0, compared_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace

KlRun run_kl_overlapped(Forward& ref, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
                        KlRowComparer& even, KlRowComparer& odd) {
  check_kl_pair(ref.config(), cand.config(), "model", "model");
  if (even.logits_on_device() != odd.logits_on_device())
    throw Error("run_kl_overlapped: the two comparers must take logits from the same place");
  LiveKlReference live(ref, plan,
                       ScoreOptions{.chunk_rows = options.chunk_rows,
                                    .first_logit_row = plan.first_scored_row,
                                    .logits_on_device = even.logits_on_device()});
  auto comparer = [&](std::size_t ci) -> KlRowComparer& { return ci % 2 == 0 ? even : odd; };
  const std::size_t n = plan.chunks.size();
  Handoff handoff;
  std::thread reference([&] {
    try {
      for (std::size_t ci = 0; ci < n; ++ci) {
        if (!handoff.wait_until_free(ci)) return;
        KlRowComparer& c = comparer(ci);
        c.begin_chunk(plan.scored_per_chunk, ref.config().n_vocab);
        live.fill(ci, plan.chunks[ci], c);
        c.wait_reference_kept();
        handoff.kept(ci);
      }
    } catch (...) {
      handoff.failed(std::current_exception());
    }
  });
  KlRun run;
  run.progress.n_chunks = static_cast<std::int64_t>(n);
  try {
    for (std::size_t ci = 0; ci < n; ++ci) {
      if (options.should_stop && options.should_stop()) {
        run.partial = true;
        break;
      }
      handoff.wait_until_kept(ci);
      compare_kl_chunk(cand, plan, options, comparer(ci), ci, run);
      handoff.compared(ci);
    }
  } catch (...) {
    handoff.stop();
    reference.join();
    throw;
  }
  handoff.stop();
  reference.join();
  return run;
}

}  // namespace qg
