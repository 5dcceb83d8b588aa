#include "kernels/convert_to_f32.cuh"

#include <fmt/format.h>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/cuda_check.cuh"

namespace qg {

namespace {

template <typename Src, float (*Widen)(Src)>
__global__ void convert_to_f32_kernel(const Src* __restrict__ src, float* __restrict__ dst, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = Widen(src[i]);
}

__device__ float identity_f32(float x) { return x; }
__device__ float widen_bf16(std::uint16_t x) { return bf16_to_f32(x); }
__device__ float widen_f16(std::uint16_t x) { return f16_to_f32(x); }
__device__ float widen_e4m3(std::uint8_t x) { return f8e4m3_to_f32(x); }
__device__ float widen_e5m2(std::uint8_t x) { return f8e5m2_to_f32(x); }

template <typename Src, float (*Widen)(Src)>
void launch(const ConvertToF32Params& p, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const std::int64_t blocks = std::min<std::int64_t>((p.n + kThreads - 1) / kThreads, 65535LL * 8);
  convert_to_f32_kernel<Src, Widen><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<const Src*>(p.src), p.dst, p.n);
  QG_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_convert_to_f32(const ConvertToF32Params& p, cudaStream_t stream) {
  if (p.n < 0) throw Error(fmt::format("convert_to_f32: negative element count {}", p.n));
  if (p.n == 0) return;
  if (p.src == nullptr || p.dst == nullptr) throw Error("convert_to_f32: null pointer");
  switch (p.src_dtype) {
    case DType::kF32: return launch<float, identity_f32>(p, stream);
    case DType::kBF16: return launch<std::uint16_t, widen_bf16>(p, stream);
    case DType::kF16: return launch<std::uint16_t, widen_f16>(p, stream);
    case DType::kF8E4M3: return launch<std::uint8_t, widen_e4m3>(p, stream);
    case DType::kF8E5M2: return launch<std::uint8_t, widen_e5m2>(p, stream);
    default:
      throw Error(fmt::format("convert_to_f32: dtype {} is not a float weight type", dtype_name(p.src_dtype)));
  }
}

}  // namespace qg
