// Elementwise kernels vs their host references (kernels/ref/elementwise_ref.h): gelu-tanh gating with the
// three stride layouts the engine uses (dense, MoE gate_up halves, PLE slice) and a padded output, bf16
// conversion over special values and random bit patterns, K/V row scatter, softcap.
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"
#include "kernels/device_io.h"
#include "kernels/elementwise_kernels.cuh"
#include "kernels/ref/elementwise_ref.h"

using namespace qg;
using qg::test::to_device;
using qg::test::to_host;

namespace {

std::vector<float> normal_values(std::size_t n, float sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

float bf16_ulp(float v) {  // spacing of bf16 values at |v| (8 significant bits)
  int e = 0;
  std::frexp(std::fabs(v) > 1e-38f ? v : 1e-38f, &e);
  return std::ldexp(1.0f, e - 8);
}

struct GeluCase {
  const char* layout;
  std::int64_t rows, width, gate_stride, up_stride, up_offset, out_stride;
};

}  // namespace

TEST_CASE("gelu_tanh_mul_to_bf16 matches the host reference for every stride layout", "[gpu]") {
  // dense: two buffers; moe: one [rows, 2I] buffer, up = gate + I; ple: up stride n_layers * d_ple.
  const GeluCase c = GENERATE(GeluCase{"dense", 1, 1, 1, 1, 0, 1}, GeluCase{"dense", 13, 1000, 1000, 1000, 0, 1000},
                              GeluCase{"dense padded out", 5, 77, 77, 77, 0, 80},
                              GeluCase{"moe", 9, 704, 1408, 1408, 704, 704},
                              GeluCase{"ple", 7, 256, 256, 256 * 5, 256 * 3, 256},
                              // Four columns per thread needs aligned rows: an odd offset takes the scalar path;
                              // more rows than a grid's y extent (65535) makes the kernel loop over rows.
                              GeluCase{"ple odd offset", 3, 256, 256, 256 * 5 + 1, 3, 256},
                              GeluCase{"many rows", 70001, 4, 4, 4, 0, 4});
  CAPTURE(c.layout, c.rows, c.width);
  auto gate = normal_values(static_cast<std::size_t>(c.rows * c.gate_stride), 1.5f, 1);
  // Edge values in the first row: zero, cancellation region, saturation, small.
  const float edges[] = {0.0f, -3.0f, -5.5f, -12.0f, 12.0f, 1e-20f, -1e-20f, 40.0f};
  for (std::size_t k = 0; k < std::size(edges) && static_cast<std::int64_t>(k) < c.width; ++k) gate[k] = edges[k];
  const bool shared = std::string(c.layout) == "moe";
  const auto up_buf = shared ? gate : normal_values(static_cast<std::size_t>(c.rows * c.up_stride), 1.0f, 2);
  const auto d_gate = to_device(gate), d_up = to_device(up_buf);
  const std::uint16_t sentinel = 0x7fa5;  // a NaN pattern the kernel never produces
  const std::vector<std::uint16_t> out_init(static_cast<std::size_t>(c.rows * c.out_stride), sentinel);
  auto d_out = to_device(out_init);
  const float* up_ptr = (shared ? d_gate.as<float>() : d_up.as<float>()) + c.up_offset;
  cuda::gelu_tanh_mul_to_bf16(d_gate.as<float>(), c.gate_stride, up_ptr, c.up_stride, c.rows, c.width,
                              d_out.as<__nv_bfloat16>(), c.out_stride, nullptr);
  const auto got = to_host<std::uint16_t>(d_out, out_init.size());

  const std::vector<float> up_view(up_buf.begin() + c.up_offset, up_buf.end());
  const auto want = cuda::ref::gelu_tanh_mul_to_bf16_ref(gate, c.gate_stride, up_view, c.up_stride, c.rows, c.width);
  std::size_t bad = 0, exact = 0, gaps_written = 0;
  for (std::int64_t r = 0; r < c.rows; ++r) {
    for (std::int64_t j = 0; j < c.width; ++j) {
      const float z = gate[static_cast<std::size_t>(r * c.gate_stride + j)];
      const float u = up_view[static_cast<std::size_t>(r * c.up_stride + j)];
      const float g = bf16_to_f32(got[static_cast<std::size_t>(r * c.out_stride + j)]);
      const float w = bf16_to_f32(want[static_cast<std::size_t>(r * c.width + j)]);
      // Only tanhf differs (CUDA <= 2 ulp, glibc <= 1 ulp from exact: |dt| <= 3 * 2^-24). Through
      // 0.5 z (1 + t) * up that is <= |z up| * 2^-24 * (1.5 + roundings of 1 + t, the products) < |z up| 2^-21
      // in fp32 (absolute, as 1 + t cancels for z << 0), and the bf16 rounding adds at most one bf16 ulp.
      const float tol = bf16_ulp(std::fmax(std::fabs(g), std::fabs(w))) + std::fabs(z * u) / static_cast<float>(1 << 21);
      bad += !(std::fabs(g - w) <= tol);
      exact += g == w;
    }
    for (std::int64_t j = c.width; j < c.out_stride; ++j)
      gaps_written += got[static_cast<std::size_t>(r * c.out_stride + j)] != sentinel;
  }
  CHECK(bad == 0);
  CHECK(gaps_written == 0);
  // A few-ulp fp32 difference moves the bf16 rounding only near a rounding boundary: rare.
  CHECK(exact >= static_cast<std::size_t>(c.rows * c.width) * 95 / 100);
}

TEST_CASE("f32_to_bf16 rounds to nearest even like the host, specials included", "[gpu]") {
  const std::size_t n = GENERATE(1u, 4099u, 100003u);
  std::mt19937 rng(static_cast<unsigned>(n));
  std::vector<float> x(n);
  for (float& v : x) v = bits_to_f32(static_cast<std::uint32_t>(rng()));  // every exponent, NaNs included
  const float specials[] = {0.0f, -0.0f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max() /* bf16: inf */};
  for (std::size_t k = 0; k < std::size(specials) && k < n; ++k) x[k] = specials[k];
  const auto d_x = to_device(x);
  cuda::DeviceBuffer d_y(n * 2, "bf16 out");
  cuda::f32_to_bf16(d_x.as<float>(), static_cast<std::int64_t>(n), d_y.as<__nv_bfloat16>(), nullptr);
  const auto got = to_host<std::uint16_t>(d_y, n);
  const auto want = cuda::ref::f32_to_bf16_ref(x);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < n; ++i) differ += got[i] != want[i];  // same function both sides: bit-exact
  CHECK(differ == 0);
}

