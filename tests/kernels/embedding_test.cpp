// Embedding kernels vs their host references (kernels/ref/embedding_ref.h): scaled row gather with repeated
// and extreme ids, and the PLE combine over several layers, ragged P and 1 row.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"
#include "kernels/device_io.h"
#include "kernels/embedding_kernels.cuh"
#include "kernels/ref/embedding_ref.h"

using namespace qg;
using qg::test::to_device;
using qg::test::to_host;

namespace {

std::vector<std::uint16_t> bf16_table(std::size_t n, float sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<std::uint16_t> t(n);
  for (auto& v : t) v = f32_to_bf16(normal(rng));
  return t;
}

std::vector<std::int32_t> some_ids(std::int64_t rows, std::int32_t vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> id(0, vocab - 1);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(rows));
  for (auto& v : ids) v = id(rng);
  ids[0] = vocab - 1;  // last table row
  if (rows > 2) ids[2] = ids[1];  // repeated token
  if (rows > 3) ids[3] = 0;
  return ids;
}

}  // namespace

TEST_CASE("embed_rows gathers and scales table rows exactly", "[gpu]") {
  const std::int64_t width = GENERATE(1, 7, 2560), rows = GENERATE(1, 9);
  CAPTURE(width, rows);
  const std::int32_t vocab = 37;
  const auto table = bf16_table(static_cast<std::size_t>(vocab * width), 0.05f, 1);
  const auto ids = some_ids(rows, vocab, 2);
  const float scale = 50.596443f;  // E4B's fp32 sqrt(2560)
  const auto d_table = to_device(table), d_ids = to_device(ids);
  cuda::DeviceBuffer d_out(static_cast<std::size_t>(rows * width) * 4, "embed out");
  cuda::embed_rows(d_table.as<__nv_bfloat16>(), width, d_ids.as<std::int32_t>(), rows, scale, d_out.as<float>(), nullptr);
  const auto got = to_host<float>(d_out, static_cast<std::size_t>(rows * width));
  CHECK(got == cuda::ref::embed_rows_ref(table, width, ids, scale));  // one exact widening and one fp32 product
}

struct PleCase {
  std::int64_t rows, n_layers, d_ple;
};

TEST_CASE("ple_combine matches the host reference", "[gpu]") {
  const PleCase c = GENERATE(PleCase{1, 1, 16}, PleCase{5, 3, 33}, PleCase{4, 7, 256}, PleCase{2, 2, 1100});
  const bool weighted = GENERATE(true, false);
  CAPTURE(c.rows, c.n_layers, c.d_ple, weighted);
  const std::int64_t width = c.n_layers * c.d_ple;
  const std::int32_t vocab = 19;
  const auto table = bf16_table(static_cast<std::size_t>(vocab * width), 0.03f, 3);
  const auto ids = some_ids(c.rows, vocab, 4);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> ctx(static_cast<std::size_t>(c.rows * width)), w;
  for (float& v : ctx) v = normal(rng);
  if (weighted) {
    w.resize(static_cast<std::size_t>(c.d_ple));
    for (float& v : w) v = 1.0f + 0.1f * normal(rng);
  }
  const float ctx_scale = 0.019764235f, token_scale = 16.0f, combine_scale = 0.70710677f, eps = 1e-6f;

  const auto d_ctx = to_device(ctx), d_table = to_device(table), d_ids = to_device(ids);
  const cuda::DeviceBuffer d_w = weighted ? to_device(w) : cuda::DeviceBuffer{};
  cuda::DeviceBuffer d_out(ctx.size() * 4, "ple out");
  cuda::ple_combine(d_ctx.as<float>(), d_table.as<__nv_bfloat16>(), d_ids.as<std::int32_t>(), d_w.as<float>(), c.rows,
                    c.n_layers, c.d_ple, ctx_scale, token_scale, combine_scale, eps, d_out.as<float>(), nullptr);
  const auto got = to_host<float>(d_out, ctx.size());
  const auto want = cuda::ref::ple_combine_ref(ctx, table, ids, w, c.n_layers, c.d_ple, ctx_scale, token_scale,
                                               combine_scale, eps);
  std::size_t bad = 0, exact = 0;
  for (std::int64_t r = 0; r < c.rows; ++r)
    for (std::int64_t j = 0; j < width; ++j) {
      const auto i = static_cast<std::size_t>(r * width + j);
      const float tok = bf16_to_f32(table[static_cast<std::size_t>(ids[static_cast<std::size_t>(r)] * width + j)]);
      // Only the norm's inv_rms can differ (double sums in another order, see norm_test.cpp): the normed value n
      // by <= 3 * 2^-23 |n|, then (n + t) * s adds two roundings. With |n| <= |n + t| + |t| everything is
      // below 2^-20 (|out| + |t| s).
      const float tol = (std::fabs(want[i]) + std::fabs(tok * token_scale) * combine_scale) / static_cast<float>(1 << 20);
      bad += !(std::fabs(got[i] - want[i]) <= tol);
      exact += f32_to_bits(got[i]) == f32_to_bits(want[i]);
    }
  CHECK(bad == 0);
  CHECK(exact >= ctx.size() * 99 / 100);  // inv_rms differs in ~1e-8 of the rows
}
