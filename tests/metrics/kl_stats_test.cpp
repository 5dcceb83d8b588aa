// Running stats (merge == one pass), the block bootstrap on synthetic data with known answers, and
// summarize_kl's derived figures (PPL, paired PPL ratio, same-top-1, RMS delta p, percentiles).
#include <cmath>
#include <random>
#include <vector>

#include "catch.h"
#if __has_include(<catch2/catch_all.hpp>)
using Catch::Approx;  // Catch2 v3
#endif
#include "common/error.h"
#include "metrics/kl_stats.h"

using namespace qg::metrics;

TEST_CASE("RunningStats: known moments, and merged partials equal one pass", "[kl]") {
  RunningStats all, a, b, c;
  for (int i = 1; i <= 100; ++i) {
    all.add(i);
    (i <= 10 ? a : i <= 60 ? b : c).add(i);
  }
  CHECK(all.count() == 100);
  CHECK(all.mean() == Approx(50.5).epsilon(1e-15));
  CHECK(all.variance() == Approx(841.6666666666666).epsilon(1e-13));  // n(n+1)/12 for 1..n
  CHECK(all.stderr_mean() == Approx(std::sqrt(841.6666666666666 / 100)).epsilon(1e-13));
  RunningStats merged;
  merged.merge(a);
  merged.merge(RunningStats{});
  merged.merge(b);
  merged.merge(c);
  CHECK(merged.count() == 100);
  CHECK(merged.mean() == Approx(all.mean()).epsilon(1e-15));
  CHECK(merged.variance() == Approx(all.variance()).epsilon(1e-13));
  CHECK(merged.min() == 1);
  CHECK(merged.max() == 100);
}

TEST_CASE("block bootstrap: constant data, iid data, blocky data, determinism", "[kl]") {
  const std::vector<double> constant(1000, 0.25);
  const auto k = block_bootstrap_mean_ci(constant, 10, 200, 1);
  CHECK(k.lo == Approx(0.25).epsilon(1e-14));
  CHECK(k.hi == Approx(0.25).epsilon(1e-14));
  CHECK(block_bootstrap_mean_ci({}, 10, 200, 1).lo == 0);

  std::mt19937_64 rng(3);
  std::normal_distribution<double> n(0, 1);
  const std::size_t count = 20000;
  std::vector<double> iid(count), blocky(count);
  for (auto& x : iid) x = n(rng);
  for (std::size_t i = 0; i < count; i += 100) {
    const double v = n(rng);
    for (std::size_t j = 0; j < 100; ++j) blocky[i + j] = v;
  }
  double mean = 0;
  for (double x : iid) mean += x;
  mean /= count;
  // iid: the 95% CI is mean -+ 1.96 / sqrt(n) (to bootstrap noise, ~10% at 2000 resamples)
  const auto ci = block_bootstrap_mean_ci(iid, 1, 2000, 42);
  const double half = 1.96 / std::sqrt(static_cast<double>(count));
  CHECK((ci.hi - ci.lo) / 2 == Approx(half).epsilon(0.1));
  CHECK((ci.lo + ci.hi) / 2 == Approx(mean).margin(0.2 * half));
  const auto again = block_bootstrap_mean_ci(iid, 1, 2000, 42);
  CHECK(again.lo == ci.lo);
  CHECK(again.hi == ci.hi);
  CHECK(block_bootstrap_mean_ci(iid, 1, 2000, 43).lo != ci.lo);
  // blocks of 100 equal values: only 200 independent values, so the honest CI is ~10x wider than iid's;
  // the iid bootstrap (block 1) misses that, the block bootstrap with the block length sees it.
  const auto naive = block_bootstrap_mean_ci(blocky, 1, 1000, 5);
  const auto blocked = block_bootstrap_mean_ci(blocky, 100, 1000, 5);
  const double honest_half = 1.96 / std::sqrt(200.0);
  CHECK((naive.hi - naive.lo) / 2 < 0.2 * honest_half);
  // (moving blocks straddle two true blocks: expected variance 2/3 of the honest one, half-width ~0.82x)
  CHECK((blocked.hi - blocked.lo) / 2 == Approx(std::sqrt(2.0 / 3.0) * honest_half).epsilon(0.2));
}

TEST_CASE("summarize_kl: PPL, paired ratio, top-1, RMS delta p and percentiles on known data", "[kl]") {
  KlAccumulator acc, first, second;
  for (int i = 0; i <= 1000; ++i) {
    TokenKl t;
    t.kl = i / 1000.0;
    t.kl_reverse = 2 * t.kl;
    t.nll_ref = 1.0 + (i % 2) * 0.5;  // mean 1.25 (501 x 1.0, 500 x 1.5)
    t.nll_cand = t.nll_ref + 0.1;     // ratio exactly e^0.1, zero variance
    t.p_ref = 0.5;
    t.p_cand = (i % 2) ? 0.6 : 0.4;   // delta p = +-0.1: RMS 0.1
    t.top1_ref = 1;
    t.top1_cand = (i % 4 == 0) ? 2 : 1;  // 251 of 1001 differ
    acc.add(t);
    (i < 400 ? first : second).add(t);
  }
  const auto s = summarize_kl(acc, {.block_len = 10, .n_resamples = 500, .seed = 9});
  CHECK(s.n_tokens == 1001);
  CHECK(s.kl_mean.value == Approx(0.5).epsilon(1e-14));
  CHECK(s.kl_median == Approx(0.5).epsilon(1e-14));
  CHECK(s.kl_p90 == Approx(0.9).epsilon(1e-14));
  CHECK(s.kl_p999 == Approx(0.999).epsilon(1e-14));
  CHECK(s.kl_max == 1.0);
  CHECK(s.kl_min == 0.0);
  CHECK(s.kl_mean_ci.lo < 0.5);
  CHECK(s.kl_mean_ci.hi > 0.5);
  CHECK(s.kl_reverse_mean.value == Approx(1.0).epsilon(1e-14));
  CHECK(s.same_top1.value == Approx(750.0 / 1001).epsilon(1e-14));
  const double nll = (501 * 1.0 + 500 * 1.5) / 1001;
  CHECK(s.ppl_ref.value == Approx(std::exp(nll)).epsilon(1e-13));
  CHECK(s.ppl_cand.value == Approx(std::exp(nll + 0.1)).epsilon(1e-13));
  CHECK(s.ppl_ratio.value == Approx(std::exp(0.1)).epsilon(1e-13));
  CHECK(s.ppl_ratio.error < 1e-12);  // paired: the shared per-token variance cancels
  CHECK(s.ppl_ref.error > 0.001);
  CHECK(s.rms_delta_p.value == Approx(0.1).epsilon(1e-13));
  std::uint64_t in_hist = 0;
  for (const auto& b : s.kl_histogram) in_hist += b.count;
  CHECK(in_hist == 1001);

  first.merge(second);  // partials merged in order give the same summary
  const auto m = summarize_kl(first, {.block_len = 10, .n_resamples = 500, .seed = 9});
  CHECK(m.kl_mean.value == Approx(s.kl_mean.value).epsilon(1e-14));
  CHECK(m.kl_mean_ci.lo == s.kl_mean_ci.lo);
  CHECK(m.ppl_ratio.value == Approx(s.ppl_ratio.value).epsilon(1e-14));
  CHECK_THROWS_AS(summarize_kl(KlAccumulator{}, {}), qg::Error);
}
