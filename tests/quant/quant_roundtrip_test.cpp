// Quantize -> pack -> dequantize round trips on random matrices for every supported scheme, g_idx
// grouping, `quantize` on the tiny fixtures (reloaded through the normal binding), and bad quantized
// checkpoints rejected with errors naming file and tensor.
#include <cmath>
#include <fstream>
#include <random>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/json_file.h"
#include "checkpoint/safetensors_test_util.h"
#include "checkpoint/safetensors_writer.h"
#include "common/float_formats.h"
#include "model/fixture_util.h"
#include "model/gemma4_quantize.h"
#include "model/gemma4_weights.h"
#include "model/inspection.h"
#include "quant/pack.h"
#include "quant/quantized_linear.h"
#include "quant/rtn.h"

using namespace qg;
using qg::test::require_error;
using qg::test::TempDir;

namespace {
// Half a bf16 ulp of |v| (7 explicit mantissa bits).
float half_ulp_bf16(float v) {
  if (v == 0.0f) return 0.0f;
  int e;
  std::frexp(std::abs(v), &e);  // |v| in [2^(e-1), 2^e)
  return std::ldexp(1.0f, e - 1 - 7) / 2.0f;
}

std::vector<std::uint16_t> random_bf16(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = f32_to_bf16(dist(rng));
  return v;
}

QuantizedLinear packed_layer(const RtnResult& r, const QuantArgs& a, std::vector<std::int32_t>& packed,
                             std::vector<std::int32_t>& zp) {
  QuantizedLinear l;
  l.module = "m";
  l.format = "pack-quantized";
  l.args = a;
  l.out_features = r.out_features;
  l.in_features = r.in_features;
  packed = pack_rows(r.codes, r.out_features, r.in_features, a.num_bits);
  const std::int64_t per = 32 / a.num_bits;
  l.weight = {"w", DType::kI32, {r.out_features, (r.in_features + per - 1) / per}, packed.data(), Device::kHost};
  l.scale = {"s", DType::kBF16, a.strategy == QuantStrategy::kTensor ? Shape{1} : Shape{r.out_features, r.n_groups},
             r.scales.data(), Device::kHost};
  if (!a.symmetric) {
    if (a.strategy == QuantStrategy::kTensor) {
      zp = {r.zeros[0]};  // unpacked I8 [1] for the tensor strategy: store the byte in an int32 slot
      l.zero_point = TensorView{"z", DType::kI8, {1}, zp.data(), Device::kHost};
    } else {
      zp = pack_columns(r.zeros, r.out_features, r.n_groups, a.num_bits);
      l.zero_point = TensorView{"z", DType::kI32, {(r.out_features + per - 1) / per, r.n_groups}, zp.data(), Device::kHost};
    }
  }
  return l;
}
}  // namespace

