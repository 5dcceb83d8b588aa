// RMSNorm launchers (norm_kernels.cuh). The row maths is in rms_rows.cuh (double sum of squares, fp32
// products, as forward/cpu/norms.cpp); this file only says where each row comes from and goes to.
#include "kernels/norm_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"
#include "kernels/rms_rows.cuh"

namespace qg::cuda {

namespace {

void check_rms_args(const char* what, const void* x, std::int64_t rows, std::int64_t width) {
  if (rows < 0 || width < 1) throw Error(fmt::format("{}: bad shape rows={} width={}", what, rows, width));
  if (rows > 0 && x == nullptr) throw Error(fmt::format("{}: null pointer", what));
}

struct ToBf16Rows {
  const float* __restrict__ x;
  __nv_bfloat16* __restrict__ y;
  std::int64_t width;
  __device__ float load(std::int64_t r, std::int64_t j) const { return x[r * width + j]; }
  __device__ void store(std::int64_t r, std::int64_t j, float v) const {
    y[r * width + j] = __ushort_as_bfloat16(::qg::f32_to_bf16(v));  // RNE, the host references' rounding
  }
};

struct InPlaceRows {
  float* x;  // read and written: no __restrict__
  std::int64_t width;
  __device__ float load(std::int64_t r, std::int64_t j) const { return x[r * width + j]; }
  __device__ void store(std::int64_t r, std::int64_t j, float v) const { x[r * width + j] = v; }
};

struct AddNormRows {
  float* __restrict__ x;
  const float* __restrict__ y;
  std::int64_t width;
  __device__ float load(std::int64_t r, std::int64_t j) const { return y[r * width + j]; }
  __device__ void store(std::int64_t r, std::int64_t j, float v) const {
    x[r * width + j] = __fadd_rn(x[r * width + j], v);
  }
};

__global__ void scale_kernel(float* __restrict__ x, std::int64_t n, float s) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] = __fmul_rn(x[i], s);
}

}  // namespace

void rms_norm_to_bf16(const float* x, const float* w, std::int64_t rows, std::int64_t width, float eps,
                      __nv_bfloat16* y, cudaStream_t stream) {
  check_rms_args("rms_norm_to_bf16", x, rows, width);
  if (rows > 0 && y == nullptr) throw Error("rms_norm_to_bf16: null output");
  detail::launch_rms_rows(ToBf16Rows{x, y, width}, w, rows, width, eps, stream, "rms_norm_to_bf16");
}

void rms_norm_in_place(float* x, const float* w, std::int64_t rows, std::int64_t width, float eps,
                       cudaStream_t stream) {
  check_rms_args("rms_norm_in_place", x, rows, width);
  detail::launch_rms_rows(InPlaceRows{x, width}, w, rows, width, eps, stream, "rms_norm_in_place");
}

void add_rms_norm(float* x, const float* y, const float* w, std::int64_t rows, std::int64_t width, float eps,
                  cudaStream_t stream) {
  check_rms_args("add_rms_norm", y, rows, width);
  if (rows > 0 && x == nullptr) throw Error("add_rms_norm: null residual");
  detail::launch_rms_rows(AddNormRows{x, y, width}, w, rows, width, eps, stream, "add_rms_norm");
}

void scale_in_place(float* x, std::int64_t n, float s, cudaStream_t stream) {
  if (n < 0) throw Error(fmt::format("scale_in_place: negative count {}", n));
  if (n == 0) return;
  if (x == nullptr) throw Error("scale_in_place: null pointer");
  constexpr int kThreads = 256;
  const std::int64_t blocks = std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65535LL * 8);
  scale_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, n, s);
  check_launch("scale_in_place");
}

}  // namespace qg::cuda
