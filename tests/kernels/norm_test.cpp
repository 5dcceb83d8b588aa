// RMSNorm kernels vs their host references (kernels/ref/norm_ref.h) on ragged shapes: widths from 1 to
// 10752 on both sides of the warp-per-row / block-per-row switch (1024), 1 row and odd row counts,
// weighted and weightless, rows of very different magnitude and an all-zero row.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"
#include "kernels/device_io.h"
#include "kernels/elementwise_kernels.cuh"
#include "kernels/norm_kernels.cuh"
#include "kernels/ref/norm_ref.h"

using namespace qg;
using qg::test::to_device;
using qg::test::to_host;

namespace {

// Rows of N(0, s_r) with s_r spread over 1e-3 ... 1e2; row 1 (when present) is all zeros (inv_rms = eps^-1/2).
std::vector<float> make_rows(std::int64_t rows, std::int64_t width, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * width));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float s = std::pow(10.0f, static_cast<float>(r % 6) - 3.0f);
    for (std::int64_t j = 0; j < width; ++j) x[static_cast<std::size_t>(r * width + j)] = r == 1 ? 0.0f : s * normal(rng);
  }
  return x;
}

std::vector<float> make_weight(std::int64_t width, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(1.0f, 0.5f);
  std::vector<float> w(static_cast<std::size_t>(width));
  for (float& v : w) v = normal(rng);
  return w;
}

float bf16_ulp(float v) {  // spacing of bf16 values at |v| (8 significant bits)
  int e = 0;
  std::frexp(std::fabs(v) > 1e-38f ? v : 1e-38f, &e);
  return std::ldexp(1.0f, e - 8);
}

// The GPU sums squares in double in another order than the host; inv_rms (rounded to fp32) then equals the
// host's unless the exact value lies within ~1e-16 of an fp32 rounding boundary, where it can differ by
// 1 ulp (relative 2^-23). Through (x * inv_rms) * w, with one rounding each side per product, an output then
// differs by at most 3 * 2^-23 relative: 2^-21 (= 4 * 2^-23) bounds it.
constexpr float kNormRel = 1.0f / (1 << 21);

const float kEps = 1e-6f;

struct Shape {
  std::int64_t rows, width;
};

}  // namespace

TEST_CASE("rms_norm_in_place and rms_norm_to_bf16 match the host reference", "[gpu]") {
  const Shape shape = GENERATE(Shape{1, 1}, Shape{3, 16}, Shape{37, 31}, Shape{19, 256}, Shape{5, 1000},
                               Shape{9, 1024}, Shape{7, 1025}, Shape{4, 2560}, Shape{3, 5376}, Shape{2, 10752});
  const bool weighted = GENERATE(true, false);
  CAPTURE(shape.rows, shape.width, weighted);
  const auto x = make_rows(shape.rows, shape.width, static_cast<unsigned>(shape.width * 7 + shape.rows));
  const std::vector<float> w = weighted ? make_weight(shape.width, 11) : std::vector<float>{};
  const std::size_t n = x.size();

  auto d_x = to_device(x);
  cuda::DeviceBuffer d_w = weighted ? to_device(w) : cuda::DeviceBuffer{};
  cuda::DeviceBuffer d_bf(n * 2, "bf16 out");
  cuda::rms_norm_to_bf16(d_x.as<float>(), d_w.as<float>(), shape.rows, shape.width, kEps,
                         d_bf.as<__nv_bfloat16>(), nullptr);
  cuda::rms_norm_in_place(d_x.as<float>(), d_w.as<float>(), shape.rows, shape.width, kEps, nullptr);
  const auto got = to_host<float>(d_x, n);
  const auto got_bf = to_host<std::uint16_t>(d_bf, n);

  const auto want = cuda::ref::rms_norm_in_place_ref(x, w, shape.rows, shape.width, kEps);
  const auto want_bf = cuda::ref::rms_norm_to_bf16_ref(x, w, shape.rows, shape.width, kEps);
  std::size_t bad = 0, bad_bf = 0, exact = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bad += !(std::fabs(got[i] - want[i]) <= kNormRel * std::fabs(want[i]));
    exact += f32_to_bits(got[i]) == f32_to_bits(want[i]);
    // bf16: the fp32 values above differ by far less than a bf16 ulp, so rounding can move by at most one.
    bad_bf += !(std::fabs(bf16_to_f32(got_bf[i]) - bf16_to_f32(want_bf[i])) <= bf16_ulp(bf16_to_f32(want_bf[i])));
  }
  CHECK(bad == 0);
  CHECK(bad_bf == 0);
  // The double sums make inv_rms differ only in ~1e-8 of rows: nearly everything is bit-identical.
  CHECK(exact >= n * 99 / 100);
}

TEST_CASE("add_rms_norm adds the normalised y to the residual", "[gpu]") {
  const Shape shape = GENERATE(Shape{1, 16}, Shape{13, 333}, Shape{6, 1536}, Shape{2, 10752});
  CAPTURE(shape.rows, shape.width);
  const auto x = make_rows(shape.rows, shape.width, 5);
  const auto y = make_rows(shape.rows, shape.width, 6);
  const auto w = make_weight(shape.width, 7);
  auto d_x = to_device(x);
  const auto d_y = to_device(y), d_w = to_device(w);
  cuda::add_rms_norm(d_x.as<float>(), d_y.as<float>(), d_w.as<float>(), shape.rows, shape.width, kEps, nullptr);
  const auto got = to_host<float>(d_x, x.size());
  const auto want = cuda::ref::add_rms_norm_ref(x, y, w, shape.rows, shape.width, kEps);
  const auto normed = cuda::ref::rms_norm_in_place_ref(y, w, shape.rows, shape.width, kEps);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    // normed differs by <= 3 * 2^-23 |normed| (see kNormRel), the sum's rounding adds <= 2^-23 |x + normed|.
    const float tol = kNormRel * (std::fabs(normed[i]) + std::fabs(x[i]));
    bad += !(std::fabs(got[i] - want[i]) <= tol);
  }
  CHECK(bad == 0);
}

