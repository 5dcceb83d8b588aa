#pragma once
// cuBLAS GEMMs of the engine, in nn.Linear layout: y[M, N] = alpha * x[M, K] · W[N, K]ᵀ + beta * y.
// bf16 inputs, fp32 accumulation and fp32 output (CUBLAS_COMPUTE_32F): the activations are rounded to bf16
// once, at the GEMM input, and nothing else is. The router GEMM runs in plain fp32 (no TF32: the math mode
// is left at CUBLAS_DEFAULT_MATH, which never uses TF32 for fp32 GEMMs), because a tiny error there can swap
// an expert (gemma4-text.md §15 item 16).
#include <cublas_v2.h>
#include <cuda_bf16.h>
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

  static constexpr std::size_t kDefaultWorkspaceBytes = std::size_t{32} << 20;

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
};

}  // namespace qg::cuda
