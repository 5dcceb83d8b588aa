#pragma once
// y = x · wᵀ (torch's nn.Linear without bias) in fp32, on several threads.
#include "forward/cpu/eigen.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

// x: [m, k], w: [n, k] (the checkpoint's [out, in] layout), y: [m, n] (resized by the caller).
// Each thread computes a block of output features with Eigen's GEMM (fp32 accumulation, as torch's CPU
// sgemm); the reduction over k is never split across threads.
void linear(ConstMatrixRef x, ConstMatrixRef w, MatrixRef y, ThreadPool& pool);

// Convenience: returns x · wᵀ.
Matrix linear(ConstMatrixRef x, ConstMatrixRef w, ThreadPool& pool);

}  // namespace qg::cpu
