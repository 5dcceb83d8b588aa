#pragma once
// Host references of kernels/norm_kernels.cuh (what tests/kernels/norm_test.cpp compares the GPU with).
// Same maths as forward/cpu/norms.cpp: squares summed in double, inv_rms = fp32(1 / sqrt(mean + eps)) in
// double, then (x * inv_rms) * w as two fp32 roundings. `eps` is the fp32 value the launchers take, widened
// to double (the CPU forward passes the config's double; they differ by < 3e-8 relative in eps).
// `w` empty = the weightless norm. bf16 values are std::uint16_t bit patterns (common/float_formats.h).
#include <cstdint>
#include <vector>

namespace qg::cuda::ref {

// out[r, :] = rms_norm(x[r, :]; w) for `rows` rows of `width`; `w` null = weightless. `out` may equal `x`.
void rms_norm_rows_ref(const float* x, const float* w, std::int64_t rows, std::int64_t width, float eps, float* out);

std::vector<std::uint16_t> rms_norm_to_bf16_ref(const std::vector<float>& x, const std::vector<float>& w,
                                                std::int64_t rows, std::int64_t width, float eps);
std::vector<float> rms_norm_in_place_ref(std::vector<float> x, const std::vector<float>& w, std::int64_t rows,
                                         std::int64_t width, float eps);
// x + rms_norm(y; w), one fp32 add per element.
std::vector<float> add_rms_norm_ref(std::vector<float> x, const std::vector<float>& y, const std::vector<float>& w,
                                    std::int64_t rows, std::int64_t width, float eps);
std::vector<float> scale_in_place_ref(std::vector<float> x, float s);

}  // namespace qg::cuda::ref
