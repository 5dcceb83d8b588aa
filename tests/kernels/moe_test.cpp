// MoE kernels (kernels/moe_kernels.cuh) against their host references (kernels/ref/moe_ref.h) on ragged
// shapes: router input, top-k routing (ties, k = 1, k = n_experts, up to 256 experts), row gather and
// weighted scatter-add.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/moe_kernels.cuh"
#include "kernels/ref/moe_ref.h"

using namespace qg;

namespace {

std::mt19937& rng() {
  static std::mt19937 g(77);
  return g;
}
std::vector<float> random_floats(std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

template <typename T>
cuda::DeviceBuffer to_device(const std::vector<T>& v, const char* what) {
  return cuda::upload_bytes(v.data(), v.size() * sizeof(T), what);
}
template <typename T>
std::vector<T> to_host(const cuda::DeviceBuffer& b, std::size_t n) {
  QG_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<T> v(n);
  b.download(v.data(), n * sizeof(T));
  return v;
}

}  // namespace

TEST_CASE("moe: router_input matches router_input_ref on ragged shapes", "[gpu]") {
  struct Case {
    std::int64_t rows, width;
  };
  const Case c = GENERATE(Case{1, 1}, Case{1, 7}, Case{3, 255}, Case{37, 257}, Case{5, 2560}, Case{2, 5376});
  INFO("rows " << c.rows << " width " << c.width);
  const auto x = random_floats(static_cast<std::size_t>(c.rows * c.width), -4.0f, 4.0f);
  const auto scale = random_floats(static_cast<std::size_t>(c.width), 0.25f, 2.0f);
  const auto root_size = static_cast<float>(std::pow(static_cast<double>(c.width), -0.5));
  const auto want = cuda::ref::router_input_ref(x, scale, c.rows, c.width, 1e-6f, root_size);
  const auto dx = to_device(x, "x");
  const auto ds = to_device(scale, "scale");
  cuda::DeviceBuffer dz(want.size() * 4, "z");
  cuda::router_input(dx.as<float>(), ds.as<float>(), c.rows, c.width, 1e-6f, root_size, dz.as<float>(), nullptr);
  const auto got = to_host<float>(dz, want.size());
  // The sum of squares is in double on both sides but in a different order (a block reduction vs a loop):
  // the double differs by ~1e-16 relative, which can move the fp32 inv_rms by at most 1 ulp (2^-23
  // relative), and the three fp32 products after it then stay within ~2 ulp of the reference: 5e-7
  // relative (4 ulp) bounds that. A wrong mean, eps or product order would be off by far more.
  std::size_t bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) bad += !(got[i] == Approx(want[i]).epsilon(5e-7).margin(0));
  CHECK(bad == 0);
}

namespace {
void check_top_k(std::int64_t rows, int n_experts, int k, bool ties) {
  INFO("rows " << rows << " experts " << n_experts << " k " << k << " ties " << ties);
  std::vector<float> logits = random_floats(static_cast<std::size_t>(rows * n_experts), -6.0f, 6.0f);
  // Ties: only four distinct logit values, so most rows have equal logits inside and across the top k.
  if (ties)
    for (auto& l : logits) l = std::floor(l / 3.0f);
  const auto per_expert = random_floats(static_cast<std::size_t>(n_experts), 0.5f, 2.0f);
  const auto want = cuda::ref::router_top_k_ref(logits, rows, n_experts, k, per_expert);
  const auto dl = to_device(logits, "logits");
  const auto dp = to_device(per_expert, "per_expert_scale");
  cuda::DeviceBuffer de(want.expert.size() * 4, "expert"), dw(want.weight.size() * 4, "weight");
  cuda::router_top_k(dl.as<float>(), rows, n_experts, k, dp.as<float>(), de.as<std::int32_t>(), dw.as<float>(), nullptr);
  CHECK(to_host<std::int32_t>(de, want.expert.size()) == want.expert);  // selection is comparisons only: exact
  const auto w = to_host<float>(dw, want.weight.size());
  // Both sides compute exp and the sum in double in the same order; CUDA's double exp (<= 1 ulp, per the
  // programming guide) and glibc's may differ by a double ulp, which can flip the fp32 rounding of the
  // probability by 1 ulp, and the fp32 product with per_expert_scale can add 1 more: 3e-7 relative (2.5 ulp).
  std::size_t bad = 0;
  for (std::size_t i = 0; i < w.size(); ++i) bad += !(w[i] == Approx(want.weight[i]).epsilon(3e-7).margin(0));
  CHECK(bad == 0);
}
}  // namespace

