#pragma once
// RMSNorm on the GPU (gemma4-text.md §6): fp32 maths, eps inside the mean, scale `w` (not 1 + w), one
// rounding at the end when the output is bf16. `w` is an fp32 device vector [width] or nullptr for the
// weightless norms (v_norm, router.norm). Rows are independent: a row's result never depends on the
// other rows of the batch (batch invariance). Host references: kernels/ref/norm_ref.h.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

// y[r, :] = bf16(rms_norm(x[r, :]; w))   (input_layernorm, pre_feedforward_layernorm, final norm)
void rms_norm_to_bf16(const float* x, const float* w, std::int64_t rows, std::int64_t width, float eps,
                      __nv_bfloat16* y, cudaStream_t stream);
// x[r, :] = rms_norm(x[r, :]; w) in fp32    (q_norm/k_norm/v_norm per head: rows = tokens * heads)
void rms_norm_in_place(float* x, const float* w, std::int64_t rows, std::int64_t width, float eps,
                       cudaStream_t stream);
// x[r, :] += rms_norm(y[r, :]; w)   (post-norm residual adds: post_attention, post_feedforward, PLE)
void add_rms_norm(float* x, const float* y, const float* w, std::int64_t rows, std::int64_t width, float eps,
                  cudaStream_t stream);
// x[i] *= s for n values (layer_scalar)
void scale_in_place(float* x, std::int64_t n, float s, cudaStream_t stream);

// What add_rms_norm_then writes besides the residual: nothing, bf16(x) (the PLE gate's input), or
// bf16(rms_norm(x; next_w)) (the next block's normed input).
enum class NextInput { kNone, kRaw, kNormed };
// The residual update that ends a block, fused with the pass that reads the new residual next (fast precision):
//   x[r, :] = (x[r, :] + rms_norm(y[r, :]; w)) * scale,   then next_out[r, :] as `next` says.
// One kernel instead of up to three (add_rms_norm, scale_in_place, rms_norm_to_bf16 / f32_to_bf16) for rows wider
// than one warp's (kRmsWarpRowMaxWidth, e.g. E4B's 2560), with the same arithmetic and the same reduction order,
// so the results are bit-identical to those calls (tests/kernels/norm_test.cpp checks with memcmp); narrower rows
// make those calls. scale = 1 multiplies by nothing (x * 1 = x exactly).
void add_rms_norm_then(float* x, const float* y, const float* w, std::int64_t rows, std::int64_t width, float eps,
                       float scale, NextInput next, const float* next_w, __nv_bfloat16* next_out,
                       cudaStream_t stream);

}  // namespace qg::cuda
