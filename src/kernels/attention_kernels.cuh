#pragma once
// Causal / sliding-window attention over an fp16 or fp32 K/V cache, for packed rows of several sequences (no
// padding), without an S x S matrix in memory (online softmax, fp32 scores, softmax and accumulation).
// Why fp16 and not bf16: the attention scale is 1.0 and q/k are RMS-normalized, so scores are large and
// bf16's 2^-9 relative rounding of K moves them a lot. K and V are RMS-normalized right before they are
// cached (v by a weightless norm, so |v_i| <= sqrt(d); k by the norm times the k_norm weight), which fits
// fp16's range (65504) with 8x less rounding error than bf16 at the same memory.
// fp32 K/V (`k_f32`, `v_f32`): the engine's accurate mode, where fp16's 2^-11 rounding of K/V was the last
// perturbation left (enough to swap near-tied MoE experts). Same arithmetic, same order: a cache holding
// fp16-representable values gives bit-identical output either way. Exactly one pair must be set.
// Output: bf16 (`out`, rounded once) or fp32 (`out_f32`, the same value unrounded; the engine's
// accurate mode); exactly one of the two must be set.
// gemma4-text.md §7: scale 1.0, no softcap, GQA with contiguous groups (query head h reads kv head
// h / (n_heads / n_kv_heads)), sliding layers see keys j with p - window < j <= p.
// Host reference: kernels/ref/attention_ref.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

struct AttentionParams {
  const float* q = nullptr;                // [rows, n_heads, d] fp32 (normed and roped)
  const __half* k = nullptr;               // cache [cache_rows, n_kv_heads, d] fp16 (fast mode)
  const __half* v = nullptr;               // cache [cache_rows, n_kv_heads, d] fp16
  const float* k_f32 = nullptr;            // cache [cache_rows, n_kv_heads, d] fp32 (accurate mode)
  const float* v_f32 = nullptr;            // cache [cache_rows, n_kv_heads, d] fp32
                                           // Exactly one pair is set, (k, v) or (k_f32, v_f32), else
                                           // qg::Error when rows > 0 (a mixed or half-set pair is an
                                           // error too); all four must be 16-byte aligned when set
  const std::int32_t* position = nullptr;  // [rows]: absolute position p of each query row
  const std::int64_t* kv_start = nullptr;  // [rows]: cache row holding position 0 of the row's sequence;
                                           // key j of that sequence is cache row kv_start[r] + j, j <= p
  std::int64_t rows = 0;
  int n_heads = 0, n_kv_heads = 0, d = 0;  // d: any multiple of 8 up to 512
  std::int64_t window = 0;                 // 0: full causal; else the sliding window W
  __nv_bfloat16* out = nullptr;            // [rows, n_heads, d] = bf16(sum_j softmax_j * v_j)
  float* out_f32 = nullptr;                // [rows, n_heads, d] fp32, the same value not rounded.
                                           // Exactly one of out / out_f32 is non-null, else qg::Error
                                           // (rows == 0 allows neither, never both)
};

void attention(const AttentionParams& params, cudaStream_t stream);

}  // namespace qg::cuda
