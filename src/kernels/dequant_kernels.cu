// The dequantization kernel of kernels/dequant_kernels.cuh (host side: dequant_kernels.cpp). It mirrors
// quant/quantized_linear.cpp dequantize_each() element by element: the same fp32 operations in the same
// order, each spelled with an explicit round-to-nearest intrinsic (__fmul_rn, __fsub_rn, __fdiv_rn) so that
// nvcc can neither fuse them into an FMA nor use an approximate division, then the same RNE helpers of
// common/float_formats.h. Results are therefore bit-identical to dequantize_16bit().
#include <cuda_bf16.h>
#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/dequant_launch.cuh"
#include "kernels/device_buffer.h"

namespace qg::cuda::dequant_detail {

namespace {

__device__ const float kFp4Values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

__device__ __forceinline__ float load_scale(const DequantParams& p, std::int64_t r, std::int64_t g) {
  const std::int64_t i = p.per_tensor ? 0 : r * p.n_groups + g;
  if (p.format == Format::kNvfp4) return f8e4m3_to_f32(p.scale8[i]);
  return p.scale_is_f16 ? f16_to_f32(p.scale16[i]) : bf16_to_f32(p.scale16[i]);
}

__device__ __forceinline__ std::int32_t load_zero(const DequantParams& p, std::int64_t r, std::int64_t g) {
  switch (p.zero_kind) {
    case ZeroKind::kNone: return 0;
    case ZeroKind::kI8: return p.zero_i8[p.per_tensor ? 0 : r * p.n_groups + g];
    case ZeroKind::kPackedI32: {  // pack.h unpack_column_code
      const int per = 32 / p.num_bits;
      const auto w = static_cast<std::uint32_t>(p.zero_words[(r / per) * p.n_groups + g]);
      const std::uint32_t u = (w >> ((r % per) * p.num_bits)) & ((1u << p.num_bits) - 1u);
      return static_cast<std::int32_t>(u) - (1 << (p.num_bits - 1));
    }
  }
  return 0;
}

__device__ __forceinline__ std::int64_t group_of(const DequantParams& p, std::int64_t c) {
  if (p.g_idx != nullptr) return p.g_idx[c];
  return p.grouped ? c / p.group_size : 0;
}

// The fp32 value before the final rounding (CPU: the argument of round_to / round_bf16).
__device__ __forceinline__ float dequant_one(const DequantParams& p, std::int64_t r, std::int64_t c) {
  if (p.format == Format::kNvfp4) {
    const std::uint8_t b = p.bytes[r * p.row_stride + c / 2];
    const std::uint8_t nib = (c % 2 == 0) ? (b & 0xf) : (b >> 4);
    const float v = (nib & 8 ? -1.0f : 1.0f) * kFp4Values[nib & 7];  // exact: a sign flip
    const float s = __fdiv_rn(load_scale(p, r, c / p.group_size), *p.global_scale);
    return __fmul_rn(v, s);
  }
  const std::int64_t g = group_of(p, c);
  if (p.format == Format::kPacked) {  // pack.h unpack_code
    const int per = 32 / p.num_bits;
    const auto w = static_cast<std::uint32_t>(p.words[r * p.row_stride + c / per]);
    const std::uint32_t u = (w >> ((c % per) * p.num_bits)) & ((1u << p.num_bits) - 1u);
    const std::int32_t q = static_cast<std::int32_t>(u) - (1 << (p.num_bits - 1));
    return __fmul_rn(static_cast<float>(q - load_zero(p, r, g)), load_scale(p, r, g));
  }
  const std::uint8_t raw = p.bytes[r * p.in + c];
  const float q = p.weight_is_fp8 ? f8e4m3_to_f32(raw) : static_cast<float>(static_cast<std::int8_t>(raw));
  return __fmul_rn(__fsub_rn(q, static_cast<float>(load_zero(p, r, g))), load_scale(p, r, g));
}

// Rows stride over gridDim.y (which stays <= 65535), columns over blockIdx.x * blockDim.x.
__global__ void dequantize_kernel(DequantParams p, std::uint16_t* __restrict__ out) {
  const std::int64_t c = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (c >= p.in) return;
  for (std::int64_t r = blockIdx.y; r < p.out; r += gridDim.y) {
    const float v = dequant_one(p, r, c);
    std::uint16_t bits;
    if (p.out_f16) {
      // CPU: f32_to_f16(round_f16(v)); the engine wants that f16 value as bf16.
      bits = f32_to_bf16(f16_to_f32(f32_to_f16(round_f16(v))));
    } else {
      bits = f32_to_bf16(round_bf16(v));  // CPU: f32_to_bf16(round_to(BF16, v)); the same bits
    }
    out[r * p.in + c] = bits;
  }
}

// bf16 bits of fp32 v rounded to nearest even: the hardware conversion (one instruction on sm_80+) for finite values,
// where it equals f32_to_bf16(round_bf16(v)); that software pair for inf and NaN, keeping the CPU's NaN bits. On an
// H200 the software rounding made the word kernel compute-bound (about 25 integer operations a value).
__device__ __forceinline__ std::uint16_t bf16_bits_rne(float v) {
  return isfinite(v) ? __bfloat16_as_ushort(__float2bfloat16_rn(v)) : f32_to_bf16(round_bf16(v));
}

// The common W4A16/W8A16 layout (pack-quantized, no zero point, groups of a multiple of the values per word,
// no g_idx, in % values-per-word == 0): one thread per int32 word, the word's 8 (4-bit) or 4 (8-bit) values
// written as one 16- or 8-byte store. The same per-value operations as dequant_one, so the same bits.
// Rows over blockIdx.y and words of a row over x, in 32 bits: a flat index needed a 64-bit division and modulo
// per word, which cost more than the memory traffic (W4A16 E4B re-dequantizes ~3.9 G weights per step).
template <int kBits>
__global__ void dequantize_words_kernel(DequantParams p, int words_per_row, int words_per_group,
                                        std::uint16_t* __restrict__ out) {
  constexpr int kPer = 32 / kBits;
  for (std::int64_t r = blockIdx.y; r < p.out; r += gridDim.y) {
    for (int cw = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); cw < words_per_row;
         cw += static_cast<int>(gridDim.x * blockDim.x)) {
      const auto word = static_cast<std::uint32_t>(p.words[r * p.row_stride + cw]);
      const float scale = load_scale(p, r, p.per_tensor ? 0 : cw / words_per_group);
      std::uint16_t bits[kPer];
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        const std::uint32_t u = (word >> (j * kBits)) & ((1u << kBits) - 1u);
        const std::int32_t q = static_cast<std::int32_t>(u) - (1 << (kBits - 1));
        const float v = __fmul_rn(static_cast<float>(q), scale);
        bits[j] = p.out_f16 ? f32_to_bf16(f16_to_f32(f32_to_f16(round_f16(v)))) : bf16_bits_rne(v);
      }
      std::uint16_t* dst = out + r * p.in + cw * kPer;
      if constexpr (kPer == 8) {
        uint4 packed;
        packed.x = bits[0] | (static_cast<std::uint32_t>(bits[1]) << 16);
        packed.y = bits[2] | (static_cast<std::uint32_t>(bits[3]) << 16);
        packed.z = bits[4] | (static_cast<std::uint32_t>(bits[5]) << 16);
        packed.w = bits[6] | (static_cast<std::uint32_t>(bits[7]) << 16);
        *reinterpret_cast<uint4*>(dst) = packed;
      } else {
        uint2 packed;
        packed.x = bits[0] | (static_cast<std::uint32_t>(bits[1]) << 16);
        packed.y = bits[2] | (static_cast<std::uint32_t>(bits[3]) << 16);
        *reinterpret_cast<uint2*>(dst) = packed;
      }
    }
  }
}

}  // namespace

