// GPU dequantization of quantized Linears (kernels/dequant_kernels.cuh) against the CPU's
// quant/quantized_linear.h dequantize_16bit(), which is this family's host reference (there is no
// separate _ref file): every value bit for bit, converted to bf16 when the CPU's output dtype is F16 (the
// engine's contract). Layers are built in memory as bind_quantized_linear would produce them (as
// tests/quant/quant_vectors_test.cpp does), with ragged shapes and random codes/scales covering every
// format, strategy and option the CPU handles; then every quantized Linear of the committed W4A16 fixture
// and of the E-style fixture quantized W4A16_ASYM / W8A16 by our own writer.
#include <cuda_runtime.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "common/float_formats.h"
#include "kernels/cuda_check.cuh"
#include "kernels/dequant_kernels.cuh"
#include "model/fixture_util.h"
#include "model/gemma4_config.h"
#include "model/gemma4_quantize.h"
#include "model/gemma4_weights.h"
#include "quant/pack.h"
#include "quant/quantized_linear.h"

using namespace qg;

namespace {

// A QuantizedLinear over owned host vectors. Fill the vectors, then call finish() once.
struct TestLayer {
  std::vector<std::int32_t> words, zero_words, g_idx;
  std::vector<std::uint8_t> bytes;  // 8-bit weights (I8/F8) or nvfp4 pairs
  std::vector<std::uint16_t> scale16;
  std::vector<std::uint8_t> scale8;
  std::vector<std::int8_t> zero_i8;
  float global_scale = 0;
  QuantizedLinear layer;
};

std::mt19937& rng() {
  static std::mt19937 g(1234);
  return g;
}
int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }

// Scales spread over four decades (down to 1e-6, where F16 results are subnormal), random sign-free.
float random_scale() {
  const float e = std::uniform_real_distribution<float>(-6.0f, -1.0f)(rng());
  return std::pow(10.0f, e);
}
std::uint16_t scale_bits(float s, DType dtype) { return dtype == DType::kF16 ? f32_to_f16(s) : f32_to_bf16(s); }
// A random finite fp8 e4m3 byte (0x7f / 0xff are NaN; NaN payloads are not what this test is about).
std::uint8_t random_e4m3() {
  for (;;) {
    const auto b = static_cast<std::uint8_t>(uniform_int(0, 255));
    if ((b & 0x7f) != 0x7f) return b;
  }
}

struct Spec {
  std::string format = "pack-quantized";
  int bits = 4;
  QuantType type = QuantType::kInt;
  QuantStrategy strategy = QuantStrategy::kGroup;
  std::int64_t group = 32;
  std::int64_t out = 37, in = 96;
  bool symmetric = true;
  bool packed_zero = true;  // asymmetric pack-quantized: packed I32 (else legacy I8)
  bool g_idx = false;
  DType scale_dtype = DType::kBF16;
};

