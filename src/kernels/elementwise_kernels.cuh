#pragma once
// Small elementwise kernels of the engine. Host references: kernels/ref/elementwise_ref.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

// out[r, j] = bf16(gelu_tanh(gate[r * gate_stride + j]) * up[r * up_stride + j]) for j < width.
// gelu_tanh(z) = 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) in fp32, as forward/cpu/mlp.cpp computes it.
// Dense MLP: gate/up are two GEMM outputs (stride = width); MoE: halves of one gate_up output (stride 2I);
// PLE: up = the layer's slice of the per-layer inputs (stride n_layers * d_ple).
void gelu_tanh_mul_to_bf16(const float* gate, std::int64_t gate_stride, const float* up, std::int64_t up_stride,
                           std::int64_t rows, std::int64_t width, __nv_bfloat16* out, std::int64_t out_stride,
                           cudaStream_t stream);
// The same from bf16 gate/up (a bf16_to_bf16 GEMM's [gate | up] halves in the fast precision): each input is
// widened exactly, so the result equals gelu_tanh_mul_to_bf16 of the same values given as fp32.
void gelu_tanh_mul_bf16_to_bf16(const __nv_bfloat16* gate, std::int64_t gate_stride, const __nv_bfloat16* up,
                                std::int64_t up_stride, std::int64_t rows, std::int64_t width, __nv_bfloat16* out,
                                std::int64_t out_stride, cudaStream_t stream);
// The same values unrounded (fp32 out): the engine's accurate mode splits them into two bf16 GEMM inputs.
void gelu_tanh_mul_to_f32(const float* gate, std::int64_t gate_stride, const float* up, std::int64_t up_stride,
                          std::int64_t rows, std::int64_t width, float* out, std::int64_t out_stride,
                          cudaStream_t stream);
// hi[i] = bf16(x[i]), lo[i] = bf16(x[i] - hi[i]), n values: W·hi + W·lo (two bf16 GEMMs, fp32 accumulation)
// equals W·x to within 2^-17 relative per input instead of bf16's 2^-9 (the engine's accurate mode).
void split_to_bf16(const float* x, std::int64_t n, __nv_bfloat16* hi, __nv_bfloat16* lo, cudaStream_t stream);
// dst[dest_row[r] * width + j] = fp16(src[r * width + j]): K/V rows into the fp16 cache (RNE).
void scatter_rows_to_f16(const float* src, std::int64_t rows, std::int64_t width, const std::int64_t* dest_row,
                         __half* dst, cudaStream_t stream);
// dst[dest_row[r] * width + j] = src[r * width + j]: K/V rows into the fp32 cache (accurate precision).
void scatter_rows_to_f32(const float* src, std::int64_t rows, std::int64_t width, const std::int64_t* dest_row,
                         float* dst, cudaStream_t stream);
// y[i] = bf16(x[i]) (round to nearest even), n values.
void f32_to_bf16(const float* x, std::int64_t n, __nv_bfloat16* y, cudaStream_t stream);
// dst[dest_row[r] * width + j] = bf16(src[r * width + j]): K/V rows into their cache slots.
void scatter_rows_to_bf16(const float* src, std::int64_t rows, std::int64_t width, const std::int64_t* dest_row,
                          __nv_bfloat16* dst, cudaStream_t stream);
// dst row i = src row index[i], rows of row_bytes (a multiple of 4) bytes, n rows; src and dst must not overlap.
// The engine compacts a step's rows with it before the KV-shared layers (forward/shared_layer_rows.h).
void gather_rows_bytes(const void* src, std::int64_t row_bytes, const std::int32_t* index, std::int64_t n, void* dst,
                       cudaStream_t stream);
// x[i] = cap * tanhf(x[i] / cap), n values (final_logit_softcapping), in fp32.
void softcap_in_place(float* x, std::int64_t n, float cap, cudaStream_t stream);

}  // namespace qg::cuda
