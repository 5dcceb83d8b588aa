#pragma once
// Percentiles and summaries of a sample, computed the way numpy does (linear interpolation between
// closest ranks, numpy's default "linear" method), so our figures match `vllm bench serve`'s.
#include <cstddef>
#include <span>
#include <vector>

namespace qg::metrics {

// p in [0, 100]. `sorted` ascending, non-empty.
double percentile_sorted(std::span<const double> sorted, double p);

struct Summary {
  std::size_t count = 0;
  double mean = 0, std = 0;  // std: population (numpy default ddof=0)
  double stderr_mean = 0;    // std / sqrt(n) with ddof=1 (0 when n < 2)
  double min = 0, max = 0, median = 0;
  std::vector<std::pair<double, double>> percentiles;  // (p, value)
};

// Summary of `values` (copied and sorted). Empty input gives count 0 and zeros.
Summary summarize(std::vector<double> values, std::span<const double> percentiles);

}  // namespace qg::metrics
