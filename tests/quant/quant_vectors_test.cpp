// The test vectors of quant-formats.md section 11 (TV1-TV7), verified there against a replay of
// compressed-tensors / llm-compressor on CPU and CUDA: exact bits, no tolerance.
#include <cmath>
#include <cstring>

#include "catch.h"
#include "common/float_formats.h"
#include "quant/pack.h"
#include "quant/quantized_linear.h"
#include "quant/rtn.h"

using namespace qg;

namespace {
// Section 4's 2x16 bf16 matrix.
const std::vector<std::uint16_t> kW = {0x3F70, 0xBF70, 0x3EA0, 0x3EE0, 0xBD80, 0x0000, 0x3F00, 0xBE40,
                                       0x3EC0, 0xBDCD, 0x3E4D, 0x3D4D, 0xBEC0, 0x3E00, 0x3E9A, 0xBE80,
                                       0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
                                       0x3F1A, 0x3DCD, 0x3E4D, 0x3E9A, 0x3ECD, 0x3F00, 0x0000, 0x3E1A};

TensorView view_of(const void* data, DType dtype, Shape shape, const std::string& name = "w") {
  return TensorView{name, dtype, std::move(shape), data, Device::kHost};
}

QuantArgs int_args(int bits, bool sym, QuantStrategy strategy, std::optional<std::int64_t> group = std::nullopt) {
  QuantArgs a;
  a.num_bits = bits;
  a.symmetric = sym;
  a.strategy = strategy;
  a.group_size = group;
  return a;
}

// A pack-quantized layer over in-memory tensors, as bind_quantized_linear would produce it.
struct PackedLayer {
  std::vector<std::int32_t> packed, zeros_packed;
  std::vector<std::uint16_t> scales;
  QuantizedLinear layer;
};
PackedLayer pack_layer(const RtnResult& r, const QuantArgs& a) {
  PackedLayer p;
  p.packed = pack_rows(r.codes, r.out_features, r.in_features, a.num_bits);
  p.scales = r.scales;
  p.layer.module = "test";
  p.layer.format = "pack-quantized";
  p.layer.args = a;
  p.layer.out_features = r.out_features;
  p.layer.in_features = r.in_features;
  const std::int64_t per = 32 / a.num_bits;
  p.layer.weight = view_of(p.packed.data(), DType::kI32, {r.out_features, (r.in_features + per - 1) / per});
  p.layer.scale = a.strategy == QuantStrategy::kTensor ? view_of(p.scales.data(), DType::kBF16, {1})
                                                       : view_of(p.scales.data(), DType::kBF16, {r.out_features, r.n_groups});
  if (!a.symmetric) {
    p.zeros_packed = pack_columns(r.zeros, r.out_features, r.n_groups, a.num_bits);
    p.layer.zero_point = view_of(p.zeros_packed.data(), DType::kI32, {(r.out_features + per - 1) / per, r.n_groups});
  }
  return p;
}
}  // namespace

TEST_CASE("TV1: symmetric scales, bf16 absmax -> bf16 scale (/7.5 and /127.5)", "[quant]") {
  struct Row {
    std::uint16_t absmax, int4, int8;
  };
  for (const Row& row : {Row{0x3F70, 0x3E00, 0x3BF1}, Row{0x3F1A, 0x3DA4, 0x3B9B}, Row{0x0000, 0x3C00, 0x3C00}}) {
    for (int bits : {4, 8}) {
      const std::uint16_t w[2] = {row.absmax, 0};
      const auto r = rtn_quantize(view_of(w, DType::kBF16, {1, 2}), int_args(bits, true, QuantStrategy::kChannel));
      CHECK(r.scales[0] == (bits == 4 ? row.int4 : row.int8));
    }
  }
  const std::uint16_t w[1] = {0x3EC0};  // 0.375 -> 0x3D4D at int4
  CHECK(rtn_quantize(view_of(w, DType::kBF16, {1, 1}), int_args(4, true, QuantStrategy::kChannel)).scales[0] == 0x3D4D);
}

