// RMSNorm launchers (norm_kernels.cuh). The row maths is in rms_rows.cuh (double sum of squares, fp32
// products, as forward/cpu/norms.cpp); this file only says where each row comes from and goes to.
#include "kernels/norm_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"
#include "kernels/elementwise_kernels.cuh"
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

// add_rms_norm_then for wide rows: one block per row, the loops and reductions of rms_rows_block_kernel.
__device__ inline double block_sum(double v, double* warp_sums) {
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  v = detail::warp_sum(v);
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  double total = lane < detail::kRmsWarpsPerBlock ? warp_sums[lane] : 0.0;
  total = detail::warp_sum(total);  // every warp reduces the same 8 values in the same order
  __syncthreads();                  // warp_sums is rewritten by the next reduction
  return total;
}

// kPer > 0: rows of at most kPer * 256 values, each thread keeping its values of x and y in registers between the
// passes (E4B's 2560: 10 each); kPer = 0: any width, re-reading them (L1/L2 hits). Same values, same order.
template <int kPer>
__global__ void __launch_bounds__(detail::kRmsThreads)
    add_rms_norm_then_kernel(float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ w,
                             std::int64_t rows, std::int64_t width, float eps, float scale, NextInput next,
                             const float* __restrict__ next_w, __nv_bfloat16* __restrict__ next_out) {
  constexpr int kT = detail::kRmsThreads;
  __shared__ double warp_sums[detail::kRmsWarpsPerBlock];
  const std::int64_t t = threadIdx.x;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // block-uniform loop
    float* xr = x + r * width;
    const float* yr = y + r * width;
    __nv_bfloat16* out = next_out + r * width;
    double sum_sq = 0.0, next_sq = 0.0;
    if constexpr (kPer > 0) {
      float xv[kPer], yv[kPer];
#pragma unroll
      for (int k = 0; k < kPer; ++k)
        if (t + kT * k < width) {
          yv[k] = yr[t + kT * k];
          xv[k] = xr[t + kT * k];
          const double v = static_cast<double>(yv[k]);
          sum_sq = __fma_rn(v, v, sum_sq);
        }
      const float inv_rms = detail::inv_rms_from_sum(block_sum(sum_sq, warp_sums), width, eps);
#pragma unroll
      for (int k = 0; k < kPer; ++k)
        if (t + kT * k < width) {
          float v = __fadd_rn(xv[k], detail::apply_rms(yv[k], inv_rms, w, t + kT * k));
          if (scale != 1.0f) v = __fmul_rn(v, scale);
          xr[t + kT * k] = xv[k] = v;
          const double d = static_cast<double>(v);
          next_sq = __fma_rn(d, d, next_sq);
        }
      if (next == NextInput::kNone) continue;
      const float next_inv =
          next == NextInput::kNormed ? detail::inv_rms_from_sum(block_sum(next_sq, warp_sums), width, eps) : 0.0f;
#pragma unroll
      for (int k = 0; k < kPer; ++k)
        if (t + kT * k < width) {
          const float v = next == NextInput::kRaw ? xv[k] : detail::apply_rms(xv[k], next_inv, next_w, t + kT * k);
          out[t + kT * k] = __ushort_as_bfloat16(::qg::f32_to_bf16(v));
        }
    } else {
      for (std::int64_t j = t; j < width; j += kT) {
        const double v = static_cast<double>(yr[j]);
        sum_sq = __fma_rn(v, v, sum_sq);
      }
      const float inv_rms = detail::inv_rms_from_sum(block_sum(sum_sq, warp_sums), width, eps);
      for (std::int64_t j = t; j < width; j += kT) {
        float v = __fadd_rn(xr[j], detail::apply_rms(yr[j], inv_rms, w, j));
        if (scale != 1.0f) v = __fmul_rn(v, scale);
        xr[j] = v;
        const double d = static_cast<double>(v);
        next_sq = __fma_rn(d, d, next_sq);
      }
      if (next == NextInput::kNone) continue;
      const float next_inv =
          next == NextInput::kNormed ? detail::inv_rms_from_sum(block_sum(next_sq, warp_sums), width, eps) : 0.0f;
      for (std::int64_t j = t; j < width; j += kT) {  // x[j]: this thread's own store above
        const float v = next == NextInput::kRaw ? xr[j] : detail::apply_rms(xr[j], next_inv, next_w, j);
        out[j] = __ushort_as_bfloat16(::qg::f32_to_bf16(v));
      }
    }
  }
}

}  // namespace

void add_rms_norm_then(float* x, const float* y, const float* w, std::int64_t rows, std::int64_t width, float eps,
                       float scale, NextInput next, const float* next_w, __nv_bfloat16* next_out,
                       cudaStream_t stream) {
  check_rms_args("add_rms_norm_then", y, rows, width);
  if (rows > 0 && (x == nullptr || (next != NextInput::kNone && next_out == nullptr)))
    throw Error("add_rms_norm_then: null residual or output");
  if (rows == 0) return;
  if (width <= detail::kRmsWarpRowMaxWidth) {  // narrow rows: the separate kernels (warp-per-row reductions)
    add_rms_norm(x, y, w, rows, width, eps, stream);
    if (scale != 1.0f) scale_in_place(x, rows * width, scale, stream);
    if (next == NextInput::kNormed) rms_norm_to_bf16(x, next_w, rows, width, eps, next_out, stream);
    if (next == NextInput::kRaw) f32_to_bf16(x, rows * width, next_out, stream);
    return;
  }
  const std::int64_t blocks = std::min(rows, detail::kRmsMaxBlocks);
  constexpr int kPer = 16;  // values a thread keeps in registers: rows up to 4096 wide
  if (width <= kPer * detail::kRmsThreads)
    add_rms_norm_then_kernel<kPer><<<static_cast<unsigned>(blocks), detail::kRmsThreads, 0, stream>>>(
        x, y, w, rows, width, eps, scale, next, next_w, next_out);
  else
    add_rms_norm_then_kernel<0><<<static_cast<unsigned>(blocks), detail::kRmsThreads, 0, stream>>>(
        x, y, w, rows, width, eps, scale, next, next_w, next_out);
  check_launch("add_rms_norm_then");
}

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
