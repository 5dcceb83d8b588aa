// kernels/ref/norm_ref.h against forward/cpu/norms.cpp (the ground truth) and a hand-computed row. The
// reference repeats the CPU's operations in the same order (sequential double sum, double 1/sqrt, two fp32
// products), so with the same eps the results are bit-identical.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "forward/cpu/norms.h"
#include "kernels/ref/norm_ref.h"

using namespace qg;

namespace {
std::vector<float> random_values(std::size_t n, float mean, float sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}
}  // namespace

TEST_CASE("rms_norm refs equal cpu::rms_norm bit for bit", "[kernels_ref]") {
  const std::int64_t width = GENERATE(1, 16, 257, 2560, 10752);
  const bool weighted = GENERATE(true, false);
  CAPTURE(width, weighted);
  const std::int64_t rows = 5;
  const float eps = 1e-6f;
  const auto x = random_values(static_cast<std::size_t>(rows * width), 0.0f, 3.0f, 1);
  const auto y = random_values(x.size(), 0.0f, 0.5f, 2);
  const std::vector<float> w = weighted ? random_values(static_cast<std::size_t>(width), 1.0f, 0.5f, 3) : std::vector<float>{};

  std::vector<float> cpu(x.size());
  // The launchers take eps as fp32; the CPU gets the same value widened, so both add the same double.
  cpu::rms_norm(x.data(), rows, width, weighted ? w.data() : nullptr, static_cast<double>(eps), cpu.data());
  const auto ref = cuda::ref::rms_norm_in_place_ref(x, w, rows, width, eps);
  const auto ref_bf = cuda::ref::rms_norm_to_bf16_ref(x, w, rows, width, eps);
  const auto ref_add = cuda::ref::add_rms_norm_ref(y, x, w, rows, width, eps);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    differ += f32_to_bits(ref[i]) != f32_to_bits(cpu[i]);
    differ += ref_bf[i] != f32_to_bf16(cpu[i]);
    differ += f32_to_bits(ref_add[i]) != f32_to_bits(y[i] + cpu[i]);  // the CPU's `x += y` after the norm
  }
  CHECK(differ == 0);
}

TEST_CASE("rms_norm ref on a hand-computed row", "[kernels_ref]") {
  // x = (3, 4): mean square 12.5, inv_rms = 1 / sqrt(12.5 + 0) = 0.28284271; w = (1, 2).
  const auto y = cuda::ref::rms_norm_in_place_ref({3.0f, 4.0f}, {1.0f, 2.0f}, 1, 2, 0.0f);
  CHECK(y[0] == Approx(0.84852814).epsilon(1e-7));  // a few fp32 ulp: the value is rounded twice
  CHECK(y[1] == Approx(2.26274170).epsilon(1e-7));
  // An all-zero row stays zero (inv_rms = eps^-1/2 times 0), weightless.
  const auto z = cuda::ref::rms_norm_in_place_ref({0.0f, 0.0f, 0.0f}, {}, 1, 3, 1e-6f);
  CHECK(z == std::vector<float>{0.0f, 0.0f, 0.0f});
  CHECK(cuda::ref::scale_in_place_ref({2.0f, -3.0f}, 0.5f) == std::vector<float>{1.0f, -1.5f});
}
