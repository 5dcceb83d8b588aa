// kernels/ref/rope_ref.h against forward/cpu/rope.cpp: the same fp32 angle, cosf/sinf and separately rounded
// products, so for positions first ... first + n - 1 the results are bit-identical to cpu::apply_rope.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "forward/cpu/rope.h"
#include "kernels/ref/rope_ref.h"

using namespace qg;

TEST_CASE("apply_rope_ref equals cpu::apply_rope for default and proportional RoPE", "[kernels_ref]") {
  const std::int64_t d = GENERATE(256, 512);
  const bool proportional = GENERATE(false, true);
  const std::int64_t first = GENERATE(0, 32000);
  CAPTURE(d, proportional, first);
  RopeParams params;  // Gemma 4: sliding layers default/1e4, full layers proportional/1e6 with factor 0.25
  params.rope_type = proportional ? "proportional" : "default";
  params.rope_theta = proportional ? 1e6 : 1e4;
  params.partial_rotary_factor = proportional ? 0.25 : 1.0;
  const auto inv_freq = cpu::rope_inv_freq(params, d);
  const std::int64_t rows = 7, heads = 3;

  std::mt19937 rng(static_cast<unsigned>(d + first));
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * heads * d));
  for (float& v : x) v = normal(rng);
  std::vector<std::int32_t> positions(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) positions[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(first + r);

  std::vector<float> cpu_x = x;
  cpu::apply_rope(cpu_x.data(), heads, cpu::make_rope_table(inv_freq, first, rows));
  const auto ref = cuda::ref::apply_rope_ref(x, rows, heads, d, positions, inv_freq);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < x.size(); ++i) differ += f32_to_bits(ref[i]) != f32_to_bits(cpu_x[i]);
  CHECK(differ == 0);

  // Proportional RoPE leaves the channels past the rotated quarter unchanged (inv_freq 0).
  if (proportional) {
    std::size_t moved = 0;
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = d / 8; j < d / 2; ++j) {
        const auto i = static_cast<std::size_t>(r * heads * d + j);
        moved += ref[i] != x[i] || ref[i + static_cast<std::size_t>(d / 2)] != x[i + static_cast<std::size_t>(d / 2)];
      }
    CHECK(moved == 0);
  }
}

TEST_CASE("apply_rope_ref rotates a hand-computed pair", "[kernels_ref]") {
  // d = 2, inv_freq 1, position 1: (a, b) -> (a cos 1 - b sin 1, b cos 1 + a sin 1).
  const auto y = cuda::ref::apply_rope_ref({1.0f, 2.0f}, 1, 1, 2, {1}, {1.0f});
  CHECK(y[0] == Approx(std::cos(1.0) - 2.0 * std::sin(1.0)).epsilon(1e-6));  // fp32 cos/sin and products
  CHECK(y[1] == Approx(2.0 * std::cos(1.0) + std::sin(1.0)).epsilon(1e-6));
  // Position 0 is the identity, bit for bit.
  const auto same = cuda::ref::apply_rope_ref({1.5f, -2.25f}, 1, 1, 2, {0}, {0.5f});
  CHECK(same == std::vector<float>{1.5f, -2.25f});
}
