// GPU widening of checkpoint dtypes must equal the host conversions bit for bit, on ragged sizes
// (not multiples of the block) and every input bit pattern of the 8/16-bit formats.
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "kernels/convert_to_f32.cuh"
#include "kernels/cuda_check.cuh"

using namespace qg;

namespace {
template <typename T>
std::vector<float> run_on_gpu(const std::vector<T>& src, DType dtype) {
  void* d_src = nullptr;
  float* d_dst = nullptr;
  QG_CUDA_CHECK(cudaMalloc(&d_src, src.size() * sizeof(T) + 1));
  QG_CUDA_CHECK(cudaMalloc(&d_dst, src.size() * sizeof(float) + 4));
  QG_CUDA_CHECK(cudaMemcpy(d_src, src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice));
  launch_convert_to_f32({d_src, dtype, d_dst, static_cast<std::int64_t>(src.size())}, nullptr);
  std::vector<float> out(src.size());
  QG_CUDA_CHECK(cudaMemcpy(out.data(), d_dst, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
  QG_CUDA_CHECK(cudaFree(d_src));
  QG_CUDA_CHECK(cudaFree(d_dst));
  return out;
}

bool same_bits(float a, float b) {  // NaNs compare by pattern too
  return f32_to_bits(a) == f32_to_bits(b);
}
}  // namespace

TEST_CASE("convert_to_f32: all 65536 bf16 and fp16 patterns, ragged length", "[gpu]") {
  const std::size_t n = GENERATE(65536u, 1u, 257u, 70001u);
  std::vector<std::uint16_t> src(n);
  for (std::size_t i = 0; i < n; ++i) src[i] = static_cast<std::uint16_t>(i * 40503u);  // odd stride: all patterns
  const auto bf = run_on_gpu(src, DType::kBF16);
  const auto hf = run_on_gpu(src, DType::kF16);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bad += !same_bits(bf[i], bf16_to_f32(src[i]));
    bad += !same_bits(hf[i], f16_to_f32(src[i]));
  }
  CHECK(bad == 0);
}

TEST_CASE("convert_to_f32: all 256 fp8 patterns", "[gpu]") {
  std::vector<std::uint8_t> src(256 * 3 + 5);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::uint8_t>(i);
  const auto e4 = run_on_gpu(src, DType::kF8E4M3);
  const auto e5 = run_on_gpu(src, DType::kF8E5M2);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < src.size(); ++i) {
    bad += !same_bits(e4[i], f8e4m3_to_f32(src[i]));
    bad += !same_bits(e5[i], f8e5m2_to_f32(src[i]));
  }
  CHECK(bad == 0);
}

TEST_CASE("convert_to_f32 rejects non-float dtypes", "[gpu]") {
  float dummy = 0;
  CHECK_THROWS_AS(launch_convert_to_f32({&dummy, DType::kI32, &dummy, 1}, nullptr), qg::Error);
}
