#include "metrics/kl_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "common/error.h"
#include "metrics/percentile.h"

namespace qg::metrics {

void RunningStats::add(double x) {
  if (n_ == 0) {
    min_ = max_ = x;
  } else {
    min_ = std::min(min_, x);
    max_ = std::max(max_, x);
  }
  ++n_;
  const double d = x - mean_;
  mean_ += d / static_cast<double>(n_);
  m2_ += d * (x - mean_);
}

void RunningStats::merge(const RunningStats& o) {
  if (o.n_ == 0) return;
  if (n_ == 0) {
    *this = o;
    return;
  }
  const double na = static_cast<double>(n_), nb = static_cast<double>(o.n_), n = na + nb;
  const double d = o.mean_ - mean_;
  mean_ += d * nb / n;
  m2_ += o.m2_ + d * d * na * nb / n;
  n_ += o.n_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

double RunningStats::variance() const { return n_ < 2 ? 0.0 : m2_ / static_cast<double>(n_ - 1); }
double RunningStats::stderr_mean() const {
  return n_ < 2 ? 0.0 : std::sqrt(variance() / static_cast<double>(n_));
}

void KlAccumulator::add(const TokenKl& t) {
  kl_.add(t.kl);
  kl_reverse_.add(t.kl_reverse);
  nll_ref_.add(t.nll_ref);
  nll_cand_.add(t.nll_cand);
  nll_diff_.add(t.nll_cand - t.nll_ref);
  delta_p_.add(t.delta_p());
  delta_p_sq_.add(t.delta_p() * t.delta_p());
  same_top1_ += t.same_top1() ? 1 : 0;
  kl_values_.push_back(t.kl);
}

void KlAccumulator::merge(const KlAccumulator& o) {
  kl_.merge(o.kl_);
  kl_reverse_.merge(o.kl_reverse_);
  nll_ref_.merge(o.nll_ref_);
  nll_cand_.merge(o.nll_cand_);
  nll_diff_.merge(o.nll_diff_);
  delta_p_.merge(o.delta_p_);
  delta_p_sq_.merge(o.delta_p_sq_);
  same_top1_ += o.same_top1_;
  kl_values_.insert(kl_values_.end(), o.kl_values_.begin(), o.kl_values_.end());
}

Interval block_bootstrap_mean_ci(std::span<const double> values, std::size_t block_len, int n_resamples,
                                 std::uint64_t seed, double confidence) {
  const std::size_t n = values.size();
  if (n == 0 || n_resamples <= 0) return {};
  block_len = std::clamp<std::size_t>(block_len, 1, n);
  // prefix[i] = sum of values[0, i): a block sum is O(1)
  std::vector<double> prefix(n + 1, 0.0);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + values[i];
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> start(0, n - block_len);
  std::vector<double> means(static_cast<std::size_t>(n_resamples));
  for (auto& m : means) {
    double sum = 0;
    std::size_t left = n;
    while (left > 0) {
      const std::size_t s = start(rng), len = std::min(block_len, left);
      sum += prefix[s + len] - prefix[s];
      left -= len;
    }
    m = sum / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  const double tail = (1.0 - confidence) / 2.0 * 100.0;
  return {percentile_sorted(means, tail), percentile_sorted(means, 100.0 - tail)};
}

KlSummary summarize_kl(const KlAccumulator& acc, const KlSummaryOptions& options) {
  if (acc.count() == 0) throw Error("no token was scored: nothing to summarize");
  KlSummary s;
  const double n = static_cast<double>(acc.count());
  s.n_tokens = acc.count();
  s.kl_mean = {acc.kl().mean(), acc.kl().stderr_mean()};
  s.ci_confidence = options.confidence;
  s.ci_block_len = std::clamp<std::size_t>(options.block_len, 1, acc.kl_values().size());
  s.ci_resamples = options.n_resamples;
  s.ci_seed = options.seed;
  s.kl_mean_ci = block_bootstrap_mean_ci(acc.kl_values(), s.ci_block_len, options.n_resamples, options.seed,
                                         options.confidence);

  std::vector<double> sorted(acc.kl_values().begin(), acc.kl_values().end());
  std::sort(sorted.begin(), sorted.end());
  s.kl_median = percentile_sorted(sorted, 50);
  s.kl_p90 = percentile_sorted(sorted, 90);
  s.kl_p95 = percentile_sorted(sorted, 95);
  s.kl_p99 = percentile_sorted(sorted, 99);
  s.kl_p999 = percentile_sorted(sorted, 99.9);
  s.kl_min = sorted.front();
  s.kl_max = sorted.back();
  // (-inf,0), [0,1e-6), [1e-6,1e-5), ..., [1,10), [10,inf)
  const double inf = std::numeric_limits<double>::infinity();
  s.kl_histogram.push_back({-inf, 0.0, 0});
  s.kl_histogram.push_back({0.0, 1e-6, 0});
  for (int e = -6; e < 1; ++e) s.kl_histogram.push_back({std::pow(10.0, e), std::pow(10.0, e + 1), 0});
  s.kl_histogram.push_back({10.0, inf, 0});
  for (double v : sorted)
    for (auto& b : s.kl_histogram)
      if (v >= b.lo && v < b.hi) {
        ++b.count;
        break;
      }

  s.kl_reverse_mean = {acc.kl_reverse().mean(), acc.kl_reverse().stderr_mean()};
  const double top1 = static_cast<double>(acc.same_top1()) / n;
  s.same_top1 = {top1, n > 1 ? std::sqrt(top1 * (1 - top1) / (n - 1)) : 0.0};
  s.ppl_ref = {std::exp(acc.nll_ref().mean()), std::exp(acc.nll_ref().mean()) * acc.nll_ref().stderr_mean()};
  s.ppl_cand = {std::exp(acc.nll_cand().mean()),
                std::exp(acc.nll_cand().mean()) * acc.nll_cand().stderr_mean()};
  s.ln_ppl_ratio = {acc.nll_diff().mean(), acc.nll_diff().stderr_mean()};
  const double ratio = std::exp(acc.nll_diff().mean());
  s.ppl_ratio = {ratio, ratio * acc.nll_diff().stderr_mean()};
  const double rms = std::sqrt(acc.delta_p_sq().mean());
  s.rms_delta_p = {rms, rms > 0 ? 0.5 * acc.delta_p_sq().stderr_mean() / rms : 0.0};
  s.mean_delta_p = {acc.delta_p().mean(), acc.delta_p().stderr_mean()};
  return s;
}

}  // namespace qg::metrics
