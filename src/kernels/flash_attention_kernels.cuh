#pragma once
// Fused causal (optionally sliding-window) attention for the fast precision (issue 11): one kernel per layer that
// never writes the score matrix to memory, the flash-attention scheme (online softmax over key tiles) on fp16
// tensor cores (mma.sync m16n8k16, fp32 accumulation). Q is fp16 (converted once per layer), K/V come from the
// engine's fp16 cache, the output is fp32 [rows, n_heads, d], or those values rounded to bf16 (RNE) when the next
// GEMM wants bf16 (the engine's o_proj input: no fp32 round trip through memory).
//
// Work: a CTA takes 64 query rows of one span, one query head and one slice of the output columns (dv); its four warps
// own 16 rows each. Per tile of 64 keys: S = Q·Kᵀ in registers, masked (causal + window), running max and sum per
// row, P = exp(S - max) rounded to fp16 straight from the accumulator registers into the next MMA's operand,
// O += P·V. Rounding: Q and P to fp16 (2^-11 relative), everything else fp32 — the class of the GEMM path
// (forward/cuda/gemm_attention.h), whose tests this kernel passes with the same bounds.
// Determinism: fixed tile order and reductions; a row's result depends only on its span's block structure,
// which depends only on the sequence (see CudaForward's batch invariance).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace qg::cuda {

// 64 consecutive query rows (or fewer at the end of a span) of one sequence.
struct FlashBlock {
  std::int64_t first_row = 0;       // step row of query 0
  std::int64_t first_position = 0;  // its absolute position
  std::int64_t kv_start = 0;        // cache row of the sequence's key 0
  std::int32_t n_rows = 0;          // 1..64
  std::int32_t pad = 0;
};
inline constexpr std::int64_t kFlashBlockRows = 64;

struct FlashAttentionArgs {
  const __half* q = nullptr;  // [rows, n_heads, d] fp16
  const __half* k = nullptr;  // cache [cache_rows, n_kv_heads, d] fp16
  const __half* v = nullptr;
  float* out = nullptr;  // [rows, n_heads, d] fp32 (may not alias q), or
  __nv_bfloat16* out_bf16 = nullptr;  // the same values as bf16; exactly one of out / out_bf16 is set
  const FlashBlock* blocks = nullptr;  // device array
  std::int64_t n_blocks = 0;
  int n_heads = 0, n_kv_heads = 0, d = 0;
  int dv = 0;               // output columns per CTA: flash_attention_slice(d, device), or a compiled smaller one
  std::int64_t window = 0;  // 0: full causal
};

// The output slice the fused kernel uses for head dim d on `device`: the widest compiled one (d <= 256 ? d : 256,
// then 128) whose shared memory fits; 0 when none does (head dims other than 64/128/256/512, GPUs before sm_80).
// H100/H200: 256 for d 256 and 512; A100: 256, then 128 for d 512; RTX 3090/A6000 (99 KB): 128 for d 256, none for 512.
int flash_attention_slice(int d, int device);
bool flash_attention_supported(int d, int device);
// Shared memory one CTA needs for head dim d and output slice dv (for messages and tests).
std::size_t flash_attention_smem_bytes(int d, int dv);

void flash_attention(const FlashAttentionArgs& args, cudaStream_t stream);

}  // namespace qg::cuda
