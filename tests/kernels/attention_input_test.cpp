// The one-pass attention inputs (kernels/attention_input_kernels.cuh) against the kernels they replace, run on the
// same data on the GPU: rms_norm_in_place per head, apply_rope, then f32_to_f16 (queries) or scatter_rows_to_f16
// (a cache row per token, -1 dropped). Those kernels are checked against the host references in norm_test.cpp,
// rope_test.cpp and elementwise_test.cpp; here the claim is "the same bits", so the comparison is memcmp.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "forward/cpu/rope.h"
#include "kernels/attention_input_kernels.cuh"
#include "kernels/attention_softmax_kernels.cuh"
#include "kernels/device_buffer.h"
#include "kernels/device_io.h"
#include "kernels/elementwise_kernels.cuh"
#include "kernels/norm_kernels.cuh"
#include "kernels/rope_kernels.cuh"

using namespace qg;
using qg::test::to_device;
using qg::test::to_host;

namespace {

struct Case {
  std::int64_t rows;
  int heads, d;
  bool proportional;
};

}  // namespace

TEST_CASE("prepare_attention_input equals norm, RoPE and fp16 rounding run separately", "[gpu]") {
  const Case c = GENERATE(Case{37, 8, 256, false}, Case{37, 2, 256, false}, Case{19, 8, 512, true},
                          Case{5, 4, 64, false}, Case{11, 4, 128, true});
  const bool weighted = GENERATE(true, false);  // q_norm / k_norm, or v_norm without a weight
  const bool rope = GENERATE(true, false);      // q and k, or v
  const bool scatter = GENERATE(true, false);   // into cache rows (k, v), or the query buffer
  CAPTURE(c.rows, c.heads, c.d, c.proportional, weighted, rope, scatter);
  std::mt19937 rng(static_cast<unsigned>(c.rows * 131 + c.d));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::int64_t width = c.heads * static_cast<std::int64_t>(c.d), n = c.rows * width;
  std::vector<float> x(static_cast<std::size_t>(n)), w(static_cast<std::size_t>(c.d));
  for (std::int64_t r = 0; r < c.rows; ++r)  // rows of very different scales, one all zero
    for (std::int64_t j = 0; j < width; ++j)
      x[static_cast<std::size_t>(r * width + j)] = r == 2 ? 0.0f : std::ldexp(normal(rng), static_cast<int>(r % 9) - 4);
  for (float& v : w) v = 1.0f + 0.5f * normal(rng);
  std::vector<std::int32_t> pos(static_cast<std::size_t>(c.rows));
  for (std::int32_t& p : pos) p = static_cast<std::int32_t>(rng() % 40000);  // any order, past 32k
  RopeParams params;
  params.rope_type = c.proportional ? "proportional" : "default";
  params.rope_theta = c.proportional ? 1e6 : 1e4;
  params.partial_rotary_factor = c.proportional ? 0.25 : 1.0;
  const std::vector<float> inv_freq = cpu::rope_inv_freq(params, c.d);
  // Cache rows: reversed with gaps, row 3 dropped.
  const std::int64_t slots = 2 * c.rows + 3;
  std::vector<std::int64_t> dest(static_cast<std::size_t>(c.rows));
  for (std::int64_t r = 0; r < c.rows; ++r) dest[static_cast<std::size_t>(r)] = slots - 1 - 2 * r;
  dest[3] = -1;
  const std::int64_t out_rows = scatter ? slots : c.rows;
  const std::vector<std::uint16_t> sentinel(static_cast<std::size_t>(out_rows * width), 0x7e5a);

  const auto d_w = to_device(w), d_pos = to_device(pos), d_freq = to_device(inv_freq), d_dest = to_device(dest);
  const float* norm_w = weighted ? d_w.as<float>() : nullptr;

  auto d_x = to_device(x);  // the separate kernels, in place
  auto d_want = to_device(sentinel);
  cuda::rms_norm_in_place(d_x.as<float>(), norm_w, c.rows * c.heads, c.d, 1e-6f, nullptr);
  if (rope) cuda::apply_rope(d_x.as<float>(), c.rows, c.heads, c.d, d_pos.as<std::int32_t>(), d_freq.as<float>(), nullptr);
  if (scatter)
    cuda::scatter_rows_to_f16(d_x.as<float>(), c.rows, width, d_dest.as<std::int64_t>(), d_want.as<__half>(), nullptr);
  else
    cuda::f32_to_f16(d_x.as<float>(), n, d_want.as<__half>(), nullptr);

  const auto d_src = to_device(x);
  auto d_got = to_device(sentinel);
  cuda::prepare_attention_input({.x = d_src.as<float>(), .rows = c.rows, .heads = c.heads, .d = c.d, .norm_w = norm_w,
                                 .eps = 1e-6f, .positions = rope ? d_pos.as<std::int32_t>() : nullptr,
                                 .inv_freq = rope ? d_freq.as<float>() : nullptr,
                                 .dest_row = scatter ? d_dest.as<std::int64_t>() : nullptr, .out = d_got.as<__half>()},
                                nullptr);
  const auto want = to_host<std::uint16_t>(d_want, sentinel.size());
  const auto got = to_host<std::uint16_t>(d_got, sentinel.size());
  CHECK(std::memcmp(want.data(), got.data(), want.size() * 2) == 0);  // gaps and the dropped row: still sentinel
  CHECK(to_host<float>(d_src, x.size()) == x);                         // the projection output is not modified
}

TEST_CASE("prepare_attention_input refuses head dims it does not compile", "[gpu]") {
  cuda::DeviceBuffer buf(4096, "buf");
  for (int d : {16, 32, 96, 1024})
    CHECK_THROWS_AS(cuda::prepare_attention_input({.x = buf.as<float>(), .rows = 1, .heads = 1, .d = d,
                                                   .out = buf.as<__half>()},
                                                  nullptr),
                    Error);
}
