#pragma once
// y = x · wᵀ (torch's nn.Linear without bias) in fp32, on several threads.
#include "forward/cpu/eigen.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

// x: [m, k], w: [n, k] (the checkpoint's [out, in] layout), y: [m, n] (resized by the caller).
// Each thread computes a block of output features with Eigen's GEMM; the reduction over k is never
// split, so every output element is one fp32 dot product, as in torch's CPU sgemm.
void linear(ConstMatrixRef x, ConstMatrixRef w, MatrixRef y, ThreadPool& pool);

// Convenience: returns x · wᵀ.
Matrix linear(ConstMatrixRef x, ConstMatrixRef w, ThreadPool& pool);

}  // namespace qg::cpu
