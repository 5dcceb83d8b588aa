#pragma once
// The two small kernels of attention-by-GEMM (forward/cuda/gemm_attention.h), the fast-precision attention
// path: scores S = Q·Kᵀ and outputs O = P·V are cuBLAS fp16 tensor-core GEMMs with fp32 accumulation; these
// kernels convert Q to fp16 and turn a block of fp32 scores into masked, normalized fp16 probabilities.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

// y[i] = fp16(x[i]) (round to nearest even), n values.
void f32_to_f16(const float* x, std::int64_t n, __half* y, cudaStream_t stream);

// scores: n_mats matrices [rows, keys] fp32 (row stride `row_stride` >= keys, matrix stride rows * row_stride); row r of every matrix is the query at
// absolute position first_position + r, column j the key at position first_key_position + j. Key visible iff
// key_pos <= pos and (window == 0 || pos - key_pos < window) (gemma4-text.md §7, scale 1). probs (same layout,
// fp16) = softmax over the visible keys, computed in fp32 (max-subtracted), 0 for hidden keys; a row that sees
// no key gets all zeros.
void masked_softmax_to_f16(const float* scores, __half* probs, std::int64_t n_mats, std::int64_t rows,
                           std::int64_t keys, std::int64_t row_stride, std::int64_t first_position, std::int64_t first_key_position,
                           std::int64_t window, cudaStream_t stream);

}  // namespace qg::cuda