TEST_CASE("RTN round trip: every element within the quantization step bound", "[quant]") {
  struct Case {
    int bits;
    bool sym;
    QuantStrategy strategy;
    std::optional<std::int64_t> group;
  };
  const Case c = GENERATE(Case{4, true, QuantStrategy::kGroup, 32}, Case{4, false, QuantStrategy::kGroup, 32},
                          Case{8, true, QuantStrategy::kGroup, 16}, Case{8, true, QuantStrategy::kChannel, std::nullopt},
                          Case{8, false, QuantStrategy::kChannel, std::nullopt}, Case{4, true, QuantStrategy::kTensor, std::nullopt},
                          Case{4, false, QuantStrategy::kTensor, std::nullopt});
  QuantArgs a;
  a.num_bits = c.bits;
  a.symmetric = c.sym;
  a.strategy = c.strategy;
  a.group_size = c.group;
  const std::int64_t out = 24, in = 96;
  const auto w = random_bf16(static_cast<std::size_t>(out * in), 7u + static_cast<unsigned>(c.bits));
  const RtnResult r = rtn_quantize({"w", DType::kBF16, {out, in}, w.data(), Device::kHost}, a);
  std::vector<std::int32_t> packed, zp;
  const QuantizedLinear l = packed_layer(r, a, packed, zp);
  const auto deq = dequantize_f32(l);
  std::size_t bad = 0;
  for (std::int64_t i = 0; i < out; ++i)
    for (std::int64_t j = 0; j < in; ++j) {
      const std::int64_t g = c.strategy == QuantStrategy::kGroup ? j / *c.group : 0;
      const float s = bf16_to_f32(r.scales[c.strategy == QuantStrategy::kTensor ? 0 : static_cast<std::size_t>(i * r.n_groups + g)]);
      const float x = bf16_to_f32(w[static_cast<std::size_t>(i * in + j)]);
      const float y = deq[static_cast<std::size_t>(i * in + j)];
      // Bound, per element, from the algorithm itself: llm-compressor rounds x/s to bf16 (and, when
      // asymmetric, x/s + z again) before round-half-even, so a code is off by at most 1/2 plus those
      // half-ulps (more than 1/2 for int8, where |x/s| reaches 128); the bf16-rounded scale can leave
      // the range a little short of max/min, clipping an extreme element by `clip` steps; the product
      // (q - z) * s is rounded once more to bf16.
      const float z = c.sym ? 0.0f
                            : static_cast<float>(r.zeros[c.strategy == QuantStrategy::kTensor ? 0 : static_cast<std::size_t>(i * r.n_groups + g)]);
      const float t = x / s + z;
      const float qmax = static_cast<float>((1 << (c.bits - 1)) - 1), qmin = -qmax - 1.0f;
      const float clip = std::max({0.0f, t - qmax, qmin - t});
      const float bound = s * (0.5f + half_ulp_bf16(x / s) + (c.sym ? 0.0f : half_ulp_bf16(t)) + clip) +
                          half_ulp_bf16(y) + 1e-12f;
      INFO("bits " << c.bits << " sym " << c.sym << " x " << x << " y " << y << " s " << s << " z " << z);
      if (std::abs(y - x) > bound) {
        ++bad;
        CHECK(std::abs(y - x) <= bound);  // reports the first offenders with their values
      }
    }
  CHECK(bad == 0);
}

TEST_CASE("g_idx: each column uses the group its g_idx entry names", "[quant]") {
  // 1 x 8, group 4, g_idx = [1,0,1,0,0,1,1,0]; scales: group 0 = 1.0, group 1 = 0.5.
  const std::int32_t codes_row[8] = {1, 2, 3, 4, -1, -2, -3, -4};
  const std::vector<std::int32_t> codes(codes_row, codes_row + 8);
  auto packed = pack_rows(codes, 1, 8, 4);
  const std::uint16_t scales[2] = {f32_to_bf16(1.0f), f32_to_bf16(0.5f)};
  const std::int32_t g_idx[8] = {1, 0, 1, 0, 0, 1, 1, 0};
  QuantizedLinear l;
  l.format = "pack-quantized";
  l.args.num_bits = 4;
  l.args.strategy = QuantStrategy::kGroup;
  l.args.group_size = 4;
  l.args.actorder = "group";
  l.out_features = 1;
  l.in_features = 8;
  l.weight = {"w", DType::kI32, {1, 1}, packed.data(), Device::kHost};
  l.scale = {"s", DType::kBF16, {1, 2}, scales, Device::kHost};
  l.g_idx = TensorView{"g", DType::kI32, {8}, g_idx, Device::kHost};
  CHECK(dequantize_f32(l) == std::vector<float>{0.5f, 2.0f, 1.5f, 4.0f, -1.0f, -1.0f, -1.5f, -4.0f});
}

