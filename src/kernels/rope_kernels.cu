// Rotate-half RoPE (rope_kernels.cuh), the maths of forward/cpu/rope.cpp: angle = fp32(p * f_j), accurate
// cosf/sinf (never __cosf/__sinf; this project builds without --use_fast_math), four products each rounded
// to fp32 and then one rounded sum/difference. The _rn intrinsics keep nvcc from contracting a product and
// the following add into an FMA, which would round once instead of twice and differ from the CPU.
// CUDA's cosf/sinf are within 2 ulp of the exact value (CUDA C Programming Guide, math functions), glibc's
// within 1: that is the only difference from the CPU; tests/kernels/rope_test.cpp bounds it.
#include "kernels/rope_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "kernels/device_buffer.h"

#if defined(__USE_FAST_MATH__)
#error "built with --use_fast_math: cosf/sinf/tanhf would become approximations the tests do not allow"
#endif

namespace qg::cuda {

namespace {

// One block per token row: each thread owns channel pairs (j, j + half) and computes their cos/sin once for
// all heads of the row. Consecutive threads touch consecutive j, so each head's loads are coalesced.
__global__ void rope_kernel(float* __restrict__ x, std::int64_t rows, std::int64_t heads, std::int64_t half,
                            const std::int32_t* __restrict__ positions, const float* __restrict__ inv_freq) {
  const std::int64_t d = 2 * half;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const auto p = static_cast<float>(positions[r]);  // exact for positions < 2^24
    for (std::int64_t j = threadIdx.x; j < half; j += blockDim.x) {
      const float angle = __fmul_rn(p, inv_freq[j]);
      const float c = cosf(angle), s = sinf(angle);
      float* v = x + r * heads * d + j;
      for (std::int64_t h = 0; h < heads; ++h, v += d) {
        const float a = v[0], b = v[half];
        v[0] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        v[half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
      }
    }
  }
}

}  // namespace

void apply_rope(float* x, std::int64_t rows, std::int64_t heads, std::int64_t d, const std::int32_t* positions,
                const float* inv_freq, cudaStream_t stream) {
  if (rows < 0 || heads < 1 || d < 2 || d % 2 != 0)
    throw Error(fmt::format("apply_rope: bad shape rows={} heads={} d={} (d must be even)", rows, heads, d));
  if (rows == 0) return;
  if (x == nullptr || positions == nullptr || inv_freq == nullptr) throw Error("apply_rope: null pointer");
  const std::int64_t half = d / 2;
  // A warp multiple covering `half` (d = 256 -> 128 threads, d = 512 -> 256), at most 256 threads.
  const int threads = static_cast<int>(std::min<std::int64_t>(256, (half + 31) / 32 * 32));
  const std::int64_t blocks = std::min<std::int64_t>(rows, 1 << 20);
  rope_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(x, rows, heads, half, positions, inv_freq);
  check_launch("apply_rope");
}

}  // namespace qg::cuda
