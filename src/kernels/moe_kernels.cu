// MoE routing and dispatch kernels (kernels/moe_kernels.cuh), mirroring forward/cpu/moe.cpp route().
// Host references: kernels/ref/moe_ref.h. Products and sums that the CPU rounds one at a time are
// spelled with __fmul_rn / __fadd_rn so nvcc cannot fuse them into FMAs.
#include "kernels/moe_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "common/error.h"
#include "kernels/device_buffer.h"

namespace qg::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kMaxExperts = 256;                    // logits held in registers: kMaxExperts / 32 per lane
constexpr int kPerLane = kMaxExperts / kWarp;
constexpr int kMaxTopK = 16;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr std::int64_t kMaxBlocks = 65535LL * 16;  // grid-stride loops cover the rest

unsigned blocks_for(std::int64_t work, std::int64_t per_block) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min((work + per_block - 1) / per_block, kMaxBlocks)));
}

// ---- router_input: one block per row, sum of squares in double (as forward/cpu/norms.cpp) --------------

constexpr int kNormThreads = 256;

__global__ void router_input_kernel(const float* __restrict__ x, const float* __restrict__ scale, std::int64_t rows,
                                    std::int64_t width, float eps, float root_size, float* __restrict__ z) {
  __shared__ double warp_sums[kNormThreads / kWarp];
  __shared__ float inv_rms_shared;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * width;
    double sum_sq = 0.0;
    for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      const double v = xr[j];
      sum_sq += v * v;  // exact: the square of an fp32 fits a double's mantissa
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) sum_sq += __shfl_xor_sync(kFullMask, sum_sq, offset);
    if (threadIdx.x % kWarp == 0) warp_sums[threadIdx.x / kWarp] = sum_sq;
    __syncthreads();
    if (threadIdx.x == 0) {
      double total = 0.0;
      for (int w = 0; w < kNormThreads / kWarp; ++w) total += warp_sums[w];
      inv_rms_shared = static_cast<float>(1.0 / sqrt(total / static_cast<double>(width) + static_cast<double>(eps)));
    }
    __syncthreads();
    const float inv_rms = inv_rms_shared;
    for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x)
      z[r * width + j] = __fmul_rn(__fmul_rn(__fmul_rn(xr[j], inv_rms), scale[j]), root_size);
    __syncthreads();  // warp_sums / inv_rms_shared are reused by the next row
  }
}

// ---- router_top_k: one warp per row, k rounds of a warp arg-max ----------------------------------------

constexpr int kTopKThreads = 256;

// route()'s order: larger logit first, equal logits by lower index. `index` INT_MAX marks "no candidate".
__device__ __forceinline__ bool ranks_before(float va, int ia, float vb, int ib) {
  if (ia == INT_MAX) return false;
  if (ib == INT_MAX) return true;
  return va != vb ? va > vb : ia < ib;
}

__global__ void router_top_k_kernel(const float* __restrict__ logits, std::int64_t rows, int n_experts, int k,
                                    const float* __restrict__ per_expert_scale, std::int32_t* __restrict__ expert,
                                    float* __restrict__ weight) {
  const int lane = threadIdx.x % kWarp;
  const std::int64_t warps_per_grid = static_cast<std::int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (std::int64_t r = blockIdx.x * static_cast<std::int64_t>(blockDim.x / kWarp) + threadIdx.x / kWarp; r < rows;
       r += warps_per_grid) {
    // Lane holds experts lane, lane + 32, ...; `taken` marks those already chosen.
    float v[kPerLane];
    unsigned taken = 0;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int e = lane + j * kWarp;
      v[j] = e < n_experts ? logits[r * n_experts + e] : 0.0f;
      if (e >= n_experts) taken |= 1u << j;
    }
    float my_logit = 0.0f;  // lane i < k keeps the logit and expert of rank i
    int my_expert = 0;
    for (int round = 0; round < k; ++round) {
      float best_v = 0.0f;
      int best_i = INT_MAX;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j)
        if (!(taken & (1u << j)) && ranks_before(v[j], lane + j * kWarp, best_v, best_i)) {
          best_v = v[j];
          best_i = lane + j * kWarp;
        }
      for (int offset = kWarp / 2; offset > 0; offset /= 2) {
        const float other_v = __shfl_xor_sync(kFullMask, best_v, offset);
        const int other_i = __shfl_xor_sync(kFullMask, best_i, offset);
        if (ranks_before(other_v, other_i, best_v, best_i)) {
          best_v = other_v;
          best_i = other_i;
        }
      }
      // Every lane now holds the same winner (a total order, so the butterfly agrees); its owner marks it.
      if (best_i != INT_MAX && best_i % kWarp == lane) taken |= 1u << (best_i / kWarp);
      if (lane == round) {
        my_logit = best_v;
        my_expert = best_i;
      }
    }
    // Softmax over the k chosen, in double and in rank order exactly as route() sums it.
    const double max_logit = __shfl_sync(kFullMask, my_logit, 0);
    double sum = 0.0;
    for (int i = 0; i < k; ++i) sum += exp(static_cast<double>(__shfl_sync(kFullMask, my_logit, i)) - max_logit);
    if (lane < k) {
      const auto w = static_cast<float>(exp(static_cast<double>(my_logit) - max_logit) / sum);
      expert[r * k + lane] = my_expert;
      weight[r * k + lane] = __fmul_rn(w, per_expert_scale[my_expert]);
    }
  }
}

