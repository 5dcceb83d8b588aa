#include "forward/cpu/ple.h"

#include <cmath>

#include "common/check.h"
#include "common/dtype.h"
#include "forward/cpu/embedding.h"
#include "forward/cpu/linear.h"
#include "forward/cpu/mlp.h"
#include "forward/cpu/norms.h"

namespace qg::cpu {

Matrix ple_inputs(ConstMatrixRef e, ConstMatrixRef ple_rows, ConstMatrixRef projection,
                  const float* projection_norm, std::int64_t d_ple, double eps, ThreadPool& pool) {
  const std::int64_t n = e.rows(), width = projection.rows();
  QG_CHECK(ple_rows.rows() == n && ple_rows.cols() == width && width % d_ple == 0, "PLE shapes");
  // Python scalars (hidden_size**-0.5, 2.0**-0.5) multiply fp32 tensors as fp32 values.
  const auto projection_scale = static_cast<float>(std::pow(static_cast<double>(e.cols()), -0.5));
  const auto combine_scale = static_cast<float>(std::pow(2.0, -0.5));
  const float token_scale = embed_scale(d_ple, DType::kF32);

  Matrix ctx = linear(e, projection, pool);
  ctx *= projection_scale;
  rms_norm(ctx.data(), n * (width / d_ple), d_ple, projection_norm, eps, ctx.data());
  for (std::int64_t t = 0; t < n; ++t)
    for (std::int64_t j = 0; j < width; ++j)
      ctx(t, j) = (ctx(t, j) + ple_rows(t, j) * token_scale) * combine_scale;
  return ctx;
}

void ple_branch(MatrixRef x, ConstMatrixRef ple_layer, ConstMatrixRef gate, ConstMatrixRef projection,
                const float* post_norm, double eps, ThreadPool& pool) {
  QG_CHECK(ple_layer.rows() == x.rows() && ple_layer.cols() == gate.rows(), "PLE branch shapes");
  Matrix g = linear(x, gate, pool);
  for (Eigen::Index t = 0; t < g.rows(); ++t)
    for (Eigen::Index j = 0; j < g.cols(); ++j) g(t, j) = gelu_tanh(g(t, j)) * ple_layer(t, j);
  Matrix y = linear(g, projection, pool);
  rms_norm(y.data(), y.rows(), y.cols(), post_norm, eps, y.data());
  x += y;
}

}  // namespace qg::cpu
