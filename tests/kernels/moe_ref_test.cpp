// The MoE host references (kernels/ref/moe_ref.h) against forward/cpu/moe.cpp route() and hand-computed
// values. CPU only (runs in CI).
#include <cmath>
#include <random>
#include <vector>

#include "catch.h"
#include "forward/cpu/linear.h"
#include "forward/cpu/moe.h"
#include "forward/cpu/thread_pool.h"
#include "kernels/ref/moe_ref.h"

using namespace qg;

namespace {
std::vector<float> random_floats(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
}  // namespace

TEST_CASE("moe ref: router_input_ref + linear + router_top_k_ref equal route() exactly", "[kernels_ref]") {
  struct Case {
    std::int64_t rows, width;
    int n_experts, k;
  };
  const Case c = GENERATE(Case{1, 7, 4, 1}, Case{5, 64, 8, 2}, Case{13, 130, 16, 16}, Case{9, 96, 128, 8},
                          Case{3, 33, 256, 16});
  INFO("rows " << c.rows << " width " << c.width << " experts " << c.n_experts << " k " << c.k);
  const auto x = random_floats(static_cast<std::size_t>(c.rows * c.width), -3.0f, 3.0f, 1);
  const auto scale = random_floats(static_cast<std::size_t>(c.width), 0.5f, 1.5f, 2);
  const auto proj = random_floats(static_cast<std::size_t>(c.n_experts * c.width), -0.5f, 0.5f, 3);
  const auto per_expert = random_floats(static_cast<std::size_t>(c.n_experts), 0.5f, 2.0f, 4);
  const float eps = 1e-6f;
  // route() takes the config's eps as a double; the kernel takes fp32. Passing route() the fp32 value's
  // exact double makes both compute the same mean + eps, so everything below is compared exactly.
  const auto root_size = static_cast<float>(std::pow(static_cast<double>(c.width), -0.5));

  cpu::ThreadPool pool(1);
  const cpu::ConstMatrixMap xm(x.data(), c.rows, c.width);
  const cpu::ConstMatrixMap pm(proj.data(), c.n_experts, c.width);
  const cpu::Routing want = cpu::route(xm, scale.data(), pm, per_expert.data(), c.k, static_cast<double>(eps), pool);

  const auto z = cuda::ref::router_input_ref(x, scale, c.rows, c.width, eps, root_size);
  const cpu::ConstMatrixMap zm(z.data(), c.rows, c.width);
  const cpu::Matrix logits = cpu::linear(zm, pm, pool);  // route()'s own GEMM: the same logits bit for bit
  const std::vector<float> lv(logits.data(), logits.data() + logits.size());
  const auto got = cuda::ref::router_top_k_ref(lv, c.rows, c.n_experts, c.k, per_expert);
  CHECK(got.expert == want.expert);
  CHECK(got.weight == want.weight);  // same operations in the same order: exact
}

TEST_CASE("moe ref: router_input_ref by hand", "[kernels_ref]") {
  // x = [3, 4]: mean(x^2) = 12.5, eps 0 -> inv_rms = fp32(1 / sqrt(12.5)); then (x * inv) * scale * root.
  const auto z = cuda::ref::router_input_ref({3.0f, 4.0f}, {2.0f, 0.5f}, 1, 2, 0.0f, 0.25f);
  const auto inv = static_cast<float>(1.0 / std::sqrt(12.5));
  REQUIRE(z.size() == 2);
  CHECK(z[0] == ((3.0f * inv) * 2.0f) * 0.25f);
  CHECK(z[1] == ((4.0f * inv) * 0.5f) * 0.25f);
  CHECK(z[0] == Approx(3.0 / std::sqrt(12.5) * 0.5).epsilon(1e-6));  // ~3 fp32 roundings of ~6e-8 each
}

TEST_CASE("moe ref: router_top_k_ref ties go to the lower index; k = n_experts", "[kernels_ref]") {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 0.0f};
  const std::vector<float> per_expert = {1.0f, 2.0f, 4.0f, 8.0f};
  const auto k2 = cuda::ref::router_top_k_ref(logits, 1, 4, 2, per_expert);
  CHECK(k2.expert == std::vector<std::int32_t>{1, 2});
  CHECK(k2.weight == std::vector<float>{0.5f * 2.0f, 0.5f * 4.0f});  // two equal logits: 1/2 each, exact
  const auto k4 = cuda::ref::router_top_k_ref(logits, 1, 4, 4, per_expert);
  CHECK(k4.expert == std::vector<std::int32_t>{1, 2, 0, 3});
  const double sum = 2.0 + std::exp(-2.0) + std::exp(-3.0);
  CHECK(k4.weight[0] == static_cast<float>(1.0 / sum) * 2.0f);
  CHECK(k4.weight[2] == static_cast<float>(std::exp(-2.0) / sum) * 1.0f);
  CHECK(k4.weight[3] == static_cast<float>(std::exp(-3.0) / sum) * 8.0f);
  CHECK_THROWS(cuda::ref::router_top_k_ref(logits, 1, 4, 5, per_expert));
}

TEST_CASE("moe ref: gather and scatter-add by hand", "[kernels_ref]") {
  const std::vector<std::uint16_t> src = {1, 2, 3, 4, 5, 6};  // 3 rows of width 2
  CHECK(cuda::ref::gather_rows_ref(src, 2, {2, 0, 2}) == std::vector<std::uint16_t>{5, 6, 1, 2, 5, 6});
  CHECK_THROWS(cuda::ref::gather_rows_ref(src, 2, {3}));
  const std::vector<float> dst = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  const auto out = cuda::ref::scatter_add_rows_ref({1.0f, 2.0f, 3.0f, 4.0f}, 2, {2, 0}, {0.5f, 2.0f}, dst);
  CHECK(out == std::vector<float>{7.0f, 9.0f, 1.0f, 1.0f, 1.5f, 2.0f});
  // The product is rounded before the add: d = -1, s = w = 1 + 2^-12: the product 1 + 2^-11 + 2^-24 rounds
  // to 1 + 2^-11 (a tie, to even), so the result is exactly 2^-11; a fused multiply-add would keep the 2^-24.
  const float a = 1.0f + std::ldexp(1.0f, -12);
  const auto fused_or_not = cuda::ref::scatter_add_rows_ref({a}, 1, {0}, {a}, {-1.0f});
  CHECK(fused_or_not[0] == std::ldexp(1.0f, -11));
}
