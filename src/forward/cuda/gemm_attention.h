#pragma once
// Attention by GEMMs, the engine's fast-precision path (issue 11): per run of query rows of one sequence and per
// kv head, S = Q·Kᵀ and O = P·V are cuBLAS fp16 tensor-core GEMMs (fp32 accumulation, fp32 S and O) and
// kernels/attention_softmax_kernels.cu masks and normalizes S into fp16 P in between. Only the keys a block of
// query rows can see are multiplied (sliding layers: the window before the block's first row), and query rows
// are taken in blocks whose scores fit a fixed budget, so nothing grows with the square of the context.
// Rounding: Q and P to fp16 (2^-11 relative; K/V are already fp16 in fast precision), the rest fp32 — the same
// class as flash attention's tensor-core kernels. The accurate precision keeps kernels/attention_kernels.cu (fp32
// cache, fp32 dot products).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <span>

#include "forward/cuda/gemm.h"
#include "kernels/device_buffer.h"

namespace qg::cuda {

// Consecutive step rows of one sequence: rows [first_row, first_row + n_rows) are the queries at positions
// first_position.., and key j of the sequence is cache row kv_start + j.
struct AttentionSpan {
  std::int64_t first_row = 0, n_rows = 0, first_position = 0, kv_start = 0;
};

struct GemmAttentionArgs {
  const float* q = nullptr;  // [rows, n_heads, d] fp32, normed and roped
  const __half* k = nullptr;  // cache [cache_rows, n_kv_heads, d] fp16
  const __half* v = nullptr;
  std::int64_t rows = 0;
  int n_heads = 0, n_kv_heads = 0, d = 0;  // d a multiple of 8; n_heads a multiple of n_kv_heads
  std::int64_t window = 0;                 // 0: full causal
  float* out = nullptr;  // [rows, n_heads, d] fp32; may be q itself (q is converted to fp16 before any write)
};

class GemmAttention {
 public:
  // Scores and probabilities of one block of query rows take at most score_bytes (fp32 + fp16 per score).
  static constexpr std::size_t kDefaultScoreBytes = std::size_t{128} << 20;
  // Device memory it holds for steps of max_rows rows whose queries are max_q_width = n_heads * d wide.
  static std::size_t bytes(std::int64_t max_rows, std::int64_t max_q_width, std::size_t score_bytes);

  GemmAttention(std::int64_t max_rows, std::int64_t max_q_width, std::size_t score_bytes);
  void run(const Gemm& gemm, const GemmAttentionArgs& args, std::span<const AttentionSpan> spans,
           cudaStream_t stream);

 private:
  std::int64_t max_rows_ = 0, max_q_width_ = 0;
  std::size_t score_bytes_ = 0;
  DeviceBuffer q16_, scores_;  // scores_: fp32 S then fp16 P, one block at a time
};

}  // namespace qg::cuda
