#include "metrics/percentile.h"

#include <algorithm>
#include <cmath>

namespace qg::metrics {

double percentile_sorted(std::span<const double> sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const double pos = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

Summary summarize(std::vector<double> values, std::span<const double> percentiles) {
  Summary s;
  s.count = values.size();
  if (values.empty()) {
    for (double p : percentiles) s.percentiles.emplace_back(p, 0.0);
    return s;
  }
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(ss / static_cast<double>(values.size()));
  if (values.size() > 1) s.stderr_mean = std::sqrt(ss / static_cast<double>(values.size() - 1) / static_cast<double>(values.size()));
  s.min = values.front();
  s.max = values.back();
  s.median = percentile_sorted(values, 50);
  for (double p : percentiles) s.percentiles.emplace_back(p, percentile_sorted(values, p));
  return s;
}

}  // namespace qg::metrics
