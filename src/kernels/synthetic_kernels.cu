#include "kernels/device_buffer.h"
#include "kernels/synthetic_kernels.cuh"

namespace qg::cuda {

namespace {
__device__ inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
__device__ inline float uniform01(std::uint64_t seed, std::int64_t i) {
  // 24 random bits -> [0, 1) exactly representable in fp32
  return static_cast<float>(splitmix64(seed ^ (static_cast<std::uint64_t>(i) * 0xD1B54A32D192ED03ull)) >> 40) *
         (1.0f / 16777216.0f);
}

__global__ void fill_bf16_kernel(__nv_bfloat16* p, std::int64_t n, std::uint64_t seed, float lo, float span) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    p[i] = __float2bfloat16_rn(lo + span * uniform01(seed, i));
}
__global__ void fill_f32_kernel(float* p, std::int64_t n, std::uint64_t seed, float lo, float span) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    p[i] = lo + span * uniform01(seed, i);
}
__global__ void fill_u32_kernel(std::uint32_t* p, std::int64_t n, std::uint64_t seed) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    p[i] = static_cast<std::uint32_t>(splitmix64(seed ^ (static_cast<std::uint64_t>(i) * 0xD1B54A32D192ED03ull)) >> 32);
}

unsigned grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}
}  // namespace

void fill_uniform_bf16(__nv_bfloat16* p, std::int64_t n, std::uint64_t seed, float lo, float hi, cudaStream_t stream) {
  if (n <= 0) return;
  fill_bf16_kernel<<<grid_for(n), 256, 0, stream>>>(p, n, seed, lo, hi - lo);
  check_launch("fill_uniform_bf16");
}
void fill_uniform_f32(float* p, std::int64_t n, std::uint64_t seed, float lo, float hi, cudaStream_t stream) {
  if (n <= 0) return;
  fill_f32_kernel<<<grid_for(n), 256, 0, stream>>>(p, n, seed, lo, hi - lo);
  check_launch("fill_uniform_f32");
}
void fill_random_u32(std::uint32_t* p, std::int64_t n, std::uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return;
  fill_u32_kernel<<<grid_for(n), 256, 0, stream>>>(p, n, seed);
  check_launch("fill_random_u32");
}

}  // namespace qg::cuda