void launch_dequantize(const DequantParams& p, std::uint16_t* out, cudaStream_t stream) {
  if (p.out <= 0 || p.in <= 0) return;
  constexpr int kThreads = 256;
  const int per = 32 / p.num_bits;
  // The word-at-a-time path: its stores need rows of whole words and 16/8-byte aligned row starts.
  const bool words_path = p.format == Format::kPacked && p.zero_kind == ZeroKind::kNone && p.g_idx == nullptr &&
                          (p.num_bits == 4 || p.num_bits == 8) && p.in % 8 == 0 &&
                          (p.per_tensor || !p.grouped || p.group_size % per == 0) &&
                          reinterpret_cast<std::uintptr_t>(out) % 16 == 0;
  if (words_path) {
    DequantParams q = p;
    if (!q.grouped && !q.per_tensor) q.group_size = q.in;  // channel-wise: one group per row
    const std::int64_t words_per_row = p.in / per, words_per_group = q.per_tensor ? 1 : q.group_size / per;
    if (words_per_row > 0x7fffffffLL) throw Error(fmt::format("dequantize: in_features {} too large", p.in));
    constexpr int kWordThreads = 128;  // E4B rows are 320 .. 1280 words: few idle threads in the last block
    const dim3 grid(static_cast<unsigned>((words_per_row + kWordThreads - 1) / kWordThreads),
                    static_cast<unsigned>(std::min<std::int64_t>(p.out, 65535)));
    const auto wpr = static_cast<int>(words_per_row);
    const auto wpg = static_cast<int>(std::min<std::int64_t>(words_per_group, 0x7fffffffLL));
    if (p.num_bits == 4)
      dequantize_words_kernel<4><<<grid, kWordThreads, 0, stream>>>(q, wpr, wpg, out);
    else
      dequantize_words_kernel<8><<<grid, kWordThreads, 0, stream>>>(q, wpr, wpg, out);
    check_launch("dequantize_words_kernel");
    return;
  }
  const std::int64_t col_blocks = (p.in + kThreads - 1) / kThreads;
  if (col_blocks > 0x7fffffffLL) throw Error(fmt::format("dequantize: in_features {} too large", p.in));
  // One thread per column; rows loop over gridDim.y, which stays within the 65535 limit.
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(std::min<std::int64_t>(p.out, 65535)));
  dequantize_kernel<<<grid, kThreads, 0, stream>>>(p, out);
  check_launch("dequantize_kernel");
}

}  // namespace qg::cuda::dequant_detail