TEST_CASE("TV2: int4 symmetric group 8 (section 4), codes, packed words, scales, dequantized bits", "[quant]") {
  const QuantArgs a = int_args(4, true, QuantStrategy::kGroup, 8);
  const RtnResult r = rtn_quantize(view_of(kW.data(), DType::kBF16, {2, 16}), a);
  CHECK(r.codes == std::vector<std::int32_t>{7, -8, 2, 4, 0, 0, 4, -2, 7, -2, 4, 1, -8, 2, 6, -5,  //
                                             0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 4, 5, 6, 0, 2});
  CHECK(r.scales == std::vector<std::uint16_t>{0x3E00, 0x3D4D, 0x3C00, 0x3DA4});
  PackedLayer p = pack_layer(r, a);
  CHECK(p.packed == std::vector<std::int32_t>{1820903951, 1050713199, -2004318072, -1460811105});
  std::uint8_t first_bytes[4];
  std::memcpy(first_bytes, p.packed.data(), 4);
  CHECK(first_bytes[0] == 0x0F);
  CHECK(first_bytes[1] == 0xCA);
  CHECK(first_bytes[3] == 0x6C);
  CHECK(dequantize_16bit(p.layer) == std::vector<std::uint16_t>{0x3F60, 0xBF80, 0x3E80, 0x3F00, 0x0000, 0x0000, 0x3F00,
                                                                0xBE80, 0x3EB3, 0xBDCD, 0x3E4D, 0x3D4D, 0xBECD, 0x3DCD,
                                                                0x3E9A, 0xBE80, 0, 0, 0, 0, 0, 0, 0, 0, 0x3F10, 0x3DA4,
                                                                0x3E24, 0x3EA4, 0x3ECD, 0x3EF6, 0x0000, 0x3E24});
  const auto f = dequantize_f32(p.layer);
  CHECK(f[8] == 0.349609375f);
  CHECK(f[24] == 0.5625f);  // 0.5605469 rounds to the even bf16
}

TEST_CASE("TV3: int4 asymmetric group 8, zero points packed along dim 0", "[quant]") {
  const QuantArgs a = int_args(4, false, QuantStrategy::kGroup, 8);
  const RtnResult r = rtn_quantize(view_of(kW.data(), DType::kBF16, {2, 16}), a);
  CHECK(r.scales == std::vector<std::uint16_t>{f32_to_bf16(0.125f), f32_to_bf16(0.050048828125f), f32_to_bf16(0.0078125f),
                                               f32_to_bf16(0.0400390625f)});
  CHECK(r.zeros == std::vector<std::int32_t>{0, 0, 0, -8});
  CHECK(std::vector<std::int32_t>(r.codes.begin() + 24, r.codes.end()) == std::vector<std::int32_t>{7, -6, -3, 0, 2, 4, -8, -4});
  CHECK(std::vector<std::int32_t>(r.codes.begin(), r.codes.begin() + 16) ==
        std::vector<std::int32_t>{7, -8, 2, 4, 0, 0, 4, -2, 7, -2, 4, 1, -8, 2, 6, -5});
  PackedLayer p = pack_layer(r, a);
  CHECK(p.packed[3] == 0x40CA852F);
  CHECK(p.zeros_packed == std::vector<std::int32_t>{0x88, 0x08});
  const auto f = dequantize_f32(p.layer);
  CHECK(std::vector<float>(f.begin() + 24, f.end()) ==
        std::vector<float>{0.6015625f, 0.080078125f, round_bf16(0.20019531f), 0.3203125f, round_bf16(0.40039062f),
                           0.48046875f, 0.0f, 0.16015625f});
}

TEST_CASE("TV4: int8 symmetric channel", "[quant]") {
  const QuantArgs a = int_args(8, true, QuantStrategy::kChannel);
  const RtnResult r = rtn_quantize(view_of(kW.data(), DType::kBF16, {2, 16}), a);
  CHECK(r.scales == std::vector<std::uint16_t>{0x3BF1, 0x3B9B});
  CHECK(r.codes == std::vector<std::int32_t>{127, -128, 42, 60, -8, 0, 68, -26, 51, -14, 27, 7, -51, 17, 41, -34,  //
                                             0, 0, 0, 0, 0, 0, 0, 0, 127, 21, 42, 64, 84, 106, 0, 32});
  const PackedLayer p = pack_layer(r, a);
  CHECK(p.packed == std::vector<std::int32_t>{static_cast<std::int32_t>(0xBCAA00FFu), 0x66C48078,
                                              static_cast<std::int32_t>(0x879B72B3u), 0x5EA9914D,
                                              static_cast<std::int32_t>(0x80808080u), static_cast<std::int32_t>(0x80808080u),
                                              static_cast<std::int32_t>(0xC0AA95FFu), static_cast<std::int32_t>(0xA080EAD4u)});
}

