#pragma once
// Random tensors generated on the GPU, for synthetic full-size models (speed and memory runs without a
// checkpoint): counter-based (splitmix64 of seed and index), so the same seed gives the same tensor on any GPU.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

// p[i] = bf16(uniform in [lo, hi)), n values
void fill_uniform_bf16(__nv_bfloat16* p, std::int64_t n, std::uint64_t seed, float lo, float hi, cudaStream_t stream);
// p[i] = uniform in [lo, hi), n values
void fill_uniform_f32(float* p, std::int64_t n, std::uint64_t seed, float lo, float hi, cudaStream_t stream);
// p[i] = 32 random bits, n words (packed quantized codes)
void fill_random_u32(std::uint32_t* p, std::int64_t n, std::uint64_t seed, cudaStream_t stream);

}  // namespace qg::cuda
