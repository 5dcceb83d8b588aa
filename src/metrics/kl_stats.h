#pragma once
// Running statistics of per-token KL results (double, mergeable) and the summary `quantgate kl` reports:
// mean KL with iid standard error and a seeded block-bootstrap CI, KL percentiles and histogram, same-top-1
// rate, PPL of both models with a paired (covariance-aware) PPL ratio, RMS delta p.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "metrics/kl.h"

namespace qg::metrics {

// Count, mean, M2 (Welford), min, max; merge() is Chan et al.'s parallel update, so per-thread or per-chunk
// partials combine exactly like one pass (up to rounding).
class RunningStats {
 public:
  void add(double x);
  void merge(const RunningStats& other);
  std::uint64_t count() const { return n_; }
  double mean() const { return mean_; }
  double variance() const;  // sample variance (n-1); 0 when n < 2
  double stderr_mean() const;  // sqrt(variance / n); 0 when n < 2
  double min() const { return min_; }
  double max() const { return max_; }

 private:
  std::uint64_t n_ = 0;
  double mean_ = 0, m2_ = 0, min_ = 0, max_ = 0;
};

// Every scored token's results, in corpus order (the per-token KL values are kept for percentiles and the
// bootstrap: 8 bytes a token, 2.4 MB for WikiText-2 test).
class KlAccumulator {
 public:
  void add(const TokenKl& t);
  void merge(const KlAccumulator& other);  // appends `other`'s tokens after ours
  std::uint64_t count() const { return kl_.count(); }

  const RunningStats& kl() const { return kl_; }
  const RunningStats& kl_reverse() const { return kl_reverse_; }
  const RunningStats& nll_ref() const { return nll_ref_; }
  const RunningStats& nll_cand() const { return nll_cand_; }
  const RunningStats& nll_diff() const { return nll_diff_; }  // nll_cand - nll_ref, per token
  const RunningStats& delta_p() const { return delta_p_; }
  const RunningStats& delta_p_sq() const { return delta_p_sq_; }
  std::uint64_t same_top1() const { return same_top1_; }
  std::span<const double> kl_values() const { return kl_values_; }

 private:
  RunningStats kl_, kl_reverse_, nll_ref_, nll_cand_, nll_diff_, delta_p_, delta_p_sq_;
  std::uint64_t same_top1_ = 0;
  std::vector<double> kl_values_;
};

struct Interval {
  double lo = 0, hi = 0;
};

// Moving-block bootstrap percentile CI of the mean of `values` (in order; neighbours may be correlated):
// each resample concatenates ceil(n / block_len) blocks of block_len consecutive values with starts drawn
// uniformly from [0, n - block_len] (std::mt19937_64 seeded with `seed`), truncated to n. block_len 1 is
// the iid bootstrap. Deterministic for a given seed. Empty input gives {0, 0}.
Interval block_bootstrap_mean_ci(std::span<const double> values, std::size_t block_len, int n_resamples,
                                 std::uint64_t seed, double confidence = 0.95);

struct KlSummaryOptions {
  std::size_t block_len = 256;  // the driver passes the tokens scored per chunk
  int n_resamples = 1000;
  std::uint64_t seed = 1234;
  double confidence = 0.95;
};

struct HistogramBin {
  double lo = 0, hi = 0;  // [lo, hi); the first bin is (-inf, 0) (rounding), the last [10, inf)
  std::uint64_t count = 0;
};

struct ValueError {
  double value = 0, error = 0;  // error: one standard error
};

struct KlSummary {
  std::uint64_t n_tokens = 0;
  ValueError kl_mean;                // iid standard error
  Interval kl_mean_ci;               // block bootstrap
  double ci_confidence = 0.95;
  std::size_t ci_block_len = 0;
  int ci_resamples = 0;
  std::uint64_t ci_seed = 0;
  double kl_median = 0, kl_p90 = 0, kl_p95 = 0, kl_p99 = 0, kl_p999 = 0, kl_min = 0, kl_max = 0;
  std::vector<HistogramBin> kl_histogram;
  ValueError kl_reverse_mean;
  ValueError same_top1;              // fraction in [0, 1], binomial standard error
  ValueError ppl_ref, ppl_cand;      // exp(mean NLL), error by the delta method
  ValueError ln_ppl_ratio;           // mean(nll_cand - nll_ref): paired, so covariance-aware
  ValueError ppl_ratio;              // exp(ln_ppl_ratio)
  ValueError rms_delta_p;            // sqrt(mean dp^2), error 0.5 * se(dp^2) / rms
  ValueError mean_delta_p;
};

// Throws qg::Error when no token was scored.
KlSummary summarize_kl(const KlAccumulator& acc, const KlSummaryOptions& options);

}  // namespace qg::metrics
