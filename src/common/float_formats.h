#pragma once
// Bit-exact conversions between the narrow float formats of checkpoints and fp32. Host and device
// (the same code is used by CUDA kernels and their CPU references).
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define QG_HD __host__ __device__ inline
#else
#define QG_HD inline
#endif

namespace qg {

QG_HD float bits_to_f32(std::uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}

QG_HD std::uint32_t f32_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
#endif
}

QG_HD float bf16_to_f32(std::uint16_t h) { return bits_to_f32(static_cast<std::uint32_t>(h) << 16); }

// Round to nearest even, NaN stays NaN (quiet), as torch's `.to(torch.bfloat16)` does.
QG_HD std::uint16_t f32_to_bf16(float f) {
  std::uint32_t bits = f32_to_bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

// fp32 -> IEEE binary16, round to nearest even (overflow to inf, subnormals kept), as torch's `.half()`.
QG_HD std::uint16_t f32_to_f16(float f) {
  const std::uint32_t bits = f32_to_bits(f);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero): value = abs_value / 2^-24, rounded half to even.
    const float v = bits_to_f32(abs) * 16777216.0f;  // exact scaling by 2^24
    std::uint32_t m = static_cast<std::uint32_t>(v);
    const float rem = v - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return static_cast<std::uint16_t>(sign | m);
  }
  std::uint32_t r = abs - 0x38000000u;  // rebias exponent 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | (r >> 13));
}

// Round-trips through the narrow format: the value torch would hold after `.to(bfloat16/float16)`.
QG_HD float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

// IEEE binary16 -> fp32, subnormals, infinities and NaN included.
QG_HD float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_to_f32(sign);
    // subnormal: value = mant * 2^-24
    float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

QG_HD float round_f16(float f) { return f16_to_f32(f32_to_f16(f)); }

// float8_e4m3fn (bias 7, no infinities; S.1111.111 is NaN), as torch.float8_e4m3fn.
QG_HD float f8e4m3_to_f32(std::uint8_t b) {
  const bool neg = b & 0x80u;
  const std::uint32_t exp = (b >> 3) & 0xfu;
  const std::uint32_t mant = b & 0x7u;
  float v;
  if (exp == 0xf && mant == 0x7) {
    v = bits_to_f32(0x7fc00000u);
  } else if (exp == 0) {
    v = static_cast<float>(mant) * 0.001953125f;  // mant * 2^-9
  } else {
    v = bits_to_f32(((exp + 120u) << 23) | (mant << 20));
  }
  return neg ? -v : v;
}

// float8_e5m2 (bias 15, IEEE-like with infinities), as torch.float8_e5m2: the top byte of an fp16.
QG_HD float f8e5m2_to_f32(std::uint8_t b) { return f16_to_f32(static_cast<std::uint16_t>(b) << 8); }

// float8_e8m0fnu: 2^(b-127), 0xff is NaN.
QG_HD float f8e8m0_to_f32(std::uint8_t b) {
  if (b == 0xff) return bits_to_f32(0x7fc00000u);
  if (b == 0) return bits_to_f32(0x00400000u);  // 2^-127 is an fp32 subnormal
  return bits_to_f32(static_cast<std::uint32_t>(b) << 23);
}

}  // namespace qg
