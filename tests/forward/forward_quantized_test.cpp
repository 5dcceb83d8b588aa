// A W4A16 checkpoint made by our quantizer runs through the CPU reference with no special code: every
// weight reaches the forward pass through weight_to_f32, which dequantizes compressed-tensors layers.
// Its logits must equal those of the same forward pass on a plain fp32 checkpoint holding the
// dequantized weights, bit for bit. (forward_golden_test.cpp checks the committed e_style_w4a16 fixture
// against transformers run on its dequantized weights directly.)
#include <cstdio>
#include <fstream>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors_writer.h"
#include "forward/cpu/cpu_forward.h"
#include "forward_test_util.h"
#include "model/fixture_util.h"
#include "model/gemma4_quantize.h"
#include "model/gemma4_weights.h"

using namespace qg;
using namespace qg::test;

namespace {

// Writes every bound text weight of `quantized` as F32 (quantized layers dequantized, under their
// "<module>.weight" names) with the config minus quantization_config: an ordinary fp32 checkpoint.
void write_dequantized(const std::filesystem::path& quantized, const std::filesystem::path& out) {
  auto config_json = read_json_file(quantized / "config.json");
  const Gemma4Config config = parse_gemma4_config(config_json, "config.json");
  const Checkpoint ck = Checkpoint::open(quantized);
  const Gemma4Weights weights = bind_gemma4_weights(ck, config);
  std::filesystem::create_directories(out);
  config_json.erase("quantization_config");
  std::ofstream(out / "config.json") << config_json.dump(2);
  SafetensorsWriter writer(out);
  for (const BoundWeight& w : weights.weights) {
    const std::vector<float> values = weight_to_f32(w);
    writer.add(w.checkpoint_name, DType::kF32, w.spec.shape, std::as_bytes(std::span<const float>(values)));
  }
  writer.finish();
}

}  // namespace

TEST_CASE("forward: a W4A16 checkpoint equals the fp32 pass on its dequantized weights", "[forward][quant]") {
  TempDir dir("forward_w4a16");
  QuantizeOptions options;
  options.scheme = "W4A16";
  options.group_size = 16;  // the fixture's matrices are 64-192 wide
  const QuantizeSummary summary =
      quantize_gemma4_checkpoint(gemma4_fixture("e_style"), dir / "w4a16", options);
  REQUIRE(summary.quantized_layers > 0);
  write_dequantized(dir / "w4a16", dir / "dequantized");

  auto quantized = CpuForward::open(dir / "w4a16");
  auto dequantized = CpuForward::open(dir / "dequantized");
  auto original = CpuForward::open(gemma4_fixture("e_style"));
  const auto ids =
      to_ids(read_golden(gemma4_fixture("e_style") / "golden" / "forward.safetensors", "ids_T40").values);
  const auto q = score_one(*quantized, ids);
  // Same fp32 weight values, same operations: bit-identical.
  CHECK(q == score_one(*dequantized, ids));
  // And the weights really are 4-bit: the logits moved away from the bf16 original's.
  const Diff moved = compare_rows(q, score_one(*original, ids), quantized->config().n_vocab);
  std::printf("forward W4A16 vs bf16 original: max|diff| %.3g\n", moved.max_abs);
  CHECK(moved.max_abs > 1e-2);
}
