#include "kernels/ref/rope_ref.h"

#include <cmath>

#include "common/check.h"

namespace qg::cuda::ref {

std::vector<float> apply_rope_ref(std::vector<float> x, std::int64_t rows, std::int64_t heads, std::int64_t d,
                                  const std::vector<std::int32_t>& positions, const std::vector<float>& inv_freq) {
  QG_CHECK(rows >= 0 && heads >= 1 && d >= 2 && d % 2 == 0, "rope ref shape rows={} heads={} d={}", rows, heads, d);
  QG_CHECK(static_cast<std::int64_t>(x.size()) == rows * heads * d, "rope ref x size");
  QG_CHECK(static_cast<std::int64_t>(positions.size()) == rows, "rope ref positions size");
  const std::int64_t half = d / 2;
  QG_CHECK(static_cast<std::int64_t>(inv_freq.size()) == half, "rope ref inv_freq size");
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto p = static_cast<float>(positions[static_cast<std::size_t>(r)]);  // exact: positions < 2^24
    for (std::int64_t j = 0; j < half; ++j) {
      const float angle = p * inv_freq[static_cast<std::size_t>(j)];
      const float c = cosf(angle), s = sinf(angle);
      for (std::int64_t h = 0; h < heads; ++h) {
        float* v = x.data() + (r * heads + h) * d;
        const float a = v[j], b = v[j + half];
        const float a_cos = a * c, b_sin = b * s, b_cos = b * c, a_sin = a * s;
        v[j] = a_cos - b_sin;
        v[j + half] = b_cos + a_sin;
      }
    }
  }
  return x;
}

}  // namespace qg::cuda::ref