TEST_CASE("quantize the E-style and sharded fixtures; the result binds and dequantizes within the bound",
          "[quant][fixtures]") {
  const std::string name = GENERATE("e_style", "cond_gen");
  const std::string scheme = GENERATE("W4A16", "W4A16_ASYM", "W8A16");
  INFO(name << " " << scheme);
  TempDir d("quantize");
  const auto out = d / "out";
  const QuantizeSummary s =
      quantize_gemma4_checkpoint(qg::test::gemma4_fixture(name), out, {.scheme = scheme, .group_size = 16});
  CHECK(s.quantized_layers > 0);
  CHECK(std::filesystem::exists(out / "generation_config.json"));
  const auto cfg = read_json_file(out / "config.json");
  CHECK(cfg["quantization_config"]["config_groups"]["group_0"]["weights"]["num_bits"] == (scheme == "W8A16" ? 8 : 4));

  const Gemma4Config qcfg = read_gemma4_config((out / "config.json").string());
  const Checkpoint qck = Checkpoint::open(out);
  const Gemma4Weights qw = bind_gemma4_weights(qck, qcfg);
  const Checkpoint src = Checkpoint::open(qg::test::gemma4_fixture(name));
  const Gemma4Weights sw = bind_gemma4_weights(src, read_gemma4_config((qg::test::gemma4_fixture(name) / "config.json").string()));
  std::int64_t quantized = 0;
  for (const BoundWeight& w : qw.weights) {
    INFO(w.checkpoint_name);
    const BoundWeight& orig = sw.weights[sw.by_name.at(w.spec.name)];
    const auto x = weight_to_f32(orig);
    const auto y = weight_to_f32(w);
    REQUIRE(x.size() == y.size());
    if (!w.quantized) {
      CHECK(x == y);  // kept tensors are copied bit for bit
      continue;
    }
    ++quantized;
    // Every quantized layer is a text-decoder Linear the card's ignore list does not cover.
    CHECK(w.checkpoint_name.find("per_layer_model_projection") == std::string::npos);
    float max_err = 0, max_scale = 0;
    const auto scales = to_f32(w.quantized->scale);
    for (float sc : scales) max_scale = std::max(max_scale, sc);
    for (std::size_t i = 0; i < x.size(); ++i) max_err = std::max(max_err, std::abs(x[i] - y[i]));
    // Bound: the step bound of the random-matrix test with the largest scale of the layer.
    CHECK(max_err <= max_scale * 0.75f + half_ulp_bf16(1.0f));
  }
  CHECK(quantized == s.quantized_layers);
  const ModelInspection m = inspect_model(out);
  CHECK(m.inventory.text_decoder_params == inspect_model(qg::test::gemma4_fixture(name)).inventory.text_decoder_params);
}

TEST_CASE("quantize refuses bad input with clear errors", "[quant][fixtures]") {
  TempDir d("quantize_bad");
  require_error([&] { quantize_gemma4_checkpoint(qg::test::gemma4_fixture("all_features"), d / "o1", {}); },
                "model.safetensors", "model.layers.0.mlp.down_proj.weight", "needs a BF16 or F16 weight");
  require_error([&] { quantize_gemma4_checkpoint(qg::test::gemma4_fixture("e_style"), d / "o2", {.group_size = 24}); },
                "model.safetensors", "model.layers.0.mlp.gate_proj.weight", "group size 24 does not divide in_features 64");
  std::filesystem::create_directories(d / "o3");
  std::ofstream(d / "o3" / "keep.txt") << "x";
  require_error([&] { quantize_gemma4_checkpoint(qg::test::gemma4_fixture("e_style"), d / "o3", {}); }, "o3", "",
                "not empty");
  quantize_gemma4_checkpoint(qg::test::gemma4_fixture("e_style"), d / "o4", {.group_size = 16});
  require_error([&] { quantize_gemma4_checkpoint(d / "o4", d / "o5", {}); }, "config.json", "", "already quantized");
  require_error([&] { quantize_gemma4_checkpoint(qg::test::gemma4_fixture("e_style"), d / "o6", {.scheme = "W3A7"}); }, "",
                "", "--scheme W3A7 is not supported");
}

