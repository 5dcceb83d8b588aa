#pragma once
// Attention by GEMMs, the engine's fast-precision path (issue 11): per run of query rows of one sequence and per
// kv head, S = Q·Kᵀ and O = P·V are cuBLAS fp16 tensor-core GEMMs (fp32 accumulation, fp32 S and O) and
// kernels/attention_softmax_kernels.cu masks and normalizes S into fp16 P in between. Only the keys a block of
// query rows can see are multiplied (sliding layers: the window before the block's first row), and query rows
// are taken in blocks whose scores fit a fixed budget, so nothing grows with the square of the context.
// Rounding: Q and P to fp16 (2^-11 relative; K/V are already fp16 in fast precision), the rest fp32 — the same
// class as flash attention's tensor-core kernels. The accurate precision keeps kernels/attention_kernels.cu (fp32
// cache, fp32 dot products).
//
// Where the GPU allows it (head dims 64..512 whose tiles fit its shared memory, sm_80+), the same attention runs
// as one fused kernel instead (kernels/flash_attention_kernels.cuh): no score matrix in memory, same rounding
// class, tested against the same reference with the same bounds. Method::kAuto picks it; kGemm / kFused force one.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "forward/cuda/gemm.h"
#include "forward/shared_layer_rows.h"
#include "kernels/device_buffer.h"

namespace qg::cuda {

using qg::AttentionSpan;  // forward/shared_layer_rows.h

struct GemmAttentionArgs {
  const float* q = nullptr;  // [rows, n_heads, d] fp32, normed and roped; or
  const __half* q16 = nullptr;  // the same already in fp16 (e.g. written into query_buffer()): q is then not read
  const __half* k = nullptr;  // cache [cache_rows, n_kv_heads, d] fp16
  const __half* v = nullptr;
  std::int64_t rows = 0;
  int n_heads = 0, n_kv_heads = 0, d = 0;  // d a multiple of 8; n_heads a multiple of n_kv_heads
  std::int64_t window = 0;                 // 0: full causal
  float* out = nullptr;  // [rows, n_heads, d] fp32; may be q itself (q is converted to fp16 before any write)
  // When set, the output is wanted as bf16 here instead (RNE of the same fp32 values): the fused kernel writes it
  // directly, the GEMM path writes `out` (still required, as its scratch) and converts it.
  __nv_bfloat16* out_bf16 = nullptr;
};

class GemmAttention {
 public:
  enum class Method { kAuto, kGemm, kFused };
  // Scores and probabilities of one block of query rows take at most score_bytes (fp32 + fp16 per score).
  static constexpr std::size_t kDefaultScoreBytes = std::size_t{128} << 20;
  // Device memory it holds for steps of max_rows rows whose queries are max_q_width = n_heads * d wide.
  static std::size_t bytes(std::int64_t max_rows, std::int64_t max_q_width, std::size_t score_bytes);

  // fused_slice: the fused kernel's output columns per CTA (0: the widest that fits the GPU; tests force others).
  GemmAttention(std::int64_t max_rows, std::int64_t max_q_width, std::size_t score_bytes, Method method = Method::kAuto,
                int fused_slice = 0);
  ~GemmAttention();
  GemmAttention(const GemmAttention&) = delete;
  GemmAttention& operator=(const GemmAttention&) = delete;
  void run(const Gemm& gemm, const GemmAttentionArgs& args, std::span<const AttentionSpan> spans,
           cudaStream_t stream);
  // Whether run() uses the fused kernel for head dim d on the current device.
  bool fused(int d) const;
  // The fp16 query buffer run() converts q into: [max_rows, max_q_width]; a caller may fill it and pass q16.
  __half* query_buffer() const { return q16_.as<__half>(); }

 private:
  void run_fused(const GemmAttentionArgs& args, const __half* q16, std::span<const AttentionSpan> spans,
                 cudaStream_t stream);

  std::int64_t max_rows_ = 0, max_q_width_ = 0;
  std::size_t score_bytes_ = 0;
  Method method_ = Method::kAuto;
  int slice_ = 0;
  int device_ = 0;
  DeviceBuffer q16_, scores_;  // scores_: fp32 S then fp16 P, one block at a time
  // The fused kernel's 64-row query blocks of a list of spans, built on the host (page-locked, so the upload is
  // asynchronous). Two tables: a step whose KV-shared layers run fewer rows (forward/shared_layer_rows.h) switches
  // spans mid-step, and each list keeps its table; a table is rewritten only after its last upload finished (its
  // event), never by synchronizing the stream, which would stall the CPU's launches.
  struct BlockTable {
    DeviceBuffer device;
    void* host = nullptr;
    cudaEvent_t uploaded = nullptr;
    std::vector<AttentionSpan> spans;
    std::int64_t n_blocks = 0;
    std::uint64_t last_use = 0;
    bool built = false;
  };
  const BlockTable& block_table(std::span<const AttentionSpan> spans, cudaStream_t stream);
  BlockTable tables_[2];
  std::uint64_t uses_ = 0;
  std::int64_t max_blocks_ = 0;
};

}  // namespace qg::cuda
