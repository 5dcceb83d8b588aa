// Narrow float formats against hand-computed bit patterns (IEEE 754 / OCP FP8 definitions).
#include <cmath>

#include "catch.h"
#include "common/float_formats.h"

using namespace qg;

TEST_CASE("bf16 widening and RNE rounding", "[common]") {
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(bf16_to_f32(0xc000) == -2.0f);
  CHECK(bf16_to_f32(0x4249) == 50.25f);  // 0x4249 = 0 10000100 1001001 -> 2^5 * 1.5703125
  CHECK(std::isinf(bf16_to_f32(0x7f80)));
  CHECK(std::isnan(bf16_to_f32(0x7fc0)));
  // sqrt(2560) = 50.596443 rounds to 50.5 in bf16 (gemma4-text.md section 4, E4B embed scale).
  CHECK(bf16_to_f32(f32_to_bf16(std::sqrt(2560.0f))) == 50.5f);
  CHECK(bf16_to_f32(f32_to_bf16(std::sqrt(1536.0f))) == 39.25f);
  CHECK(bf16_to_f32(f32_to_bf16(std::sqrt(5376.0f))) == 73.5f);
  // Ties go to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> 1.
  CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);
  // 1 + 3*2^-8 is halfway between 1+2^-7 (odd mantissa) and 1+2^-6 -> 1+2^-6.
  CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST_CASE("fp16 widening covers normals, subnormals, inf and NaN", "[common]") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(f16_to_f32(0x8000) == 0.0f);
  CHECK(std::signbit(f16_to_f32(0x8000)));
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK(std::isnan(f16_to_f32(0x7e00)));
}

TEST_CASE("fp8 e4m3fn and e5m2 widening", "[common]") {
  CHECK(f8e4m3_to_f32(0x38) == 1.0f);                    // 0 0111 000
  CHECK(f8e4m3_to_f32(0x7e) == 448.0f);                  // max finite: 0 1111 110
  CHECK(f8e4m3_to_f32(0x01) == std::ldexp(1.0f, -9));    // min subnormal
  CHECK(f8e4m3_to_f32(0xb8) == -1.0f);
  CHECK(std::isnan(f8e4m3_to_f32(0x7f)));
  CHECK(std::isnan(f8e4m3_to_f32(0xff)));
  CHECK(f8e4m3_to_f32(0x78) == 256.0f);                  // 0 1111 000: no infinities in e4m3fn
  CHECK(f8e5m2_to_f32(0x3c) == 1.0f);
  CHECK(f8e5m2_to_f32(0x7b) == 57344.0f);                // max finite
  CHECK(std::isinf(f8e5m2_to_f32(0x7c)));
  CHECK(f8e5m2_to_f32(0x01) == std::ldexp(1.0f, -16));   // min subnormal
  CHECK(f8e8m0_to_f32(127) == 1.0f);
  CHECK(f8e8m0_to_f32(130) == 8.0f);
  CHECK(std::isnan(f8e8m0_to_f32(0xff)));
}
