#include "forward/cpu/rope.h"

#include <cmath>

#include "common/check.h"

namespace qg::cpu {

std::vector<float> rope_inv_freq(const RopeParams& params, std::int64_t d_head) {
  QG_CHECK(d_head > 0 && d_head % 2 == 0, "RoPE head dim {}", d_head);
  const std::int64_t half = d_head / 2;
  std::int64_t rotated = half;
  if (params.rope_type == "proportional") {
    // Python: int(partial_rotary_factor * head_dim // 2), a floor division of a float.
    rotated = static_cast<std::int64_t>(
        std::floor(params.partial_rotary_factor * static_cast<double>(d_head) / 2.0));
  } else {
    QG_CHECK(params.rope_type == "default", "rope_type {}", params.rope_type);
  }
  const auto theta = static_cast<float>(params.rope_theta);
  std::vector<float> f(static_cast<std::size_t>(half), 0.0f);
  for (std::int64_t j = 0; j < rotated && j < half; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(d_head);
    f[static_cast<std::size_t>(j)] = 1.0f / powf(theta, exponent);
  }
  return f;
}

RopeTable make_rope_table(const std::vector<float>& inv_freq, std::int64_t first_position,
                          std::int64_t n_positions) {
  RopeTable t;
  t.first_position = first_position;
  t.n_positions = n_positions;
  t.half = static_cast<std::int64_t>(inv_freq.size());
  t.cos.resize(static_cast<std::size_t>(n_positions * t.half));
  t.sin.resize(t.cos.size());
  for (std::int64_t r = 0; r < n_positions; ++r) {
    const auto p = static_cast<float>(first_position + r);  // exact: positions < 2^24
    for (std::int64_t j = 0; j < t.half; ++j) {
      const float angle = p * inv_freq[static_cast<std::size_t>(j)];
      t.cos[static_cast<std::size_t>(r * t.half + j)] = cosf(angle);
      t.sin[static_cast<std::size_t>(r * t.half + j)] = sinf(angle);
    }
  }
  return t;
}

void apply_rope(float* x, std::int64_t n_heads, const RopeTable& t) {
  const std::int64_t d_head = 2 * t.half;
  for (std::int64_t r = 0; r < t.n_positions; ++r) {
    const float* c = t.cos.data() + r * t.half;
    const float* s = t.sin.data() + r * t.half;
    for (std::int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (r * n_heads + h) * d_head;
      for (std::int64_t j = 0; j < t.half; ++j) {
        const float a = v[j], b = v[j + t.half];
        // torch: q * cos + rotate_half(q) * sin, each product rounded to fp32 before the sum.
        const float a_cos = a * c[j], b_sin = b * s[j], b_cos = b * c[j], a_sin = a * s[j];
        v[j] = a_cos - b_sin;
        v[j + t.half] = b_cos + a_sin;
      }
    }
  }
}

}  // namespace qg::cpu
