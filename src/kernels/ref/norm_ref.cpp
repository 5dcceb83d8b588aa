#include "kernels/ref/norm_ref.h"

#include <cmath>

#include "common/check.h"
#include "common/float_formats.h"

namespace qg::cuda::ref {

namespace {
void check_shape(const std::vector<float>& x, const std::vector<float>& w, std::int64_t rows, std::int64_t width) {
  QG_CHECK(rows >= 0 && width >= 1 && static_cast<std::int64_t>(x.size()) == rows * width, "norm ref shape");
  QG_CHECK(w.empty() || static_cast<std::int64_t>(w.size()) == width, "norm ref weight size");
}
}  // namespace

void rms_norm_rows_ref(const float* x, const float* w, std::int64_t rows, std::int64_t width, float eps, float* out) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    float* yr = out + r * width;
    double sum_sq = 0.0;
    for (std::int64_t j = 0; j < width; ++j) sum_sq += static_cast<double>(xr[j]) * xr[j];
    const auto inv_rms =
        static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(width) + static_cast<double>(eps)));
    for (std::int64_t j = 0; j < width; ++j) {
      const float scaled = xr[j] * inv_rms;
      yr[j] = w != nullptr ? scaled * w[j] : scaled;
    }
  }
}

std::vector<std::uint16_t> rms_norm_to_bf16_ref(const std::vector<float>& x, const std::vector<float>& w,
                                                std::int64_t rows, std::int64_t width, float eps) {
  check_shape(x, w, rows, width);
  std::vector<float> normed(x.size());
  rms_norm_rows_ref(x.data(), w.empty() ? nullptr : w.data(), rows, width, eps, normed.data());
  std::vector<std::uint16_t> y(x.size());
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = f32_to_bf16(normed[i]);
  return y;
}

std::vector<float> rms_norm_in_place_ref(std::vector<float> x, const std::vector<float>& w, std::int64_t rows,
                                         std::int64_t width, float eps) {
  check_shape(x, w, rows, width);
  rms_norm_rows_ref(x.data(), w.empty() ? nullptr : w.data(), rows, width, eps, x.data());
  return x;
}

std::vector<float> add_rms_norm_ref(std::vector<float> x, const std::vector<float>& y, const std::vector<float>& w,
                                    std::int64_t rows, std::int64_t width, float eps) {
  check_shape(y, w, rows, width);
  QG_CHECK(x.size() == y.size(), "add_rms_norm ref: x and y sizes");
  std::vector<float> normed(y.size());
  rms_norm_rows_ref(y.data(), w.empty() ? nullptr : w.data(), rows, width, eps, normed.data());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += normed[i];
  return x;
}

std::vector<float> scale_in_place_ref(std::vector<float> x, float s) {
  for (float& v : x) v *= s;
  return x;
}

}  // namespace qg::cuda::ref
