// RoPE kernel vs its host reference (kernels/ref/rope_ref.h): head dims 2 ... 512 (odd halves included),
// several heads, 1 row and odd row counts, positions from 0 to beyond 32k in any order (batched sequences),
// default and proportional inverse frequencies from cpu::rope_inv_freq.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "common/float_formats.h"
#include "forward/cpu/rope.h"
#include "kernels/device_buffer.h"
#include "kernels/ref/rope_ref.h"
#include "kernels/rope_kernels.cuh"

using namespace qg;

namespace {

template <typename T>
cuda::DeviceBuffer to_device(const std::vector<T>& v) {
  return cuda::upload_bytes(v.data(), v.size() * sizeof(T), "rope test input");
}

struct Case {
  std::int64_t rows, heads, d;
  bool proportional;
};

}  // namespace

TEST_CASE("apply_rope matches the host reference", "[gpu]") {
  const Case c = GENERATE(Case{1, 1, 2, false}, Case{5, 3, 6, false}, Case{33, 2, 16, false},
                          Case{7, 8, 256, false}, Case{9, 3, 256, true}, Case{4, 5, 512, true},
                          Case{3, 1, 512, false}, Case{2, 2, 600, false});
  CAPTURE(c.rows, c.heads, c.d, c.proportional);
  RopeParams params;
  params.rope_type = c.proportional ? "proportional" : "default";
  params.rope_theta = c.proportional ? 1e6 : 1e4;
  params.partial_rotary_factor = c.proportional ? 0.25 : 1.0;
  const auto inv_freq = cpu::rope_inv_freq(params, c.d);

  std::mt19937 rng(static_cast<unsigned>(c.d * 31 + c.rows));
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::uniform_int_distribution<std::int32_t> pos(0, 131071);
  std::vector<float> x(static_cast<std::size_t>(c.rows * c.heads * c.d));
  for (float& v : x) v = normal(rng);
  std::vector<std::int32_t> positions(static_cast<std::size_t>(c.rows));
  for (auto& p : positions) p = pos(rng);
  positions[0] = 0;  // identity rotation
  if (c.rows > 1) positions[1] = 32767;

  auto d_x = to_device(x);
  const auto d_pos = to_device(positions), d_f = to_device(inv_freq);
  cuda::apply_rope(d_x.as<float>(), c.rows, c.heads, c.d, d_pos.as<std::int32_t>(), d_f.as<float>(), nullptr);
  std::vector<float> got(x.size());
  d_x.download(got.data(), got.size() * sizeof(float));
  const auto want = cuda::ref::apply_rope_ref(x, c.rows, c.heads, c.d, positions, inv_freq);

  const std::int64_t half = c.d / 2;
  std::size_t bad = 0, moved_fixed = 0;
  for (std::int64_t r = 0; r < c.rows; ++r)
    for (std::int64_t h = 0; h < c.heads; ++h)
      for (std::int64_t j = 0; j < half; ++j) {
        const std::size_t lo = static_cast<std::size_t>((r * c.heads + h) * c.d + j), hi = lo + static_cast<std::size_t>(half);
        // CUDA's cosf/sinf are within 2 ulp and glibc's within 1, so cos/sin differ by <= 3 ulp <= 3 * 2^-24
        // (|cos|, |sin| <= 1). Each output a c - b s then differs by <= (|a| + |b|) * 2^-24 * (3 from cos/sin,
        // + 1 from the two half-ulp product roundings, + 2 from the two half-ulp roundings of the sum)
        // = 6 * 2^-24 (|a| + |b|) < 2^-21 (|a| + |b|).
        const float tol = (std::fabs(x[lo]) + std::fabs(x[hi])) / static_cast<float>(1 << 21);
        bad += !(std::fabs(got[lo] - want[lo]) <= tol);
        bad += !(std::fabs(got[hi] - want[hi]) <= tol);
        // Channels with inv_freq 0 (proportional RoPE's tail) and position 0 rotate by cos 1, sin 0: exact.
        if (inv_freq[static_cast<std::size_t>(j)] == 0.0f || positions[static_cast<std::size_t>(r)] == 0)
          moved_fixed += f32_to_bits(got[lo]) != f32_to_bits(x[lo]) || f32_to_bits(got[hi]) != f32_to_bits(x[hi]);
      }
  CHECK(bad == 0);
  CHECK(moved_fixed == 0);
}

TEST_CASE("apply_rope rejects odd head dims", "[gpu]") {
  CHECK_THROWS_AS(cuda::apply_rope(nullptr, 1, 1, 7, nullptr, nullptr, nullptr), qg::Error);
}
