#pragma once
// cuBLAS GEMMs of the engine, in nn.Linear layout: y[M, N] = alpha * x[M, K] · W[N, K]ᵀ + beta * y.
// bf16 inputs, fp32 accumulation and fp32 output (CUBLAS_COMPUTE_32F): the activations are rounded to bf16
// once, at the GEMM input, and nothing else is. The router GEMM runs in plain fp32 (no TF32: the math mode
// is left at CUBLAS_DEFAULT_MATH, which never uses TF32 for fp32 GEMMs), because a tiny error there can swap
// an expert (gemma4-text.md §15 item 16).
//
// Batch invariance (issue 8): a row's output must not depend on how many other rows share the GEMM, so that a
// sequence's logits are bit-identical whatever it is batched with. cuBLAS's default picks another kernel (tile,
// split-K) for another M, which changes the order of the K-sum. So `bf16` and `f32` run through cuBLASLt with the algorithm
// pinned per (N, K): chosen once by the heuristic for `reference_rows` rows (the engine's step size) among
// algorithms without split-K, then used for every M. One kernel with one K-loop computes each output element the
// same way wherever its row sits, so rows are independent (tested on the engine's shapes in tests/forward).
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "kernels/device_buffer.h"

namespace qg::cuda {

class Gemm {
 public:
  // cuBLAS gets a workspace of our own (counted by the memory planner) and runs on `stream`; bf16 GEMMs use the
  // algorithm cuBLASLt picks for `reference_rows` rows at every M.
  Gemm(cudaStream_t stream, std::size_t workspace_bytes, std::int64_t reference_rows = 2048);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, float* y, std::int64_t m, std::int64_t n,
            std::int64_t k, float alpha = 1.0f, float beta = 0.0f) const;
  void f32(const float* x, const float* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k) const;
  // The same bf16 GEMM with its fp32 sums rounded to bf16 on the way out (the epilogue's round-to-nearest-even):
  // for a fast-precision output read by one elementwise kernel only (half the bytes written and read back).
  void bf16_to_bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, std::int64_t m,
                    std::int64_t n, std::int64_t k) const;

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

  // The algorithm pinned for GEMMs of shape (n, k) with bf16 (or fp32) inputs, e.g. "algo 66 tile 21 stages 8
  // split-K 1", chosen on first use (for logs and tests).
  std::string pinned_algorithm(std::int64_t n, std::int64_t k, bool f32_inputs = false, bool bf16_output = false) const;

 private:
  struct Pinned {
    cublasLtMatmulAlgo_t algo{};
    std::string what;
  };
  const Pinned& pinned(std::int64_t n, std::int64_t k, bool f32_inputs, bool bf16_output) const;
  void matmul(const void* x, const void* w, void* y, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              float beta, bool f32_inputs, bool bf16_output) const;

  cudaStream_t stream_ = nullptr;
  std::int64_t reference_rows_ = 0;
  cublasHandle_t handle_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;  // compute and scale fp32 (no TF32), A transposed
  DeviceBuffer workspace_;
  mutable std::map<std::tuple<std::int64_t, std::int64_t, bool, bool>, Pinned> pinned_;  // n, k, fp32 in, bf16 out
};

}  // namespace qg::cuda