TEST_CASE("scatter_rows_to_bf16 writes each row into its cache slot only", "[gpu]") {
  const std::int64_t rows = GENERATE(1, 11), width = GENERATE(1, 130, 512);
  CAPTURE(rows, width);
  const std::int64_t slots = rows * 3 + 2;
  const auto src = normal_values(static_cast<std::size_t>(rows * width), 3.0f, 4);
  std::vector<std::int64_t> dest(static_cast<std::size_t>(rows));
  // Distinct slots in reverse order with gaps (slot = slots - 1 - 2 r >= rows + 3), so no two rows collide.
  for (std::int64_t r = 0; r < rows; ++r) dest[static_cast<std::size_t>(r)] = slots - 1 - 2 * r;
  if (rows > 1) dest[3] = -1;  // dropped row
  const std::vector<std::uint16_t> init(static_cast<std::size_t>(slots * width), 0x7fa5);
  auto d_dst = to_device(init);
  const auto d_src = to_device(src), d_dest = to_device(dest);
  cuda::scatter_rows_to_bf16(d_src.as<float>(), rows, width, d_dest.as<std::int64_t>(), d_dst.as<__nv_bfloat16>(),
                             nullptr);
  const auto got = to_host<std::uint16_t>(d_dst, init.size());
  CHECK(got == cuda::ref::scatter_rows_to_bf16_ref(src, rows, width, dest, init));  // pure conversion: exact
}

