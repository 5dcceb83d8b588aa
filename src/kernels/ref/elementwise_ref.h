#pragma once
// Host references of kernels/elementwise_kernels.cuh. bf16 values are std::uint16_t bit patterns, rounded
// to nearest even by common/float_formats.h's f32_to_bf16 (what the kernels use too).
//
// gelu_tanh and softcap are evaluated in fp32 here and on the GPU, as the kernel header specifies, while
// forward/cpu (mlp.cpp gelu_tanh, embedding.cpp lm_head softcap) evaluates them in double and rounds once.
// Same formula and operation order; the fp32 version is within a few fp32 ulp of the double one, except
// where 1 + tanh(u) cancels (z < about -3) and the error is absolute, ~|z| * 2^-23 (see the [kernels_ref]
// tests, which bound both). Next to the bf16 rounding of the MLP activations that difference is invisible.
#include <cstdint>
#include <vector>

namespace qg::cuda::ref {

// 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z z z))), each operation rounded to fp32, left to right.
float gelu_tanh_f32_ref(float z);

// out[r * width + j] = bf16(gelu_tanh(gate[r * gate_stride + j]) * up[r * up_stride + j]): [rows, width], dense.
std::vector<std::uint16_t> gelu_tanh_mul_to_bf16_ref(const std::vector<float>& gate, std::int64_t gate_stride,
                                                     const std::vector<float>& up, std::int64_t up_stride,
                                                     std::int64_t rows, std::int64_t width);
std::vector<std::uint16_t> f32_to_bf16_ref(const std::vector<float>& x);
// dst[dest_row[r] * width + j] = bf16(src[r * width + j]); rows with dest_row < 0 are skipped (as the kernel).
std::vector<std::uint16_t> scatter_rows_to_bf16_ref(const std::vector<float>& src, std::int64_t rows,
                                                    std::int64_t width, const std::vector<std::int64_t>& dest_row,
                                                    std::vector<std::uint16_t> dst);
// x = cap * tanhf(x / cap) in fp32.
std::vector<float> softcap_in_place_ref(std::vector<float> x, float cap);

}  // namespace qg::cuda::ref
