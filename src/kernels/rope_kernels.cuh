#pragma once
// Rotate-half RoPE (gemma4-text.md §7.1) on fp32 q or k in place. Row r (a token) sits at absolute position
// positions[r]; the angle of channel pair (j, j + d/2) is the fp32 product positions[r] * inv_freq[j], then
// cosf/sinf in fp32, and each product is rounded to fp32 before the sum, as torch does (and as
// forward/cpu/rope.cpp does). inv_freq [d/2] comes from cpu::rope_inv_freq (zeros = channels that do not
// rotate, proportional RoPE). Host reference: kernels/ref/rope_ref.h.
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

// x [rows, heads, d] fp32; positions [rows] int32; inv_freq [d/2] fp32 (all device pointers).
void apply_rope(float* x, std::int64_t rows, std::int64_t heads, std::int64_t d, const std::int32_t* positions,
                const float* inv_freq, cudaStream_t stream);

}  // namespace qg::cuda
