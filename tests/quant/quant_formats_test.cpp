// Reading the other compressed-tensors layouts through a checkpoint: naive-quantized int8 with an
// unpacked I8 zero point, pack-quantized int4 asymmetric with the legacy (CT < 0.9.4) unpacked I8 zero
// points, float-quantized FP8 with a per-tensor scale. Expected values from the dequantization
// formula of quant-formats.md 2.3 / 5, computed here element by element.
#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors_writer.h"
#include "common/float_formats.h"
#include "quant/pack.h"
#include "quant/quantized_linear.h"
#include "checkpoint/safetensors_test_util.h"
#include "test_paths.h"

using namespace qg;

namespace {
template <typename T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}
QuantScheme scheme(const std::string& format, int bits, QuantType type, bool sym, QuantStrategy strategy,
                   std::optional<std::int64_t> group = std::nullopt) {
  QuantScheme s;
  s.name = "group_0";
  s.format = format;
  s.targets = {"Linear"};
  QuantArgs a;
  a.num_bits = bits;
  a.type = type;
  a.symmetric = sym;
  a.strategy = strategy;
  a.group_size = group;
  s.weights = a;
  return s;
}
}  // namespace

TEST_CASE("naive-quantized int8, asymmetric per channel, unpacked I8 zero points", "[quant]") {
  qg::test::TempDir d("naive");
  const std::vector<std::int8_t> w = {-128, -1, 0, 5, 127, 64, 3, -7};  // [2, 4]
  const std::vector<std::uint16_t> s = {f32_to_bf16(0.01f), f32_to_bf16(0.5f)};
  const std::vector<std::int8_t> z = {-3, 10};
  {
    SafetensorsWriter wr(d.path());
    wr.add("m.weight", DType::kI8, {2, 4}, bytes_of(w));
    wr.add("m.weight_scale", DType::kBF16, {2, 1}, bytes_of(s));
    wr.add("m.weight_zero_point", DType::kI8, {2, 1}, bytes_of(z));
    wr.finish();
  }
  const Checkpoint ck = Checkpoint::open(d.path());
  const QuantizedLinear l = bind_quantized_linear(ck, "m", scheme("naive-quantized", 8, QuantType::kInt, false, QuantStrategy::kChannel));
  const auto f = dequantize_f32(l);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c)
      CHECK(f[static_cast<std::size_t>(r * 4 + c)] ==
            round_bf16(static_cast<float>(w[static_cast<std::size_t>(r * 4 + c)] - z[static_cast<std::size_t>(r)]) *
                       bf16_to_f32(s[static_cast<std::size_t>(r)])));
}

TEST_CASE("pack-quantized int4 asymmetric with legacy unpacked I8 zero points", "[quant]") {
  qg::test::TempDir d("legacy");
  const std::vector<std::int32_t> q = {-8, -3, 0, 7, 1, 2, -1, 4,  // row 0: groups of 4
                                       5, 5, -6, 0, -8, 7, 3, 3};
  const auto packed = pack_rows(q, 2, 8, 4);
  const std::vector<std::uint16_t> s = {f32_to_bf16(0.25f), f32_to_bf16(0.125f), f32_to_bf16(1.5f), f32_to_bf16(0.0625f)};
  const std::vector<std::int8_t> z = {-8, 2, 0, -1};  // [2, 2], unpacked
  const std::vector<std::int64_t> shape = {2, 8};
  {
    SafetensorsWriter wr(d.path());
    wr.add("m.weight_packed", DType::kI32, {2, 1}, bytes_of(packed));
    wr.add("m.weight_scale", DType::kBF16, {2, 2}, bytes_of(s));
    wr.add("m.weight_zero_point", DType::kI8, {2, 2}, bytes_of(z));
    wr.add("m.weight_shape", DType::kI64, {2}, bytes_of(shape));
    wr.finish();
  }
  const Checkpoint ck = Checkpoint::open(d.path());
  const QuantizedLinear l =
      bind_quantized_linear(ck, "m", scheme("pack-quantized", 4, QuantType::kInt, false, QuantStrategy::kGroup, 4));
  const auto f = dequantize_f32(l);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 8; ++c) {
      const std::size_t g = static_cast<std::size_t>(r * 2 + c / 4);
      CHECK(f[static_cast<std::size_t>(r * 8 + c)] ==
            round_bf16(static_cast<float>(q[static_cast<std::size_t>(r * 8 + c)] - z[g]) * bf16_to_f32(s[g])));
    }
}

TEST_CASE("float-quantized FP8 with one per-tensor scale", "[quant]") {
  qg::test::TempDir d("fp8");
  const std::vector<std::uint8_t> w = {0x38, 0xB8, 0x7E, 0x01, 0x00, 0x40};  // 1, -1, 448, 2^-9, 0, 2
  const std::vector<std::uint16_t> s = {f32_to_bf16(0.0078125f)};
  {
    SafetensorsWriter wr(d.path());
    wr.add("m.weight", DType::kF8E4M3, {2, 3}, bytes_of(w));
    wr.add("m.weight_scale", DType::kBF16, {1}, bytes_of(s));
    wr.finish();
  }
  const Checkpoint ck = Checkpoint::open(d.path());
  const QuantizedLinear l =
      bind_quantized_linear(ck, "m", scheme("float-quantized", 8, QuantType::kFloat, true, QuantStrategy::kTensor));
  CHECK(dequantize_f32(l) == std::vector<float>{0.0078125f, -0.0078125f, 3.5f, std::ldexp(1.0f, -16), 0.0f, 0.015625f});
  // An I8 weight under a float scheme is rejected, naming the tensor.
  qg::test::TempDir d2("fp8bad");
  {
    SafetensorsWriter wr(d2.path());
    wr.add("m.weight", DType::kI8, {2, 3}, bytes_of(w));
    wr.add("m.weight_scale", DType::kBF16, {1}, bytes_of(s));
    wr.finish();
  }
  const Checkpoint bad = Checkpoint::open(d2.path());
  qg::test::require_error(
      [&] { bind_quantized_linear(bad, "m", scheme("float-quantized", 8, QuantType::kFloat, true, QuantStrategy::kTensor)); },
      "", "m.weight", "expected F8_E4M3");
}
