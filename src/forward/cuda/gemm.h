#pragma once
// cuBLAS GEMMs of the engine, in nn.Linear layout: y[M, N] = alpha * x[M, K] · W[N, K]ᵀ + beta * y.
// bf16 inputs, fp32 accumulation and fp32 output (CUBLAS_COMPUTE_32F): the activations are rounded to bf16
// once, at the GEMM input, and nothing else is. The router GEMM runs in plain fp32 (no TF32: the math mode
// is left at CUBLAS_DEFAULT_MATH, which never uses TF32 for fp32 GEMMs), because a tiny error there can swap
// an expert (gemma4-text.md §15 item 16).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/device_buffer.h"

namespace qg::cuda {

class Gemm {
 public:
  // cuBLAS gets a workspace of our own (counted by the memory planner) and runs on `stream`.
  Gemm(cudaStream_t stream, std::size_t workspace_bytes);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, float* y, std::int64_t m, std::int64_t n,
            std::int64_t k, float alpha = 1.0f, float beta = 0.0f) const;
  void f32(const float* x, const float* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k) const;

  // Strided-batched fp16 GEMM, fp32 accumulation and output, in row-major terms: for b < batch,
  //   C_b[m, n] = A_b[m, k] · B_bᵀ      (b_is_nk: B_b is [n, k], e.g. attention scores Q·Kᵀ)
  //   C_b[m, n] = A_b[m, k] · B_b       (otherwise: B_b is [k, n], e.g. P·V)
  // with row strides lda/ldb/ldc and batch strides sa/sb/sc in elements (sb = 0: one B for every batch).
  struct F16Batched {
    const __half* a = nullptr;
    std::int64_t lda = 0, sa = 0;
    const __half* b = nullptr;
    std::int64_t ldb = 0, sb = 0;
    bool b_is_nk = true;
    float* c = nullptr;
    std::int64_t ldc = 0, sc = 0;
    std::int64_t m = 0, n = 0, k = 0, batch = 1;
  };
  void f16_batched(const F16Batched& g) const;

  static constexpr std::size_t kDefaultWorkspaceBytes = std::size_t{32} << 20;

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
};

}  // namespace qg::cuda