TEST_CASE("softcap_in_place matches the host reference", "[gpu]") {
  // 65539: four values per thread plus a tail of three; offset 1: a buffer that is not 16-byte aligned (one at a time).
  const std::size_t n = GENERATE(1u, 1000u, 65537u, 65539u);
  const std::size_t offset = GENERATE(0u, 1u);
  CAPTURE(n, offset);
  const float cap = 30.0f;
  auto x = normal_values(n, 40.0f, 8);
  const float specials[] = {0.0f, 1e6f, -1e6f, std::numeric_limits<float>::infinity(), 29.99f, -1e-30f};
  for (std::size_t k = 0; k < std::size(specials) && k < n; ++k) x[k] = specials[k];
  std::vector<float> padded(offset, 0.0f);
  padded.insert(padded.end(), x.begin(), x.end());
  auto d_x = to_device(padded);
  cuda::softcap_in_place(d_x.as<float>() + offset, static_cast<std::int64_t>(n), cap, nullptr);
  auto got = to_host<float>(d_x, n + offset);
  got.erase(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(offset));
  const auto want = cuda::ref::softcap_in_place_ref(x, cap);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // x / cap is the same IEEE division both sides; tanhf differs by <= 3 ulp <= 3 * 2^-24 (|t| <= 1), times
    // cap, plus the half-ulp roundings of the product (<= 2^-24 cap each): < cap * 2^-21.
    bad += !(std::fabs(got[i] - want[i]) <= cap / static_cast<float>(1 << 21));
  }
  CHECK(bad == 0);
  CHECK(got[0] == 0.0f);
  if (n > 3) CHECK(got[3] == cap);  // tanh(inf) = 1 exactly
}

// The accurate-precision kernels: the fp32 gating equals the bf16 kernel before its rounding, the split
// reconstructs its input to 2^-17, and the fp16 scatter rounds like the host's f32_to_f16.
TEST_CASE("gelu_tanh_mul_to_f32 is the bf16 kernel's value before rounding", "[gpu]") {
  const std::int64_t rows = 9, width = 333;
  const auto gate = normal_values(static_cast<std::size_t>(rows * width), 2.0f, 11);
  const auto up = normal_values(static_cast<std::size_t>(rows * width), 1.5f, 12);
  const auto d_gate = to_device(gate), d_up = to_device(up);
  cuda::DeviceBuffer d_f32(static_cast<std::size_t>(rows * width) * 4, "f32 out");
  cuda::DeviceBuffer d_b16(static_cast<std::size_t>(rows * width) * 2, "bf16 out");
  cuda::gelu_tanh_mul_to_f32(d_gate.as<float>(), width, d_up.as<float>(), width, rows, width, d_f32.as<float>(), width,
                             nullptr);
  cuda::gelu_tanh_mul_to_bf16(d_gate.as<float>(), width, d_up.as<float>(), width, rows, width,
                              d_b16.as<__nv_bfloat16>(), width, nullptr);
  const auto f = to_host<float>(d_f32, static_cast<std::size_t>(rows * width));
  const auto b = to_host<std::uint16_t>(d_b16, static_cast<std::size_t>(rows * width));
  std::size_t bad = 0;
  for (std::size_t i = 0; i < f.size(); ++i) bad += f32_to_bf16(f[i]) != b[i];  // same kernel body, exact
  CHECK(bad == 0);
  // and it is the host reference's fp32 value up to tanhf's ulps (|z * up| * 2^-21, as in the bf16 case)
  std::size_t far = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const float want = cuda::ref::gelu_tanh_f32_ref(gate[i]) * up[i];
    far += !(std::fabs(f[i] - want) <= std::fabs(gate[i] * up[i]) * std::ldexp(1.0f, -21) + 1e-30f);
  }
  CHECK(far == 0);
}

TEST_CASE("split_to_bf16: hi is the bf16 rounding, hi + lo is within 2^-17 of x", "[gpu]") {
  auto x = normal_values(100003, 3.0f, 21);
  x[0] = 0.0f;
  x[1] = -1e30f;
  x[2] = 1.0f + std::ldexp(1.0f, -12);  // hi = 1, lo carries the 2^-12
  const auto d_x = to_device(x);
  cuda::DeviceBuffer d_hi(x.size() * 2, "hi"), d_lo(x.size() * 2, "lo");
  cuda::split_to_bf16(d_x.as<float>(), static_cast<std::int64_t>(x.size()), d_hi.as<__nv_bfloat16>(),
                      d_lo.as<__nv_bfloat16>(), nullptr);
  const auto hi = to_host<std::uint16_t>(d_hi, x.size());
  const auto lo = to_host<std::uint16_t>(d_lo, x.size());
  std::size_t bad_hi = 0, bad_sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    bad_hi += hi[i] != f32_to_bf16(x[i]);
    const double sum = double(bf16_to_f32(hi[i])) + double(bf16_to_f32(lo[i]));
    // lo = bf16(x - hi) with x - hi exact: its rounding error is <= 2^-9 |x - hi| <= 2^-18 |x|
    bad_sum += !(std::fabs(sum - double(x[i])) <= std::ldexp(std::fabs(double(x[i])), -17));
  }
  CHECK(bad_hi == 0);
  CHECK(bad_sum == 0);
  CHECK(bf16_to_f32(lo[2]) == std::ldexp(1.0f, -12));
}

