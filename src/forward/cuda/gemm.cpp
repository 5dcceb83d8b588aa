#include "forward/cuda/gemm.h"

#include <fmt/format.h>

#include <climits>

#include "common/error.h"

namespace qg::cuda {

namespace {
void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(fmt::format("cuBLAS {} failed: {} ({})", what, cublasGetStatusName(status),
                            cublasGetStatusString(status)));
}
int to_int(std::int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw Error(fmt::format("GEMM {} = {} exceeds cuBLAS's 32-bit sizes", what, v));
  return static_cast<int>(v);
}
}  // namespace

Gemm::Gemm(cudaStream_t stream, std::size_t workspace_bytes) : workspace_(workspace_bytes, "cuBLAS workspace") {
  check(cublasCreate(&handle_), "cublasCreate");
  check(cublasSetStream(handle_, stream), "cublasSetStream");
  check(cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes()), "cublasSetWorkspace");
  // Atomics-free reductions: the same inputs give the same bits run to run.
  check(cublasSetAtomicsMode(handle_, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
}

Gemm::~Gemm() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

void Gemm::bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, float* y, std::int64_t m, std::int64_t n,
                std::int64_t k, float alpha, float beta) const {
  if (m == 0) return;
  // Column-major view: yᵀ[N, M] = W[N, K] · xᵀ[K, M]; W row-major [N, K] is column-major [K, N], hence OP_T.
  const int M = to_int(m, "m"), N = to_int(n, "n"), K = to_int(k, "k");
  check(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, w, CUDA_R_16BF, K, x, CUDA_R_16BF, K, &beta,
                     y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "bf16 GEMM");
}

void Gemm::f32(const float* x, const float* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k) const {
  if (m == 0) return;
  const int M = to_int(m, "m"), N = to_int(n, "n"), K = to_int(k, "k");
  const float alpha = 1.0f, beta = 0.0f;
  check(cublasSgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, w, K, x, K, &beta, y, N), "fp32 GEMM");
}

void Gemm::f16_batched(const F16Batched& g) const {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  // Column-major view of row-major C[m, n] is Cᵀ[n, m]: Cᵀ = op(B)ᵀ·Aᵀ, where the column-major view of row-major
  // B is Bᵀ; so B[n, k] needs OP_T and B[k, n] OP_N, and A's view is Aᵀ[k, m] (OP_N).
  const int M = to_int(g.m, "m"), N = to_int(g.n, "n"), K = to_int(g.k, "k"), batch = to_int(g.batch, "batch");
  const float alpha = 1.0f, beta = 0.0f;
  check(cublasGemmStridedBatchedEx(handle_, g.b_is_nk ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &alpha, g.b,
                                   CUDA_R_16F, to_int(g.ldb, "ldb"), g.sb, g.a, CUDA_R_16F, to_int(g.lda, "lda"), g.sa,
                                   &beta, g.c, CUDA_R_32F, to_int(g.ldc, "ldc"), g.sc, batch, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT),
        "fp16 batched GEMM");
}

}  // namespace qg::cuda