TEST_CASE("moe: router_top_k equals route()'s selection and weights", "[gpu]") {
  const bool ties = GENERATE(false, true);
  check_top_k(1, 8, 2, ties);
  check_top_k(37, 8, 1, ties);
  check_top_k(37, 8, 8, ties);     // k = n_experts
  check_top_k(5, 16, 16, ties);    // k = n_experts at the k limit
  check_top_k(300, 128, 8, ties);  // Gemma 4 MoE-like: 128 experts, top 8
  check_top_k(33, 100, 16, ties);  // n_experts not a multiple of 32
  check_top_k(65, 256, 16, ties);  // the expert limit
  check_top_k(3, 1, 1, ties);      // one expert: weight = per_expert_scale
}

TEST_CASE("moe: router_top_k rejects unsupported sizes", "[gpu]") {
  CHECK_THROWS_AS(cuda::router_top_k(nullptr, 1, 257, 8, nullptr, nullptr, nullptr, nullptr), Error);
  CHECK_THROWS_AS(cuda::router_top_k(nullptr, 1, 64, 17, nullptr, nullptr, nullptr, nullptr), Error);
  CHECK_THROWS_AS(cuda::router_top_k(nullptr, 1, 4, 5, nullptr, nullptr, nullptr, nullptr), Error);
  CHECK_THROWS_AS(cuda::router_top_k(nullptr, 1, 8, 0, nullptr, nullptr, nullptr, nullptr), Error);
}

TEST_CASE("moe: gather_rows copies rows exactly (scalar and 16-byte paths)", "[gpu]") {
  const std::int64_t width = GENERATE(1, 7, 8, 264, 2560);
  const std::int64_t src_rows = 50;
  std::vector<std::uint16_t> src(static_cast<std::size_t>(src_rows * width));
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::uint16_t>(i * 2654435761u >> 7);
  for (const std::int64_t n : {1, 13, 301}) {
    INFO("width " << width << " n " << n);
    std::vector<std::int32_t> index(static_cast<std::size_t>(n));
    for (auto& i : index) i = std::uniform_int_distribution<std::int32_t>(0, src_rows - 1)(rng());  // repeats allowed
    const auto want = cuda::ref::gather_rows_ref(src, width, index);
    const auto ds = to_device(src, "src");
    const auto di = to_device(index, "index");
    // One extra element so the output can start 2 bytes in: that forces the scalar path for widths of 8k.
    for (const int offset : {0, 1}) {
      cuda::DeviceBuffer dd((want.size() + 1) * 2, "dst");
      dd.zero();
      auto* dst = dd.as<__nv_bfloat16>() + offset;
      cuda::gather_rows(ds.as<__nv_bfloat16>(), width, di.as<std::int32_t>(), n, dst, nullptr);
      const auto all = to_host<std::uint16_t>(dd, want.size() + 1);
      const std::vector<std::uint16_t> got(all.begin() + offset, all.begin() + offset + static_cast<std::ptrdiff_t>(want.size()));
      CHECK(got == want);
      CHECK(all[offset == 0 ? want.size() : 0] == 0);  // the spare element is untouched
    }
  }
}

TEST_CASE("moe: scatter_add_rows equals the reference bit for bit, experts in turn", "[gpu]") {
  const std::int64_t width = GENERATE(1, 5, 256, 2561);
  const std::int64_t dst_rows = 40;
  auto dst = random_floats(static_cast<std::size_t>(dst_rows * width), -2.0f, 2.0f);
  const auto ddst = to_device(dst, "dst");
  // Three "experts", each with distinct token rows (the kernel's contract), applied in order like the engine.
  for (const std::int64_t n : {1, 17, 40}) {
    INFO("width " << width << " n " << n);
    std::vector<std::int32_t> index(static_cast<std::size_t>(dst_rows));
    std::iota(index.begin(), index.end(), 0);
    std::shuffle(index.begin(), index.end(), rng());
    index.resize(static_cast<std::size_t>(n));
    const auto src = random_floats(static_cast<std::size_t>(n * width), -3.0f, 3.0f);
    const auto weight = random_floats(static_cast<std::size_t>(n), 0.0f, 1.0f);
    dst = cuda::ref::scatter_add_rows_ref(src, width, index, weight, dst);
    const auto ds = to_device(src, "src");
    const auto di = to_device(index, "index");
    const auto dw = to_device(weight, "weight");
    cuda::scatter_add_rows(ds.as<float>(), width, di.as<std::int32_t>(), dw.as<float>(), n, ddst.as<float>(), nullptr);
    const auto got = to_host<float>(ddst, dst.size());
    std::size_t bad = 0;  // exact: one fp32 product and one fp32 add per element on both sides
    for (std::size_t i = 0; i < dst.size(); ++i) bad += f32_to_bits(got[i]) != f32_to_bits(dst[i]);
    CHECK(bad == 0);
  }
}
