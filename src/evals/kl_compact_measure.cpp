#include "evals/kl_compact_measure.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "common/error.h"
#include "forward/open_forward.h"
#ifdef QG_HAVE_CUDA
#include "evals/kl_compact_device_comparer.h"
#include "evals/kl_compact_device_writer.h"
#endif

namespace qg {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
bool on_cuda(const Forward& f) { return f.device().rfind("cuda", 0) == 0; }
}  // namespace

void record_token_kls(KlRunOptions& options, std::vector<KlTokenValue>& into) {
  auto previous = std::move(options.on_token);
  options.on_token = [&into, previous](std::int64_t chunk, std::int64_t row, TokenId next, const metrics::TokenKl& t) {
    into.push_back({chunk, row, next, t.kl});
    if (previous) previous(chunk, row, next, t);
  };
}

KlCompactError compare_token_kls(std::span<const KlTokenValue> exact, std::span<const KlTokenValue> compact,
                                 const KlCompactRunStats& stats) {
  if (exact.size() != compact.size())
    throw Error(fmt::format("internal: the exact run scored {} tokens, the run from the compact cache {}", exact.size(),
                            compact.size()));
  KlCompactError e;
  e.n_tokens = exact.size();
  double sum_exact = 0, sum_compact = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    const KlTokenValue &x = exact[i], &c = compact[i];
    if (x.chunk != c.chunk || x.row != c.row || x.next != c.next)
      throw Error(fmt::format("internal: token {} is chunk {} row {} (next id {}) in the exact run but chunk {} row {} "
                              "(next id {}) in the run from the compact cache",
                              i, x.chunk, x.row, x.next, c.chunk, c.row, c.next));
    sum_exact += x.kl;
    sum_compact += c.kl;
    const double err = std::abs(c.kl - x.kl);
    if (err > e.max_abs_token_error || i == 0) {
      e.max_abs_token_error = err;
      e.worst_chunk = x.chunk;
      e.worst_row = x.row;
    }
  }
  if (e.n_tokens > 0) {
    e.exact_mean = sum_exact / static_cast<double>(e.n_tokens);
    e.compact_mean = sum_compact / static_cast<double>(e.n_tokens);
  }
  e.relative_mean_error = e.exact_mean != 0 ? (e.compact_mean - e.exact_mean) / e.exact_mean
                          : e.compact_mean == 0 ? 0.0
                                                : INFINITY;
  e.p_tail_mean = stats.p_tail.mean();
  e.p_tail_max = stats.p_tail.max();
  e.max_error_over_max_p_tail = e.p_tail_max > 0 ? e.max_abs_token_error / e.p_tail_max : 0.0;
  e.bounds_lower_mean = stats.kl_lower.mean();
  e.bounds_upper_mean = stats.kl_upper.mean();
  // The bounds hold token by token for the true KL; the exact run's KL is that up to the order of the double sums
  // (a few ulps of the row's sum of |p log p|), so 1e-12 of slack, as tests/evals/kl_compact_cache_test.cpp.
  e.bounds_contain_exact = e.bounds_lower_mean <= e.exact_mean + 1e-12 && e.bounds_upper_mean >= e.exact_mean - 1e-12;
  // The mean bound is only claimed for light tails (kl_compact_cache.h).
  e.within_printed_bound = e.max_error_over_max_p_tail <= kKlCompactMeasuredTokenError &&
                           (e.p_tail_mean > kKlCompactMeanErrorMaxTail ||
                            std::abs(e.relative_mean_error) <= kKlCompactMeasuredMeanError);
  return e;
}

KlCompactMeasurement measure_kl_compact(Forward& ref, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
                                        const KlCompactMeasureOptions& m) {
  check_kl_pair(ref.config(), cand.config(), "the reference", "the candidate");
  const auto phase = [&](const std::string& line) {
    if (m.on_phase) m.on_phase(line);
  };
  KlCompactMeasurement out;
  out.method = m.method;
  {  // 1. exact: both models, full rows (kl with both models resident)
    KlRunOptions o = options;
    o.should_stop = {};
    record_token_kls(o, out.exact_tokens);
    const auto comparer = open_kl_comparer(ref, cand);  // released before the cache passes (1 GiB on a GPU)
    const auto t0 = std::chrono::steady_clock::now();
    out.exact = run_kl(ref, cand, plan, o, comparer.get());
    out.exact_seconds = seconds_since(t0);
  }
  {  // 2. the reference alone into the compact cache (kl --save-ref-cache FILE without --cand)
    KlCompactCacheWriter writer(m.cache_file, plan, ref.config().n_vocab, m.k, m.identity);
    out.k = writer.k();
    out.written_on_device = on_cuda(ref);
    phase(fmt::format("kl compact: writing the reference's compact cache (K {}, top-K on the {}) to {}", out.k,
                      out.written_on_device ? "GPU" : "host", m.cache_file.string()));
    const auto t0 = std::chrono::steady_clock::now();
#ifdef QG_HAVE_CUDA
    if (out.written_on_device)
      write_kl_compact_cache_device(ref, plan, writer);
    else
#endif
      write_kl_compact_cache(ref, plan, writer);
    out.cache_bytes = writer.finish();
    out.write_seconds = seconds_since(t0);
  }
  {  // 3. the candidate against the cache (kl --ref-cache FILE --cand DIR)
    out.compared_on_device = on_cuda(cand);
    phase(fmt::format("kl compact: comparing the candidate with the cache ({}, on the {})",
                      metrics::kl_tail_method_name(m.method), out.compared_on_device ? "GPU" : "host"));
    const auto t0 = std::chrono::steady_clock::now();
    const KlCompactCache cache(m.cache_file, plan, ref.config().n_vocab,
                               m.identity.value("corpus", nlohmann::json::object()),
                               m.identity.value("tokenizer_sha256", std::string()));
    std::unique_ptr<CompactRowComparer> comparer;
#ifdef QG_HAVE_CUDA
    if (out.compared_on_device) comparer = device_compact_kl_comparer(cache, m.method);
#endif
    if (!comparer) comparer = std::make_unique<CompactKlComparer>(cache, m.method);
    CompactKlReference reference(*comparer);
    KlRunOptions o{.chunk_rows = options.chunk_rows};
    record_token_kls(o, out.compact_tokens);
    run_kl(reference, cand, plan, o, comparer.get());
    out.compare_seconds = seconds_since(t0);
    out.stats = comparer->stats();
  }
  out.error = compare_token_kls(out.exact_tokens, out.compact_tokens, out.stats);
  return out;
}

}  // namespace qg
