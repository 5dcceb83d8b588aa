#include "metrics/log_prob.h"

#include <algorithm>
#include <cmath>

namespace qg::metrics {

RowLogNorm row_log_norm(std::span<const float> row) {
  double mx = -INFINITY;
  for (float v : row) mx = std::max(mx, static_cast<double>(v));
  double sum = 0;
  for (float v : row) sum += std::exp(static_cast<double>(v) - mx);
  return {mx, std::log(sum)};
}

double log_prob(std::span<const float> row, std::int32_t id) { return log_prob(row, id, row_log_norm(row)); }

}  // namespace qg::metrics