TEST_CASE("TV5: fp8 e4m3 codes of the per-channel example decode to the listed values", "[quant]") {
  const std::uint8_t bytes[16] = {0x7E, 0xFE, 0x71, 0x75, 0xDF, 0x00, 0x77, 0xEB, 0x73, 0xE4, 0x6C, 0x5C, 0xF3, 0x67, 0x71, 0xEF};
  const float want[16] = {448, -448, 144, 208, -30, 0, 240, -88, 176, -48, 96, 24, -176, 60, 144, -120};
  for (int i = 0; i < 16; ++i) CHECK(f8e4m3_to_f32(bytes[i]) == want[i]);
  // Dequantization through the float-quantized path: rne_bf16(fp8 * scale), scale 0x3B09.
  const std::uint16_t scale[1] = {0x3B09};
  QuantizedLinear l;
  l.module = "fp8";
  l.format = "float-quantized";
  l.args.type = QuantType::kFloat;
  l.args.strategy = QuantStrategy::kChannel;
  l.out_features = 1;
  l.in_features = 16;
  l.weight = view_of(bytes, DType::kF8E4M3, {1, 16});
  l.scale = view_of(scale, DType::kBF16, {1, 1});
  const auto f = dequantize_f32(l);
  for (int i = 0; i < 16; ++i) CHECK(f[static_cast<std::size_t>(i)] == round_bf16(want[i] * bf16_to_f32(0x3B09)));
  CHECK(f[0] == round_bf16(0.9365234375f));
}

TEST_CASE("TV6: nvfp4 dequantization, fp4 x (fp8 scale / global scale)", "[quant]") {
  const std::uint8_t packed[16] = {0xF7, 0x54, 0x09, 0xA5, 0x94, 0x13, 0x2C, 0xB4, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::uint8_t scales[2] = {0x7E, 0x76};  // 448, 224
  const float global = bits_to_f32(0x45340000u);  // 2880
  CHECK(global == 2880.0f);
  QuantizedLinear l;
  l.module = "nvfp4";
  l.format = "nvfp4-pack-quantized";
  l.args.type = QuantType::kFloat;
  l.args.num_bits = 4;
  l.args.strategy = QuantStrategy::kTensorGroup;
  l.args.group_size = 16;
  l.out_features = 2;
  l.in_features = 16;
  l.weight = view_of(packed, DType::kU8, {2, 8});
  l.scale = view_of(scales, DType::kF8E4M3, {2, 1});
  l.global_scale = view_of(&global, DType::kF32, {1});
  const auto f = dequantize_f32(l);
  CHECK(f[0] == 0.93359375f);  // nibble 7 = +6, 6 * 448 / 2880
  CHECK(f[1] == round_bf16(-6.0f * (448.0f / 2880.0f)));  // nibble 0xF = -6
  CHECK(f[2] == round_bf16(2.0f * (448.0f / 2880.0f)));   // 0x54 low nibble 4 = +2
}

TEST_CASE("TV7: odd width (1x12, int4 channel) pads the last word with zero nibbles", "[quant]") {
  std::vector<std::uint16_t> w(12);
  for (int i = 0; i < 12; ++i) w[static_cast<std::size_t>(i)] = f32_to_bf16(0.1f * static_cast<float>(i - 6));
  const QuantArgs a = int_args(4, true, QuantStrategy::kChannel);
  const RtnResult r = rtn_quantize(view_of(w.data(), DType::kBF16, {1, 12}), a);
  CHECK(r.codes == std::vector<std::int32_t>{-8, -6, -5, -4, -2, -1, 0, 1, 2, 4, 5, 6});
  CHECK(pack_layer(r, a).packed == std::vector<std::int32_t>{static_cast<std::int32_t>(0x98764320u), 0x0000EDCA});
}