// ---- gather_rows / scatter_add_rows: one block per row, grid-stride over rows ---------------------------

constexpr int kRowThreads = 256;

__global__ void gather_rows_kernel(const std::uint16_t* __restrict__ src, std::int64_t width,
                                   const std::int32_t* __restrict__ index, std::int64_t n,
                                   std::uint16_t* __restrict__ dst) {
  for (std::int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const std::uint16_t* s = src + static_cast<std::int64_t>(index[i]) * width;
    std::uint16_t* d = dst + i * width;
    for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x) d[j] = s[j];
  }
}

// The same copy 16 bytes at a time, when rows are whole multiples of 8 bf16 and both bases 16-byte aligned.
__global__ void gather_rows_vec_kernel(const uint4* __restrict__ src, std::int64_t width_vec,
                                       const std::int32_t* __restrict__ index, std::int64_t n, uint4* __restrict__ dst) {
  for (std::int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const uint4* s = src + static_cast<std::int64_t>(index[i]) * width_vec;
    uint4* d = dst + i * width_vec;
    for (std::int64_t j = threadIdx.x; j < width_vec; j += blockDim.x) d[j] = s[j];
  }
}

__global__ void scatter_add_rows_kernel(const float* __restrict__ src, std::int64_t width,
                                        const std::int32_t* __restrict__ index, const float* __restrict__ weight,
                                        std::int64_t n, float* __restrict__ dst) {
  for (std::int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const float w = weight[i];
    const float* s = src + i * width;
    float* d = dst + static_cast<std::int64_t>(index[i]) * width;
    // Indices do not repeat within a call (header contract), so each dst row has one writer: no atomics.
    for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x) d[j] = __fadd_rn(d[j], __fmul_rn(s[j], w));
  }
}

}  // namespace

void router_input(const float* x, const float* scale, std::int64_t rows, std::int64_t width, float eps,
                  float root_size, float* z, cudaStream_t stream) {
  if (rows < 0 || width <= 0) throw Error(fmt::format("router_input: bad shape [{}, {}]", rows, width));
  if (rows == 0) return;
  router_input_kernel<<<blocks_for(rows, 1), kNormThreads, 0, stream>>>(x, scale, rows, width, eps, root_size, z);
  check_launch("router_input_kernel");
}

void router_top_k(const float* logits, std::int64_t rows, int n_experts, int k, const float* per_expert_scale,
                  std::int32_t* expert, float* weight, cudaStream_t stream) {
  if (n_experts < 1 || n_experts > kMaxExperts || k < 1 || k > std::min(n_experts, kMaxTopK) || rows < 0)
    throw Error(fmt::format("router_top_k: unsupported n_experts {} / k {} (n_experts <= {}, 1 <= k <= min(n_experts, {}))",
                            n_experts, k, kMaxExperts, kMaxTopK));
  if (rows == 0) return;
  router_top_k_kernel<<<blocks_for(rows, kTopKThreads / kWarp), kTopKThreads, 0, stream>>>(
      logits, rows, n_experts, k, per_expert_scale, expert, weight);
  check_launch("router_top_k_kernel");
}

void gather_rows(const __nv_bfloat16* src, std::int64_t width, const std::int32_t* index, std::int64_t n,
                 __nv_bfloat16* dst, cudaStream_t stream) {
  if (n < 0 || width <= 0) throw Error(fmt::format("gather_rows: bad shape [{}, {}]", n, width));
  if (n == 0) return;
  const bool vec = width % 8 == 0 && reinterpret_cast<std::uintptr_t>(src) % 16 == 0 &&
                   reinterpret_cast<std::uintptr_t>(dst) % 16 == 0;
  if (vec) {
    gather_rows_vec_kernel<<<blocks_for(n, 1), kRowThreads, 0, stream>>>(
        reinterpret_cast<const uint4*>(src), width / 8, index, n, reinterpret_cast<uint4*>(dst));
  } else {
    gather_rows_kernel<<<blocks_for(n, 1), kRowThreads, 0, stream>>>(
        reinterpret_cast<const std::uint16_t*>(src), width, index, n, reinterpret_cast<std::uint16_t*>(dst));
  }
  check_launch("gather_rows_kernel");
}

void scatter_add_rows(const float* src, std::int64_t width, const std::int32_t* index, const float* weight,
                      std::int64_t n, float* dst, cudaStream_t stream) {
  if (n < 0 || width <= 0) throw Error(fmt::format("scatter_add_rows: bad shape [{}, {}]", n, width));
  if (n == 0) return;
  scatter_add_rows_kernel<<<blocks_for(n, 1), kRowThreads, 0, stream>>>(src, width, index, weight, n, dst);
  check_launch("scatter_add_rows_kernel");
}

}  // namespace qg::cuda
