#pragma once
// Device-side RMSNorm over rows, shared by norm_kernels.cu and embedding_kernels.cu (ple_combine). Internal
// to those translation units: launchers live in the family .cu files.
//
// Numerics mirror forward/cpu/norms.cpp, not just "fp32 with a reduction": the squares are accumulated in
// double (each product of two fp32 values is exact in double, so only the summation order differs from the
// CPU's sequential sum, a ~1e-16 relative effect), then inv_rms = fp32(1 / sqrt(sum / width + eps)) in
// double with explicitly rounded intrinsics, then (v * inv_rms) * w as two fp32 roundings. inv_rms therefore
// equals the CPU's bit for bit except when the exact value sits within ~1e-16 of an fp32 rounding boundary.
// The cost is one double FMA per element, small next to the two memory passes even where fp64 runs at 1/64
// rate (RTX 3090/A6000). Rows are independent of each other (batch invariance).
//
// A Row policy supplies:
//   __device__ float load(std::int64_t row, std::int64_t j) const    the value that is normalised
//   __device__ void store(std::int64_t row, std::int64_t j, float normed) const
// load() is called twice per element (sum pass, output pass) and must return the same value both times;
// store() of element j runs in the thread that loaded j, after the whole row's sum is known, so in-place
// policies (load and store on the same address) are safe.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/device_buffer.h"

namespace qg::cuda::detail {

constexpr int kRmsThreads = 256;               // both kernels use 256-thread blocks
constexpr int kRmsWarpsPerBlock = kRmsThreads / 32;
constexpr std::int64_t kRmsWarpRowMaxWidth = 1024;  // up to this width one warp per row, above a block per row
constexpr std::int64_t kRmsMaxBlocks = 1 << 20;     // grid-stride beyond this (gridDim.x limit is 2^31 - 1)

__device__ inline double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;  // every lane holds the total
}

__device__ inline float inv_rms_from_sum(double sum_sq, std::int64_t width, float eps) {
  const double mean = __ddiv_rn(sum_sq, static_cast<double>(width));
  return __double2float_rn(__ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(mean, static_cast<double>(eps)))));
}

__device__ inline float apply_rms(float v, float inv_rms, const float* __restrict__ w, std::int64_t j) {
  const float scaled = __fmul_rn(v, inv_rms);
  return w != nullptr ? __fmul_rn(scaled, w[j]) : scaled;
}

// One warp per row (narrow rows: per-head norms, PLE's P = 256, tiny fixtures' 16).
template <class Row>
__global__ void rms_rows_warp_kernel(Row row_op, const float* __restrict__ w, std::int64_t rows, std::int64_t width,
                                     float eps) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * kRmsWarpsPerBlock + (threadIdx.x >> 5);
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kRmsWarpsPerBlock;
  for (std::int64_t r = first; r < rows; r += stride) {  // warp-uniform loop: the shuffles see all 32 lanes
    double sum_sq = 0.0;
    for (std::int64_t j = lane; j < width; j += 32) {
      const double v = static_cast<double>(row_op.load(r, j));
      sum_sq = __fma_rn(v, v, sum_sq);  // v * v is exact in double, so this equals the CPU's product + add
    }
    const float inv_rms = inv_rms_from_sum(warp_sum(sum_sq), width, eps);
    for (std::int64_t j = lane; j < width; j += 32) row_op.store(r, j, apply_rms(row_op.load(r, j), inv_rms, w, j));
  }
}

// One block per row (hidden-size rows: 1536 ... 10752).
template <class Row>
__global__ void rms_rows_block_kernel(Row row_op, const float* __restrict__ w, std::int64_t rows,
                                      std::int64_t width, float eps) {
  __shared__ double warp_sums[kRmsWarpsPerBlock];
  __shared__ float shared_inv_rms;
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // block-uniform loop
    double sum_sq = 0.0;
    for (std::int64_t j = threadIdx.x; j < width; j += kRmsThreads) {
      const double v = static_cast<double>(row_op.load(r, j));
      sum_sq = __fma_rn(v, v, sum_sq);
    }
    sum_sq = warp_sum(sum_sq);
    if (lane == 0) warp_sums[warp] = sum_sq;
    __syncthreads();
    if (warp == 0) {
      double total = lane < kRmsWarpsPerBlock ? warp_sums[lane] : 0.0;
      total = warp_sum(total);
      if (lane == 0) shared_inv_rms = inv_rms_from_sum(total, width, eps);
    }
    __syncthreads();
    const float inv_rms = shared_inv_rms;
    for (std::int64_t j = threadIdx.x; j < width; j += kRmsThreads)
      row_op.store(r, j, apply_rms(row_op.load(r, j), inv_rms, w, j));
    __syncthreads();  // warp_sums / shared_inv_rms are rewritten by the next row
  }
}

// Launches the right kernel for `width`; `what` names the launch in errors. rows == 0 launches nothing.
template <class Row>
void launch_rms_rows(const Row& row_op, const float* w, std::int64_t rows, std::int64_t width, float eps,
                     cudaStream_t stream, const char* what) {
  if (rows == 0) return;
  if (width <= kRmsWarpRowMaxWidth) {
    const std::int64_t blocks = std::min((rows + kRmsWarpsPerBlock - 1) / kRmsWarpsPerBlock, kRmsMaxBlocks);
    rms_rows_warp_kernel<Row><<<static_cast<unsigned>(blocks), kRmsThreads, 0, stream>>>(row_op, w, rows, width,
                                                                                          eps);
  } else {
    const std::int64_t blocks = std::min(rows, kRmsMaxBlocks);
    rms_rows_block_kernel<Row><<<static_cast<unsigned>(blocks), kRmsThreads, 0, stream>>>(row_op, w, rows, width,
                                                                                           eps);
  }
  check_launch(what);
}

}  // namespace qg::cuda::detail