std::unique_ptr<TestLayer> make_layer(const Spec& s) {
  auto t = std::make_unique<TestLayer>();
  QuantizedLinear& l = t->layer;
  l.module = "test." + s.format;
  l.format = s.format;
  l.args.num_bits = s.bits;
  l.args.type = s.type;
  l.args.symmetric = s.symmetric;
  l.args.strategy = s.strategy;
  if (s.strategy == QuantStrategy::kGroup || s.strategy == QuantStrategy::kTensorGroup) l.args.group_size = s.group;
  if (s.g_idx) l.args.actorder = "group";
  l.out_features = s.out;
  l.in_features = s.in;
  const std::int64_t ng = l.n_groups();
  const bool per_tensor = s.strategy == QuantStrategy::kTensor;
  const std::int64_t n_scales = per_tensor ? 1 : s.out * ng;
  const Shape scale_shape = per_tensor ? Shape{1} : Shape{s.out, ng};
  const int qmin = -(1 << (s.bits - 1)), qmax = (1 << (s.bits - 1)) - 1;

  if (s.format == "nvfp4-pack-quantized") {
    const std::int64_t bpr = (s.in + 1) / 2;
    t->bytes.resize(static_cast<std::size_t>(s.out * bpr));
    for (auto& b : t->bytes) b = static_cast<std::uint8_t>(uniform_int(0, 255));  // all 16 nibbles, both signs
    t->scale8.resize(static_cast<std::size_t>(n_scales));
    for (auto& b : t->scale8) b = random_e4m3();
    t->global_scale = std::uniform_real_distribution<float>(100.0f, 5000.0f)(rng());
    l.weight = {"w", DType::kU8, {s.out, bpr}, t->bytes.data(), Device::kHost};
    l.scale = {"s", DType::kF8E4M3, scale_shape, t->scale8.data(), Device::kHost};
    l.global_scale = TensorView{"gs", DType::kF32, {1}, &t->global_scale, Device::kHost};
    return t;
  }

  if (s.format == "pack-quantized") {
    std::vector<std::int32_t> codes(static_cast<std::size_t>(s.out * s.in));
    for (auto& c : codes) c = uniform_int(qmin, qmax);
    t->words = pack_rows(codes, s.out, s.in, s.bits);
    const int per = 32 / s.bits;
    l.weight = {"w", DType::kI32, {s.out, (s.in + per - 1) / per}, t->words.data(), Device::kHost};
  } else {
    t->bytes.resize(static_cast<std::size_t>(s.out * s.in));
    for (auto& b : t->bytes)
      b = s.type == QuantType::kFloat ? random_e4m3() : static_cast<std::uint8_t>(static_cast<std::int8_t>(uniform_int(qmin, qmax)));
    l.weight = {"w", s.type == QuantType::kFloat ? DType::kF8E4M3 : DType::kI8, {s.out, s.in}, t->bytes.data(), Device::kHost};
  }
  t->scale16.resize(static_cast<std::size_t>(n_scales));
  for (auto& b : t->scale16) b = scale_bits(random_scale(), s.scale_dtype);
  l.scale = {"s", s.scale_dtype, scale_shape, t->scale16.data(), Device::kHost};

  if (!s.symmetric) {
    if (s.packed_zero) {
      std::vector<std::int32_t> z(static_cast<std::size_t>(s.out * ng));
      for (auto& v : z) v = uniform_int(qmin, qmax);
      t->zero_words = pack_columns(z, s.out, ng, s.bits);
      const int per = 32 / s.bits;
      l.zero_point = TensorView{"z", DType::kI32, {(s.out + per - 1) / per, ng}, t->zero_words.data(), Device::kHost};
    } else {
      t->zero_i8.resize(static_cast<std::size_t>(n_scales));
      for (auto& v : t->zero_i8) v = static_cast<std::int8_t>(uniform_int(qmin, qmax));
      l.zero_point = TensorView{"z", DType::kI8, scale_shape, t->zero_i8.data(), Device::kHost};
    }
  }
  if (s.g_idx) {
    t->g_idx.resize(static_cast<std::size_t>(s.in));
    for (auto& g : t->g_idx) g = uniform_int(0, static_cast<int>(ng - 1));
    l.g_idx = TensorView{"g", DType::kI32, {s.in}, t->g_idx.data(), Device::kHost};
  }
  return t;
}

// Number of elements where the GPU's bf16 differs from the CPU's dequantize_16bit (as bf16).
std::size_t gpu_mismatches(const QuantizedLinear& l) {
  std::vector<std::uint16_t> want = dequantize_16bit(l);
  if (l.output_dtype() == DType::kF16)
    for (auto& h : want) h = f32_to_bf16(f16_to_f32(h));  // exact: an f16 value widened, then RNE to bf16
  const cuda::DeviceQuantizedLinear d(l);
  CHECK(d.device_bytes() == l.stored_bytes());
  CHECK(d.out_features() == l.out_features);
  CHECK(d.in_features() == l.in_features);
  cuda::DeviceBuffer out(want.size() * 2 + 16, "dequant test output");
  out.zero();
  d.dequantize_to_bf16(out.as<__nv_bfloat16>(), nullptr);
  QG_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<std::uint16_t> got(want.size() + 8);
  out.download(got.data(), got.size() * 2);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) bad += got[i] != want[i];
  for (std::size_t i = want.size(); i < got.size(); ++i) bad += got[i] != 0;  // nothing written past the end
  return bad;
}

