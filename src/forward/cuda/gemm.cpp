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

// A column-major matrix layout on the stack (cublasLtMatrixLayoutInit allocates nothing: a GEMM call costs no
// host allocation).
struct Layout {
  cublasLtMatrixLayoutOpaque_t storage{};
  Layout(cudaDataType_t type, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    check(cublasLtMatrixLayoutInit(&storage, type, static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols),
                                   ld),
          "cublasLtMatrixLayoutInit");
  }
  cublasLtMatrixLayout_t get() { return &storage; }
};

template <typename T>
T algo_config(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attribute) {
  T value{};
  std::size_t written = 0;
  check(cublasLtMatmulAlgoConfigGetAttribute(&algo, attribute, &value, sizeof value, &written),
        "cublasLtMatmulAlgoConfigGetAttribute");
  return value;
}

// Our buffers are cudaMalloc'd (256-byte aligned) but GEMMs also run on row offsets into them: rows of K bf16 or N
// fp32 with K, N multiples of 8, i.e. 16-byte aligned. Algorithms needing more are excluded.
constexpr std::uint32_t kMinAlignmentBytes = 16;
}  // namespace

Gemm::Gemm(cudaStream_t stream, std::size_t workspace_bytes, std::int64_t reference_rows)
    : stream_(stream), reference_rows_(reference_rows), workspace_(workspace_bytes, "cuBLAS workspace") {
  if (reference_rows <= 0) throw Error(fmt::format("GEMM reference rows must be positive, got {}", reference_rows));
  check(cublasCreate(&handle_), "cublasCreate");
  check(cublasSetStream(handle_, stream), "cublasSetStream");
  check(cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes()), "cublasSetWorkspace");
  // Atomics-free reductions: the same inputs give the same bits run to run.
  check(cublasSetAtomicsMode(handle_, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
  check(cublasLtCreate(&lt_), "cublasLtCreate");
  check(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t transposed = CUBLAS_OP_T, plain = CUBLAS_OP_N;
  check(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &transposed, sizeof transposed),
        "cublasLtMatmulDescSetAttribute");
  check(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &plain, sizeof plain),
        "cublasLtMatmulDescSetAttribute");
}

Gemm::~Gemm() {
  if (desc_ != nullptr) cublasLtMatmulDescDestroy(desc_);
  if (lt_ != nullptr) cublasLtDestroy(lt_);
  if (handle_ != nullptr) cublasDestroy(handle_);
}

// Column-major view of the bf16 GEMM: yᵀ[N, M] = op(W)·xᵀ where row-major W[N, K] is column-major [K, N] (OP_T)
// and row-major x[M, K] is column-major xᵀ[K, M].
const Gemm::Pinned& Gemm::pinned(std::int64_t n, std::int64_t k, bool f32_inputs, bool bf16_output) const {
  const auto key = std::make_tuple(n, k, f32_inputs, bf16_output);
  if (auto it = pinned_.find(key); it != pinned_.end()) return it->second;
  const cudaDataType_t in = f32_inputs ? CUDA_R_32F : CUDA_R_16BF;
  Layout a(in, k, n, k), b(in, k, reference_rows_, k), c(bf16_output ? CUDA_R_16BF : CUDA_R_32F, n, reference_rows_, n);
  cublasLtMatmulPreferenceOpaque_t pref_storage{};
  cublasLtMatmulPreference_t pref = &pref_storage;
  check(cublasLtMatmulPreferenceInit(pref), "cublasLtMatmulPreferenceInit");
  const std::uint64_t max_workspace = workspace_.bytes();
  check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace,
                                             sizeof max_workspace),
        "cublasLtMatmulPreferenceSetAttribute");
  // No split-K: its partial sums (and how many there are) would depend on the problem size.
  const std::uint32_t no_reduction = CUBLASLT_REDUCTION_SCHEME_NONE;
  check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &no_reduction,
                                             sizeof no_reduction),
        "cublasLtMatmulPreferenceSetAttribute");
  for (auto attribute : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                         CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    check(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &kMinAlignmentBytes, sizeof kMinAlignmentBytes),
          "cublasLtMatmulPreferenceSetAttribute");
  constexpr int kCandidates = 8;
  cublasLtMatmulHeuristicResult_t results[kCandidates]{};
  int returned = 0;
  check(cublasLtMatmulAlgoGetHeuristic(lt_, desc_, a.get(), b.get(), c.get(), c.get(), pref, kCandidates, results,
                                       &returned),
        "cublasLtMatmulAlgoGetHeuristic");
  for (int i = 0; i < returned; ++i) {
    if (results[i].state != CUBLAS_STATUS_SUCCESS) continue;
    const cublasLtMatmulAlgo_t& algo = results[i].algo;
    const auto split_k = algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM);
    if (split_k > 1) continue;  // the mask above should exclude these already
    Pinned p{algo, fmt::format("algo {} tile {} stages {} split-K {}",
                               algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_ID),
                               algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_TILE_ID),
                               algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID), split_k)};
    return pinned_.emplace(key, p).first->second;
  }
  throw Error(fmt::format("cuBLASLt offers no {} GEMM algorithm without split-K for N = {}, K = {} ({} candidates)",
                          f32_inputs ? "fp32" : "bf16", n, k, returned));
}

std::string Gemm::pinned_algorithm(std::int64_t n, std::int64_t k, bool f32_inputs, bool bf16_output) const {
  return pinned(n, k, f32_inputs, bf16_output).what;
}

void Gemm::matmul(const void* x, const void* w, void* y, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                  float beta, bool f32_inputs, bool bf16_output) const {
  if (m == 0) return;
  if (m < 0 || n <= 0 || k <= 0) throw Error(fmt::format("GEMM of shape m {} n {} k {}", m, n, k));
  const Pinned& p = pinned(n, k, f32_inputs, bf16_output);
  const cudaDataType_t in = f32_inputs ? CUDA_R_32F : CUDA_R_16BF;
  Layout a(in, k, n, k), b(in, k, m, k), c(bf16_output ? CUDA_R_16BF : CUDA_R_32F, n, m, n);
  check(cublasLtMatmul(lt_, desc_, &alpha, w, a.get(), x, b.get(), &beta, y, c.get(), y, c.get(), &p.algo,
                       workspace_.get(), workspace_.bytes(), stream_),
        f32_inputs ? "fp32 GEMM (cuBLASLt, pinned algorithm)" : "bf16 GEMM (cuBLASLt, pinned algorithm)");
}

void Gemm::bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, float* y, std::int64_t m, std::int64_t n,
                std::int64_t k, float alpha, float beta) const {
  matmul(x, w, y, m, n, k, alpha, beta, false, false);
}

void Gemm::f32(const float* x, const float* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k) const {
  matmul(x, w, y, m, n, k, 1.0f, 0.0f, true, false);
}

void Gemm::bf16_to_bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, std::int64_t m,
                        std::int64_t n, std::int64_t k) const {
  matmul(x, w, y, m, n, k, 1.0f, 0.0f, false, true);
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
