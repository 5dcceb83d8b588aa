#include "kernels/attention_softmax_kernels.cuh"

#include <fmt/format.h>

#include <cmath>

#include "common/error.h"
#include "kernels/device_buffer.h"

namespace qg::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void f32_to_f16_kernel(const float* __restrict__ x, std::int64_t n, __half* __restrict__ y) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] = __float2half_rn(x[i]);
}

__device__ float block_max(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = shared[0];
  for (int w = 1; w < kThreads / 32; ++w) r = fmaxf(r, shared[w]);
  __syncthreads();
  return r;
}

__device__ float block_sum(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = 0;
  for (int w = 0; w < kThreads / 32; ++w) r += shared[w];  // fixed order: the same bits run to run
  __syncthreads();
  return r;
}

// One block per (matrix, row). Visible keys of a row form one contiguous range [lo, hi).
__global__ void __launch_bounds__(kThreads)
    masked_softmax_kernel(const float* __restrict__ scores, __half* __restrict__ probs, std::int64_t rows,
                          std::int64_t keys, std::int64_t row_stride, std::int64_t first_position, std::int64_t first_key_position,
                          std::int64_t window) {
  __shared__ float shared[kThreads / 32];
  const std::int64_t mat_row = blockIdx.x;  // mat * rows + r
  const std::int64_t r = mat_row % rows;
  const std::int64_t pos = first_position + r;
  // key j visible iff first_key_position + j <= pos and pos - (first_key_position + j) < window
  std::int64_t hi = pos - first_key_position + 1;  // exclusive
  std::int64_t lo = window > 0 ? pos - window + 1 - first_key_position : 0;
  hi = hi < 0 ? 0 : (hi > keys ? keys : hi);
  lo = lo < 0 ? 0 : (lo > hi ? hi : lo);
  const float* s = scores + mat_row * row_stride;
  __half* p = probs + mat_row * row_stride;

  float m = -INFINITY;
  for (std::int64_t j = lo + threadIdx.x; j < hi; j += kThreads) m = fmaxf(m, s[j]);
  m = block_max(m, shared);
  float sum = 0;
  for (std::int64_t j = lo + threadIdx.x; j < hi; j += kThreads) sum += expf(s[j] - m);
  sum = block_sum(sum, shared);
  const float inv = hi > lo ? 1.0f / sum : 0.0f;
  for (std::int64_t j = threadIdx.x; j < keys; j += kThreads)
    p[j] = __float2half_rn(j >= lo && j < hi ? expf(s[j] - m) * inv : 0.0f);
}

}  // namespace

void f32_to_f16(const float* x, std::int64_t n, __half* y, cudaStream_t stream) {
  if (n < 0) throw Error(fmt::format("f32_to_f16: n = {}", n));
  if (n == 0) return;
  const std::int64_t blocks = std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65535 * 8);
  f32_to_f16_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, n, y);
  check_launch("f32_to_f16");
}

void masked_softmax_to_f16(const float* scores, __half* probs, std::int64_t n_mats, std::int64_t rows,
                           std::int64_t keys, std::int64_t row_stride, std::int64_t first_position,
                           std::int64_t first_key_position, std::int64_t window, cudaStream_t stream) {
  if (n_mats < 0 || rows < 0 || keys < 0 || window < 0 || row_stride < keys)
    throw Error(fmt::format("masked_softmax_to_f16: bad shape mats={} rows={} keys={} window={}", n_mats, rows,
                            keys, window));
  if (n_mats == 0 || rows == 0 || keys == 0) return;
  if (n_mats * rows > 0x7fffffffLL) throw Error("masked_softmax_to_f16: too many rows in one launch");
  masked_softmax_kernel<<<static_cast<unsigned>(n_mats * rows), kThreads, 0, stream>>>(
      scores, probs, rows, keys, row_stride, first_position, first_key_position, window);
  check_launch("masked_softmax_to_f16");
}

}  // namespace qg::cuda
