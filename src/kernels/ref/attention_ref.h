#pragma once
// Host reference of kernels/attention_kernels.cuh: the same packed-rows interface, computed the
// obvious way (two-pass softmax in double over each row's visible keys), returning fp32 (what the
// kernel writes to out_f32, and rounds once to bf16 for out). Mask (gemma4-text.md §7): key j visible to
// a query at position p iff j <= p and (window == 0 || p - j < window).
#include <cstdint>
#include <vector>

namespace qg::cuda::ref {

// q: [rows, n_heads, d] fp32; k, v: [cache_rows, n_kv_heads, d] fp16 bit patterns; position, kv_start:
// [rows] (key j of row r's sequence is cache row kv_start[r] + j). Query head h reads kv head
// h / (n_heads / n_kv_heads). Returns out [rows, n_heads, d] fp32 (a row with position < 0 sees no key
// and gets zeros, as the kernel writes).
std::vector<float> attention_ref(const std::vector<float>& q, const std::vector<std::uint16_t>& k,
                                 const std::vector<std::uint16_t>& v,
                                 const std::vector<std::int32_t>& position,
                                 const std::vector<std::int64_t>& kv_start, int n_heads, int n_kv_heads,
                                 int d, std::int64_t window);

// The same over an fp32 cache (the kernel's k_f32 / v_f32, accurate mode): k, v [cache_rows, n_kv_heads, d]
// fp32, widened exactly to double like the fp16 values above. On fp16-representable values it returns
// exactly what the fp16 overload returns.
std::vector<float> attention_ref(const std::vector<float>& q, const std::vector<float>& k,
                                 const std::vector<float>& v, const std::vector<std::int32_t>& position,
                                 const std::vector<std::int64_t>& kv_start, int n_heads, int n_kv_heads,
                                 int d, std::int64_t window);

}  // namespace qg::cuda::ref
