#include "forward/cpu/mlp.h"

#include <cmath>

#include "common/check.h"
#include "forward/cpu/linear.h"

namespace qg::cpu {

float gelu_tanh(float z) {
  const double x = z;
  const double k_beta = std::sqrt(2.0 / M_PI);
  return static_cast<float>(0.5 * x * (1.0 + std::tanh(k_beta * (x + 0.044715 * x * x * x))));
}

void gelu_tanh_mul(MatrixRef gate, ConstMatrixRef up) {
  QG_CHECK(gate.rows() == up.rows() && gate.cols() == up.cols(), "gelu_tanh_mul shapes");
  for (Eigen::Index r = 0; r < gate.rows(); ++r)
    for (Eigen::Index c = 0; c < gate.cols(); ++c) gate(r, c) = gelu_tanh(gate(r, c)) * up(r, c);
}

Matrix dense_mlp(ConstMatrixRef x, ConstMatrixRef gate_proj, ConstMatrixRef up_proj, ConstMatrixRef down_proj,
                 ThreadPool& pool) {
  Matrix gate = linear(x, gate_proj, pool);
  const Matrix up = linear(x, up_proj, pool);
  gelu_tanh_mul(gate, up);
  return linear(gate, down_proj, pool);
}

}  // namespace qg::cpu