namespace {
// Quantizes e_style into `dir`, then rewrites its weights through `edit` (return false to drop a tensor).
void quantized_copy(const std::filesystem::path& dir,
                    const std::function<bool(const std::string&, const TensorView&, SafetensorsWriter&)>& edit) {
  TempDir scratch("qcopy");
  quantize_gemma4_checkpoint(qg::test::gemma4_fixture("e_style"), scratch / "q", {.group_size = 16});
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(scratch / "q" / "config.json", dir / "config.json");
  const Checkpoint ck = Checkpoint::open(scratch / "q");
  SafetensorsWriter w(dir);
  for (const auto& [name, t] : ck.tensors()) {
    const TensorView v = t.file->view(*t.entry);
    if (edit(name, v, w)) w.add(v);
  }
  w.finish();
}
void bind_dir(const std::filesystem::path& dir) {
  bind_gemma4_weights(Checkpoint::open(dir), read_gemma4_config((dir / "config.json").string()));
}
const std::string kLayer = "model.layers.0.mlp.down_proj";
}  // namespace

TEST_CASE("bad quantized checkpoints: errors name the file and tensor", "[quant][fixtures]") {
  TempDir d("qbad");
  const auto dir = d / "ck";
  SECTION("packed shape inconsistent with weight_shape") {
    quantized_copy(dir, [](const std::string& n, const TensorView& v, SafetensorsWriter& w) {
      if (n != kLayer + ".weight_shape") return true;
      const std::int64_t wrong[2] = {64, 160};
      w.add(n, v.dtype, v.shape, std::as_bytes(std::span(wrong)));
      return false;
    });
    require_error([&] { bind_dir(dir); }, "model.safetensors", kLayer + ".weight_packed", "for weight_shape [64, 160]");
  }
  SECTION("missing scale") {
    quantized_copy(dir, [](const std::string& n, const TensorView&, SafetensorsWriter&) { return n != kLayer + ".weight_scale"; });
    require_error([&] { bind_dir(dir); }, "", kLayer + ".weight_scale", "missing");
  }
  SECTION("fp32 scales") {
    quantized_copy(dir, [](const std::string& n, const TensorView& v, SafetensorsWriter& w) {
      if (n != kLayer + ".weight_scale") return true;
      std::vector<float> f = to_f32(v);
      w.add(n, DType::kF32, v.shape, std::as_bytes(std::span(f)));
      return false;
    });
    require_error([&] { bind_dir(dir); }, "model.safetensors", kLayer + ".weight_scale", "dtype F32: expected BF16 or F16");
  }
  SECTION("group size that does not divide in_features") {
    quantized_copy(dir, [](const std::string&, const TensorView&, SafetensorsWriter&) { return true; });
    auto cfg = read_json_file(dir / "config.json");
    cfg["quantization_config"]["config_groups"]["group_0"]["weights"]["group_size"] = 24;
    std::ofstream(dir / "config.json") << cfg.dump();
    require_error([&] { bind_dir(dir); }, "model.safetensors", "model.layers.0.self_attn.q_proj.weight_scale",
                  "group size 24 does not divide in_features 64");
  }
  SECTION("unknown format") {
    quantized_copy(dir, [](const std::string&, const TensorView&, SafetensorsWriter&) { return true; });
    auto cfg = read_json_file(dir / "config.json");
    cfg["quantization_config"]["config_groups"]["group_0"]["format"] = "mxfp4-pack-quantized";
    std::ofstream(dir / "config.json") << cfg.dump();
    require_error([&] { bind_dir(dir); }, "", "model.layers.0.self_attn.q_proj.weight",
                  "format 'mxfp4-pack-quantized' is not supported");
  }
  SECTION("a packed layer the config does not quantize") {
    quantized_copy(dir, [](const std::string&, const TensorView&, SafetensorsWriter&) { return true; });
    auto cfg = read_json_file(dir / "config.json");
    cfg["quantization_config"]["ignore"].push_back("re:.*down_proj$");
    std::ofstream(dir / "config.json") << cfg.dump();
    require_error([&] { bind_dir(dir); }, "ck", "model.layers.0.mlp.down_proj.weight", "missing from the checkpoint");
  }
}
