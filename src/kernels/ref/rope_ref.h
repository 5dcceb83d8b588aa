#pragma once
// Host reference of kernels/rope_kernels.cuh: rotate-half RoPE of x [rows, heads, d] in place, row r at
// position positions[r], inv_freq [d/2] from cpu::rope_inv_freq. The maths of forward/cpu/rope.cpp
// (angle = fp32(p * f_j), cosf/sinf, four products rounded to fp32, then the sum/difference) with a position
// per row instead of a contiguous range, so batched sequences and KV-prefix offsets are covered.
#include <cstdint>
#include <vector>

namespace qg::cuda::ref {

std::vector<float> apply_rope_ref(std::vector<float> x, std::int64_t rows, std::int64_t heads, std::int64_t d,
                                  const std::vector<std::int32_t>& positions, const std::vector<float>& inv_freq);

}  // namespace qg::cuda::ref