void check_spec(const Spec& s) {
  const auto t = make_layer(s);
  INFO(s.format << " bits " << s.bits << " strategy " << strategy_name(s.strategy) << " group " << s.group << " ["
                << s.out << ", " << s.in << "] sym " << s.symmetric << " packed_zero " << s.packed_zero << " g_idx "
                << s.g_idx << " scale " << dtype_name(s.scale_dtype));
  CHECK(gpu_mismatches(t->layer) == 0);
}

}  // namespace

TEST_CASE("dequant: pack-quantized int4/int8, every strategy and zero-point form, ragged shapes", "[gpu]") {
  const int bits = GENERATE(4, 8);
  const DType sd = GENERATE(DType::kBF16, DType::kF16);
  const bool sym = GENERATE(true, false);
  for (const bool packed_zero : {true, false}) {
    if (sym && !packed_zero) continue;
    Spec s;
    s.bits = bits;
    s.scale_dtype = sd;
    s.symmetric = sym;
    s.packed_zero = packed_zero;
    // group sizes 16/32/128 over in = 3 groups; out not a multiple of the zero-point packing (8 or 4)
    for (const std::int64_t g : {16, 32, 128}) {
      s.strategy = QuantStrategy::kGroup;
      s.group = g;
      s.out = 37;
      s.in = 3 * g;
      check_spec(s);
    }
    // channel: in = 83 is not a multiple of 8 (int4) or 4 (int8): the last word is padded
    s.strategy = QuantStrategy::kChannel;
    s.out = 1;
    s.in = 83;
    check_spec(s);
    s.out = 45;
    check_spec(s);
    // actorder group: g_idx with in not a multiple of the group size (bind allows it with g_idx)
    s.strategy = QuantStrategy::kGroup;
    s.group = 32;
    s.in = 100;
    s.out = 19;
    s.g_idx = true;
    check_spec(s);
    s.g_idx = false;
    // per tensor: one scale (and, asymmetric, only the legacy I8 zero point is allowed)
    if (packed_zero || sym) {
      s.strategy = QuantStrategy::kTensor;
      s.packed_zero = false;
      s.out = 33;
      s.in = 71;
      check_spec(s);
    }
  }
}

TEST_CASE("dequant: naive/int-quantized int8 and float-quantized fp8, every strategy", "[gpu]") {
  const DType sd = GENERATE(DType::kBF16, DType::kF16);
  for (const char* format : {"naive-quantized", "int-quantized", "float-quantized"}) {
    const bool fp8 = std::string(format) == "float-quantized";
    for (const bool sym : {true, false}) {
      if (fp8 && !sym) continue;  // asymmetric float weights are rejected by bind
      Spec s;
      s.format = format;
      s.bits = 8;
      s.type = fp8 ? QuantType::kFloat : QuantType::kInt;
      s.symmetric = sym;
      s.packed_zero = false;  // 8-bit formats store I8 zero points
      s.scale_dtype = sd;
      s.strategy = QuantStrategy::kChannel;
      s.out = 29;
      s.in = 77;
      check_spec(s);
      s.strategy = QuantStrategy::kTensor;
      check_spec(s);
      s.strategy = QuantStrategy::kGroup;
      s.group = 16;
      s.in = 80;
      check_spec(s);
      s.group = 128;
      s.in = 256;
      s.out = 1;
      check_spec(s);
      s.g_idx = true;
      s.group = 32;
      s.in = 90;
      s.out = 5;
      check_spec(s);
    }
  }
}

TEST_CASE("dequant: nvfp4-pack-quantized, ragged rows and an odd width", "[gpu]") {
  Spec s;
  s.format = "nvfp4-pack-quantized";
  s.bits = 4;
  s.type = QuantType::kFloat;
  s.strategy = QuantStrategy::kTensorGroup;
  s.group = 16;
  s.out = 41;
  s.in = 96;
  check_spec(s);
  s.out = 1;
  s.in = 16;
  check_spec(s);
  s.group = 15;  // odd in_features: the last byte's high nibble is padding
  s.out = 7;
  s.in = 45;
  check_spec(s);
}

