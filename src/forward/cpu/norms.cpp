#include "forward/cpu/norms.h"

#include <cmath>

namespace qg::cpu {

void rms_norm(const float* x, std::int64_t n_rows, std::int64_t width, const float* weight, double eps,
              float* out) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * width;
    float* yr = out + r * width;
    double sum_sq = 0.0;
    for (std::int64_t j = 0; j < width; ++j) sum_sq += static_cast<double>(xr[j]) * xr[j];
    const auto inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(width) + eps));
    if (weight != nullptr) {
      for (std::int64_t j = 0; j < width; ++j) yr[j] = (xr[j] * inv_rms) * weight[j];
    } else {
      for (std::int64_t j = 0; j < width; ++j) yr[j] = xr[j] * inv_rms;
    }
  }
}

}  // namespace qg::cpu
