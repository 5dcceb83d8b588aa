#pragma once
// Internal to the dequant family: the kernel's parameters and launcher, kept free of the C++20 headers
// (quant/, tensor/) that quantized layers come from, because .cu files compile as C++17.
// dequant_kernels.cpp fills these from a QuantizedLinear; dequant_kernels.cu runs them.
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda::dequant_detail {

enum class Format : int { kPacked, kEightBit, kNvfp4 };  // pack-quantized | naive/int/float | nvfp4
enum class ZeroKind : int { kNone, kI8, kPackedI32 };

// Everything the kernel needs, by value (device pointers into the layer's buffers).
struct DequantParams {
  Format format = Format::kPacked;
  ZeroKind zero_kind = ZeroKind::kNone;
  const std::int32_t* words = nullptr;   // pack-quantized: [out, row_stride] int32 words
  const std::uint8_t* bytes = nullptr;   // 8-bit formats: [out, in] (I8 or F8_E4M3); nvfp4: [out, row_stride]
  bool weight_is_fp8 = false;            // 8-bit formats: F8_E4M3 rather than I8
  const std::uint16_t* scale16 = nullptr;  // BF16/F16 scales
  const std::uint8_t* scale8 = nullptr;    // nvfp4: F8_E4M3 scales
  bool scale_is_f16 = false;
  const std::int8_t* zero_i8 = nullptr;
  const std::int32_t* zero_words = nullptr;  // packed along dim 0: [ceil(out / per word), n_groups]
  const std::int32_t* g_idx = nullptr;       // null without actorder group
  const float* global_scale = nullptr;       // nvfp4: one fp32
  std::int64_t out = 0, in = 0, n_groups = 1, group_size = 1;
  std::int64_t row_stride = 0;  // words (pack-quantized) or bytes (nvfp4) per stored row
  int num_bits = 4;
  bool per_tensor = false, grouped = false;
  bool out_f16 = false;  // the CPU's output dtype is F16: emit bf16(that f16 value)
};

// out: [p.out, p.in] bf16 bit patterns (device). Throws qg::Error on a launch failure.
void launch_dequantize(const DequantParams& p, std::uint16_t* out, cudaStream_t stream);

}  // namespace qg::cuda::dequant_detail
