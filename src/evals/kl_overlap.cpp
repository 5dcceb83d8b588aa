#include "evals/kl_overlap.h"

#include <condition_variable>
#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>

#include "common/error.h"

namespace qg {

namespace {

// Which groups' reference rows are kept and which are compared, handed between the two threads. Group i uses
// comparer i % 2, so the reference may start group i once group i - 2 is compared.
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
                        KlRowComparer& even, KlRowComparer& odd, std::size_t chunks_per_call) {
  check_kl_pair(ref.config(), cand.config(), "model", "model");
  if (even.logits_on_device() != odd.logits_on_device())
    throw Error("run_kl_overlapped: the two comparers must take logits from the same place");
  if (chunks_per_call < 1) throw Error("run_kl_overlapped: chunks_per_call must be >= 1");
  const ScoreOptions ref_options{.chunk_rows = options.chunk_rows,
                                 .first_logit_row = plan.first_scored_row,
                                 .logits_on_device = even.logits_on_device()};
  // Group i: chunks [i * G, min(n, (i + 1) * G)), its reference rows in comparer i % 2.
  const std::size_t n = plan.chunks.size(), groups = (n + chunks_per_call - 1) / chunks_per_call;
  auto first_of = [&](std::size_t gi) { return gi * chunks_per_call; };
  auto count_of = [&](std::size_t gi) { return std::min(chunks_per_call, n - first_of(gi)); };
  auto comparer = [&](std::size_t gi) -> KlRowComparer& { return gi % 2 == 0 ? even : odd; };
  Handoff handoff;
  std::thread reference([&] {
    try {
      for (std::size_t gi = 0; gi < groups; ++gi) {
        if (!handoff.wait_until_free(gi)) return;
        KlRowComparer& c = comparer(gi);
        c.begin_chunk(static_cast<std::int64_t>(count_of(gi)) * plan.scored_per_chunk, ref.config().n_vocab);
        keep_reference_rows(ref, plan, first_of(gi), count_of(gi), c, ref_options);
        c.wait_reference_kept();
        handoff.kept(gi);
      }
    } catch (...) {
      handoff.failed(std::current_exception());
    }
  });
  KlRun run;
  run.progress.n_chunks = static_cast<std::int64_t>(n);
  try {
    for (std::size_t gi = 0; gi < groups; ++gi) {
      if (options.should_stop && options.should_stop()) {
        run.partial = true;
        break;
      }
      handoff.wait_until_kept(gi);
      compare_kl_chunks(cand, plan, options, comparer(gi), first_of(gi), count_of(gi), run);
      handoff.compared(gi);
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