TEST_CASE("scatter_rows_to_f16 writes fp16 rows into their slots only", "[gpu]") {
  const std::int64_t rows = 5, width = 37, slots = 9;
  const auto src = normal_values(static_cast<std::size_t>(rows * width), 4.0f, 31);
  const std::vector<std::int64_t> dest = {3, 0, 8, -1, 5};  // -1: dropped
  std::vector<std::uint16_t> cache(static_cast<std::size_t>(slots * width), 0x7e00);  // fp16 NaN sentinel
  const auto d_src = to_device(src), d_dest = to_device(dest);
  auto d_cache = to_device(cache);
  cuda::scatter_rows_to_f16(d_src.as<float>(), rows, width, d_dest.as<std::int64_t>(), d_cache.as<__half>(), nullptr);
  const auto got = to_host<std::uint16_t>(d_cache, cache.size());
  std::vector<std::uint16_t> want = cache;
  for (std::int64_t r = 0; r < rows; ++r)
    if (dest[static_cast<std::size_t>(r)] >= 0)
      for (std::int64_t j = 0; j < width; ++j)
        want[static_cast<std::size_t>(dest[static_cast<std::size_t>(r)] * width + j)] =
            f32_to_f16(src[static_cast<std::size_t>(r * width + j)]);
  CHECK(got == want);
}

// The fast MLP's gating from one bf16 [gate | up] GEMM output: each bf16 input widened exactly, then the fp32
// kernel's arithmetic, so the bits equal gelu_tanh_mul_to_bf16 given the same (bf16-valued) inputs as fp32. Both
// the four-column path (row stride 2 * width, like the engine) and the scalar one (odd width and offset).
TEST_CASE("gelu_tanh_mul_bf16_to_bf16 equals the fp32-input kernel on the same values", "[gpu]") {
  for (const std::int64_t width : {std::int64_t{10240}, std::int64_t{333}}) {
    const std::int64_t rows = 7, stride = 2 * width + (width % 2);  // odd width: an odd stride, unaligned rows
    auto values = normal_values(static_cast<std::size_t>(rows * stride), 2.0f, 21);
    std::vector<std::uint16_t> packed(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      packed[i] = f32_to_bf16(values[i]);
      values[i] = bf16_to_f32(packed[i]);  // the fp32 kernel sees exactly the bf16 values
    }
    const auto d_packed = to_device(packed), d_values = to_device(values);
    cuda::DeviceBuffer d_got(static_cast<std::size_t>(rows * width) * 2, "bf16 in");
    cuda::DeviceBuffer d_want(static_cast<std::size_t>(rows * width) * 2, "fp32 in");
    const auto* pb = d_packed.as<__nv_bfloat16>();
    cuda::gelu_tanh_mul_bf16_to_bf16(pb, stride, pb + width, stride, rows, width, d_got.as<__nv_bfloat16>(), width,
                                     nullptr);
    const float* pf = d_values.as<float>();
    cuda::gelu_tanh_mul_to_bf16(pf, stride, pf + width, stride, rows, width, d_want.as<__nv_bfloat16>(), width,
                                nullptr);
    const auto got = to_host<std::uint16_t>(d_got, static_cast<std::size_t>(rows * width));
    const auto want = to_host<std::uint16_t>(d_want, static_cast<std::size_t>(rows * width));
    INFO("width " << width);
    CHECK(got == want);
    std::size_t nonzero = 0;
    for (std::uint16_t v : got) nonzero += (v & 0x7fff) != 0;
    CHECK(nonzero > got.size() / 2);  // not a buffer left at zero
  }
}
