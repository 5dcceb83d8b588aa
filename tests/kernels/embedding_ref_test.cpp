// kernels/ref/embedding_ref.h against forward/cpu: ple_combine_ref after the same projection GEMM equals
// cpu::ple_inputs bit for bit (same scales, norm and operation order); embed_rows_ref on hand values.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "catch.h"
#include "common/dtype.h"
#include "common/float_formats.h"
#include "forward/cpu/eigen.h"
#include "forward/cpu/embedding.h"
#include "forward/cpu/linear.h"
#include "forward/cpu/ple.h"
#include "forward/cpu/thread_pool.h"
#include "kernels/ref/embedding_ref.h"

using namespace qg;

TEST_CASE("ple_combine_ref equals cpu::ple_inputs", "[kernels_ref]") {
  const std::int64_t d_ple = GENERATE(16, 256), n_layers = GENERATE(1, 4);
  CAPTURE(d_ple, n_layers);
  const std::int64_t rows = 5, d_model = 96, width = n_layers * d_ple;
  const std::int32_t vocab = 11;
  const float eps = 1e-6f;
  std::mt19937 rng(static_cast<unsigned>(d_ple + n_layers));
  std::normal_distribution<float> normal(0.0f, 1.0f);

  cpu::Matrix e(rows, d_model), projection(width, d_model);
  for (Eigen::Index i = 0; i < e.size(); ++i) e.data()[i] = 3.0f * normal(rng);
  for (Eigen::Index i = 0; i < projection.size(); ++i) projection.data()[i] = 0.1f * normal(rng);
  std::vector<std::uint16_t> table(static_cast<std::size_t>(vocab * width));
  for (auto& v : table) v = f32_to_bf16(0.02f * normal(rng));
  std::vector<float> norm_w(static_cast<std::size_t>(d_ple));
  for (float& v : norm_w) v = 1.0f + 0.2f * normal(rng);
  const std::vector<std::int32_t> ids = {3, 0, 10, 3, 7};

  cpu::Matrix ple_rows(rows, width);  // E_ple[ids] widened, as the CPU's TableRows::gather produces it
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < width; ++j) ple_rows(r, j) = bf16_to_f32(table[static_cast<std::size_t>(ids[static_cast<std::size_t>(r)] * width + j)]);

  cpu::ThreadPool pool(1);
  const cpu::Matrix want = cpu::ple_inputs(e, ple_rows, projection, norm_w.data(), d_ple, static_cast<double>(eps), pool);
  const cpu::Matrix ctx = cpu::linear(e, projection, pool);  // what the engine's GEMM hands to ple_combine
  // The scales as ple.cpp derives them (the engine must pass these exact fp32 values).
  const auto ctx_scale = static_cast<float>(std::pow(static_cast<double>(d_model), -0.5));
  const float token_scale = cpu::embed_scale(d_ple, DType::kF32);
  const auto combine_scale = static_cast<float>(std::pow(2.0, -0.5));
  const auto got = cuda::ref::ple_combine_ref(std::vector<float>(ctx.data(), ctx.data() + ctx.size()), table, ids, norm_w,
                                              n_layers, d_ple, ctx_scale, token_scale, combine_scale, eps);
  std::size_t differ = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < width; ++j)
      differ += f32_to_bits(got[static_cast<std::size_t>(r * width + j)]) != f32_to_bits(want(r, j));
  CHECK(differ == 0);
}

TEST_CASE("embed_rows_ref gathers and scales rows", "[kernels_ref]") {
  // table rows: 0 = (1, -2), 1 = (0.5, 3); ids (1, 1, 0), scale 50.596443 (E4B fp32 sqrt(2560)).
  const std::vector<std::uint16_t> table = {f32_to_bf16(1.0f), f32_to_bf16(-2.0f), f32_to_bf16(0.5f), f32_to_bf16(3.0f)};
  const float s = 50.596443f;
  const auto out = cuda::ref::embed_rows_ref(table, 2, {1, 1, 0}, s);
  CHECK(out == std::vector<float>{0.5f * s, 3.0f * s, 0.5f * s, 3.0f * s, 1.0f * s, -2.0f * s});
}
