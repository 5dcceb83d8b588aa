// kernels/ref/elementwise_ref.h against forward/cpu: gelu_tanh (mlp.cpp) and the softcap of lm_head
// (embedding.cpp) are evaluated there in double and rounded once, here in fp32 step by step (as the kernels
// do); the tests bound that difference. bf16 rounding and the scatter are checked on hand-picked values.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "forward/cpu/eigen.h"
#include "forward/cpu/mlp.h"
#include "kernels/ref/elementwise_ref.h"

using namespace qg;

namespace {
// fp32 step by step vs double: sqrt(2/pi) (z + 0.044715 z^3) carries <= 6 roundings (<= 6 * 2^-24
// relative), which tanh turns into <= 0.45 * 6 * 2^-24 absolute (|u| sech^2 u <= 0.45); tanhf adds
// <= 2 ulp <= 2^-23, 1 + t and 0.5 z (1 + t) one rounding each: |fp32 - double| <= |z| * 5 * 2^-24 for every z
// (absolute, because 1 + t cancels for z << 0). 2^-21 = 8 * 2^-24 leaves a margin.
float gelu_tolerance(float z) { return std::fabs(z) / static_cast<float>(1 << 21); }

float bf16_ulp(float v) {
  int e = 0;
  std::frexp(std::fabs(v) > 1e-38f ? v : 1e-38f, &e);
  return std::ldexp(1.0f, e - 8);
}
}  // namespace

TEST_CASE("gelu_tanh_f32_ref stays within its bound of cpu::gelu_tanh", "[kernels_ref]") {
  std::vector<float> zs;
  for (int k = -2400; k <= 2400; ++k) zs.push_back(static_cast<float>(k) / 200.0f);  // [-12, 12], step 0.005
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int k = 0; k < 20000; ++k) zs.push_back(normal(rng));
  for (const float z : {1e-20f, -1e-20f, 1e-3f, 50.0f, -50.0f, 0.0f}) zs.push_back(z);
  std::size_t bad = 0;
  for (const float z : zs) bad += !(std::fabs(cuda::ref::gelu_tanh_f32_ref(z) - cpu::gelu_tanh(z)) <= gelu_tolerance(z));
  CHECK(bad == 0);
  CHECK(cuda::ref::gelu_tanh_f32_ref(0.0f) == 0.0f);
  CHECK(cuda::ref::gelu_tanh_f32_ref(1.0f) == Approx(0.8411920).epsilon(1e-6));  // torch gelu(1, 'tanh')
  CHECK(cuda::ref::gelu_tanh_f32_ref(50.0f) == 50.0f);                          // tanh saturates to 1
}

TEST_CASE("gelu_tanh_mul_to_bf16_ref reads strided gate/up like cpu::gelu_tanh_mul", "[kernels_ref]") {
  // MoE layout: one [rows, 2 I] buffer, gate = first half, up = second half.
  const std::int64_t rows = 3, width = 37, stride = 2 * width;
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> gate_up(static_cast<std::size_t>(rows * stride));
  for (float& v : gate_up) v = normal(rng);
  const std::vector<float> up_view(gate_up.begin() + width, gate_up.end());
  const auto got = cuda::ref::gelu_tanh_mul_to_bf16_ref(gate_up, stride, up_view, stride, rows, width);

  const cpu::ConstMatrixMap all(gate_up.data(), rows, stride);
  cpu::Matrix gate = all.leftCols(width);
  const cpu::Matrix up = all.rightCols(width);
  cpu::gelu_tanh_mul(gate, up);
  std::size_t bad = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < width; ++j) {
      const float want = bf16_to_f32(f32_to_bf16(gate(r, j)));
      const float g = bf16_to_f32(got[static_cast<std::size_t>(r * width + j)]);
      // the fp32 gelu bound above, times |up|, and one bf16 ulp for a rounding that lands the other way
      const float tol = bf16_ulp(std::fmax(std::fabs(g), std::fabs(want))) + gelu_tolerance(all(r, j) * up(r, j));
      bad += !(std::fabs(g - want) <= tol);
    }
  CHECK(bad == 0);
}

TEST_CASE("softcap_in_place_ref stays within its bound of lm_head's double softcap", "[kernels_ref]") {
  const float cap = 30.0f;
  std::vector<float> x;
  for (int k = -3000; k <= 3000; ++k) x.push_back(static_cast<float>(k) * 0.05f);
  x.push_back(1e30f);
  x.push_back(-1e30f);
  const auto got = cuda::ref::softcap_in_place_ref(x, cap);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto want = static_cast<float>(cap * std::tanh(static_cast<double>(x[i]) / cap));  // embedding.cpp
    // x / c rounds once (<= 2^-24 relative, times sech^2 <= 1), tanhf <= 2 ulp <= 2^-23, the product once:
    // <= 4 * 2^-24 * cap = cap * 2^-22.
    bad += !(std::fabs(got[i] - want) <= cap / static_cast<float>(1 << 22));
  }
  CHECK(bad == 0);
  CHECK(got.back() == -cap);
}

TEST_CASE("f32_to_bf16_ref and scatter_rows_to_bf16_ref on hand-picked values", "[kernels_ref]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto y = cuda::ref::f32_to_bf16_ref({1.0f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -2.5f, nan});
  CHECK(y[0] == 0x3f80);
  CHECK(y[1] == 0x3f80);  // tie -> even
  CHECK(y[2] == 0x3f82);  // tie -> even (up)
  CHECK(y[3] == 0xc020);
  CHECK(std::isnan(bf16_to_f32(y[4])));

  // rows 0, 1, 2 -> slots 2, dropped, 0 of a 3-slot cache of width 2.
  const auto dst = cuda::ref::scatter_rows_to_bf16_ref({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, 3, 2, {2, -1, 0},
                                                      std::vector<std::uint16_t>(6, 0xffff));
  CHECK(dst == std::vector<std::uint16_t>{0x40a0, 0x40c0, 0xffff, 0xffff, 0x3f80, 0x4000});
}
