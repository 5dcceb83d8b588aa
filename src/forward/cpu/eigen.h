#pragma once
// Eigen types of the CPU reference: row-major fp32 matrices, one row per token, like torch's [S, H].
#include <Eigen/Core>

namespace qg::cpu {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
// A contiguous-row view with any row stride (a head's columns of a [S, n_heads * d_head] matrix).
using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;

}  // namespace qg::cpu