TEST_CASE("dequant: all 256 fp8 codes and all int8 codes through the 8-bit path", "[gpu]") {
  for (const bool fp8 : {true, false}) {
    Spec s;
    s.format = fp8 ? "float-quantized" : "naive-quantized";
    s.bits = 8;
    s.type = fp8 ? QuantType::kFloat : QuantType::kInt;
    s.strategy = QuantStrategy::kChannel;
    s.out = 3;
    s.in = 254;  // every non-NaN e4m3 byte (254 of them) / int8 code, per row
    auto t = make_layer(s);
    std::size_t i = 0;
    for (int r = 0; r < 3; ++r)
      for (int b = 0, n = 0; b < 256 && n < 254; ++b) {
        if (fp8 && (b & 0x7f) == 0x7f) continue;
        if (!fp8 && b == 0x80) continue;  // int8 -128 is outside the symmetric range; keep 254 codes
        if (!fp8 && b == 0x7f) continue;
        t->bytes[i++] = static_cast<std::uint8_t>(b);
        ++n;
      }
    CHECK(gpu_mismatches(t->layer) == 0);
  }
}

TEST_CASE("dequant: device_bytes equals the packed tensors' bytes", "[gpu]") {
  Spec s;
  s.symmetric = false;
  s.g_idx = true;
  s.in = 100;
  const auto t = make_layer(s);
  const cuda::DeviceQuantizedLinear d(t->layer);
  const std::uint64_t expect = t->words.size() * 4 + t->scale16.size() * 2 + t->zero_words.size() * 4 + t->g_idx.size() * 4;
  CHECK(d.device_bytes() == expect);
  CHECK(d.device_bytes() == t->layer.stored_bytes());
  Spec f;
  f.format = "nvfp4-pack-quantized";
  f.type = QuantType::kFloat;
  f.strategy = QuantStrategy::kTensorGroup;
  f.group = 16;
  f.in = 48;
  const auto n = make_layer(f);
  CHECK(cuda::DeviceQuantizedLinear(n->layer).device_bytes() == n->bytes.size() + n->scale8.size() + 4);
}

TEST_CASE("dequant: malformed layers are refused before any device read", "[gpu]") {
  Spec s;
  s.g_idx = true;
  s.in = 100;
  auto t = make_layer(s);
  t->g_idx[7] = 99;  // outside [0, n_groups)
  CHECK_THROWS_AS(cuda::DeviceQuantizedLinear(t->layer), Error);
  auto u = make_layer(Spec{});
  u->layer.format = "mxfp4-pack-quantized";
  CHECK_THROWS_AS(cuda::DeviceQuantizedLinear(u->layer), Error);
}

TEST_CASE("dequant: every quantized Linear of the W4A16 fixture and of E-style quantized ASYM / W8A16", "[gpu]") {
  auto check_checkpoint = [](const std::filesystem::path& dir) {
    const Checkpoint ck = Checkpoint::open(dir);
    const Gemma4Weights w = bind_gemma4_weights(ck, read_gemma4_config((dir / "config.json").string()));
    std::size_t layers = 0;
    for (const BoundWeight& b : w.weights) {
      if (!b.quantized) continue;
      INFO(dir.string() << ": " << b.quantized->module);
      CHECK(gpu_mismatches(*b.quantized) == 0);
      ++layers;
    }
    CHECK(layers > 0);
  };
  check_checkpoint(qg::test::gemma4_fixture("e_style_w4a16"));
  for (const char* scheme : {"W4A16_ASYM", "W8A16"}) {
    qg::test::TempDir d("dequant_gpu");
    quantize_gemma4_checkpoint(qg::test::gemma4_fixture("e_style"), d / "q", {.scheme = scheme, .group_size = 16});
    check_checkpoint(d / "q");
  }
}