// The fused block end must be the separate kernels' bits (same arithmetic, same reduction order): memcmp, for each
// kind of next input, with and without the layer scalar, at widths taking the fused kernel (2560: E4B; 10752) and
// one taking the separate launches (333). The separate kernels are checked against the host reference above.
TEST_CASE("add_rms_norm_then equals add_rms_norm, scale_in_place and the next input's kernel", "[gpu]") {
  const Shape shape = GENERATE(Shape{13, 333}, Shape{37, 2560}, Shape{3, 10752});
  const cuda::NextInput next = GENERATE(cuda::NextInput::kNone, cuda::NextInput::kRaw, cuda::NextInput::kNormed);
  const float scale = GENERATE(1.0f, 0.37f);
  CAPTURE(shape.rows, shape.width, static_cast<int>(next), scale);
  const auto x = make_rows(shape.rows, shape.width, 21);
  const auto y = make_rows(shape.rows, shape.width, 22);
  const auto w = make_weight(shape.width, 23), next_w = make_weight(shape.width, 24);
  const auto d_y = to_device(y), d_w = to_device(w), d_next_w = to_device(next_w);
  const std::size_t n = x.size();
  const std::vector<std::uint16_t> sentinel(n, 0x7fa5);

  auto d_x_sep = to_device(x);
  auto d_out_sep = to_device(sentinel);
  cuda::add_rms_norm(d_x_sep.as<float>(), d_y.as<float>(), d_w.as<float>(), shape.rows, shape.width, kEps, nullptr);
  cuda::scale_in_place(d_x_sep.as<float>(), static_cast<std::int64_t>(n), scale, nullptr);
  if (next == cuda::NextInput::kNormed)
    cuda::rms_norm_to_bf16(d_x_sep.as<float>(), d_next_w.as<float>(), shape.rows, shape.width, kEps,
                           d_out_sep.as<__nv_bfloat16>(), nullptr);
  if (next == cuda::NextInput::kRaw)
    cuda::f32_to_bf16(d_x_sep.as<float>(), static_cast<std::int64_t>(n), d_out_sep.as<__nv_bfloat16>(), nullptr);

  auto d_x = to_device(x);
  auto d_out = to_device(sentinel);
  cuda::add_rms_norm_then(d_x.as<float>(), d_y.as<float>(), d_w.as<float>(), shape.rows, shape.width, kEps, scale,
                          next, d_next_w.as<float>(), d_out.as<__nv_bfloat16>(), nullptr);
  const auto x_sep = to_host<float>(d_x_sep, n), x_fused = to_host<float>(d_x, n);
  const auto out_sep = to_host<std::uint16_t>(d_out_sep, n), out_fused = to_host<std::uint16_t>(d_out, n);
  CHECK(std::memcmp(x_sep.data(), x_fused.data(), n * sizeof(float)) == 0);
  CHECK(out_sep == out_fused);  // kNone: both still the sentinel
}

TEST_CASE("rms_norm rows do not depend on the rest of the batch", "[gpu]") {
  // Batch invariance (issue 6, determinism): a row normalised alone is bit-identical to the same row in a batch.
  const std::int64_t width = GENERATE(256, 2560);
  const std::int64_t rows = 23, pick = 17;
  const auto x = make_rows(rows, width, 3);
  const auto w = make_weight(width, 4);
  const auto d_w = to_device(w);
  auto d_all = to_device(x);
  cuda::rms_norm_in_place(d_all.as<float>(), d_w.as<float>(), rows, width, kEps, nullptr);
  const auto all = to_host<float>(d_all, x.size());
  const std::vector<float> one_row(x.begin() + pick * width, x.begin() + (pick + 1) * width);
  auto d_one = to_device(one_row);
  cuda::rms_norm_in_place(d_one.as<float>(), d_w.as<float>(), 1, width, kEps, nullptr);
  const auto one = to_host<float>(d_one, one_row.size());
  std::size_t differ = 0;
  for (std::int64_t j = 0; j < width; ++j)
    differ += f32_to_bits(one[static_cast<std::size_t>(j)]) != f32_to_bits(all[static_cast<std::size_t>(pick * width + j)]);
  CHECK(differ == 0);
}

TEST_CASE("scale_in_place multiplies every value once, exactly", "[gpu]") {
  const std::int64_t n = GENERATE(1, 255, 70001);
  const auto x = make_rows(1, n, 9);
  auto d_x = to_device(x);
  cuda::scale_in_place(d_x.as<float>(), n, 0.7071068f, nullptr);
  const auto got = to_host<float>(d_x, x.size());
  const auto want = cuda::ref::scale_in_place_ref(x, 0.7071068f);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < x.size(); ++i) differ += f32_to_bits(got[i]) != f32_to_bits(want[i]);  // one fp32 product
  CHECK(differ == 0);
}

TEST_CASE("norm launchers reject bad shapes and accept zero rows", "[gpu]") {
  CHECK_THROWS_AS(cuda::rms_norm_in_place(nullptr, nullptr, 1, 0, kEps, nullptr), qg::Error);
  CHECK_NOTHROW(cuda::rms_norm_in_place(nullptr, nullptr, 0, 16, kEps, nullptr));
}
