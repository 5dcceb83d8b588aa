// quantization_config parsing and compressed-tensors' target/ignore matching (quant-formats.md 1.1).
#include <nlohmann/json.hpp>

#include "catch.h"
#include "checkpoint/safetensors_test_util.h"
#include "model/gemma4_quantize.h"
#include "quant/quant_config.h"

using namespace qg;
using nlohmann::json;
using qg::test::require_error;

namespace {
json w4a16_example() {  // quant-formats.md section 1's complete example
  return json::parse(R"({
    "config_groups": {"group_0": {"format": "pack-quantized", "input_activations": null, "output_activations": null,
      "targets": ["Linear"], "weights": {"actorder": null, "block_structure": null, "dynamic": false, "group_size": 128,
      "num_bits": 4, "observer": "memoryless_minmax", "observer_kwargs": {}, "scale_dtype": null, "strategy": "group",
      "symmetric": true, "type": "int", "zp_dtype": null}}},
    "format": "pack-quantized", "global_compression_ratio": null,
    "ignore": ["lm_head", "re:.*embed_tokens$", "re:.*norm$", "re:.*embed_tokens_per_layer.*",
               "re:.*per_layer_model_projection.*", "re:.*vision_tower.*"],
    "kv_cache_scheme": null, "quant_method": "compressed-tensors", "quantization_status": "compressed",
    "sparsity_config": {}, "transform_config": {}, "version": "0.18.0"})");
}
}  // namespace

TEST_CASE("the W4A16 example parses to int4 symmetric group 128, pack-quantized", "[quant]") {
  const QuantizationConfig c = parse_quantization_config(w4a16_example(), "config.json");
  REQUIRE(c.groups.size() == 1);
  const QuantScheme& s = c.groups[0];
  REQUIRE(s.weights.has_value());
  CHECK(s.weights->num_bits == 4);
  CHECK(s.weights->symmetric);
  CHECK(s.weights->strategy == QuantStrategy::kGroup);
  CHECK(s.weights->group_size == 128);
  CHECK_FALSE(s.weights->has_g_idx());
  CHECK(s.format == "pack-quantized");
  CHECK_FALSE(s.input_activations.has_value());
  CHECK(c.ignore.size() == 6);
}

TEST_CASE("target and ignore matching follows compressed-tensors (re.match, names, class names)", "[quant]") {
  CHECK(quant_pattern_matches("re:.*norm$", "model.layers.0.input_layernorm", "RMSNorm"));
  CHECK_FALSE(quant_pattern_matches("re:.*norm$", "model.layers.0.input_layernorm.x", "RMSNorm"));
  CHECK(quant_pattern_matches("re:lm_head", "lm_head2", "Linear"));  // start-anchored only
  CHECK_FALSE(quant_pattern_matches("re:head", "lm_head", "Linear"));  // re.match, not re.search
  CHECK(quant_pattern_matches("Linear", "model.layers.0.mlp.up_proj", "Linear"));
  CHECK(quant_pattern_matches("model.layers.0.mlp.up_proj", "model.layers.0.mlp.up_proj", "Linear"));
  CHECK_FALSE(quant_pattern_matches("model.layers.0.mlp", "model.layers.0.mlp.up_proj", "Linear"));

  const QuantizationConfig c = parse_quantization_config(w4a16_example(), "config.json");
  CHECK(scheme_for_module(c, "model.language_model.layers.3.self_attn.q_proj", "Linear", "f") == &c.groups[0]);
  CHECK(scheme_for_module(c, "lm_head", "Linear", "f") == nullptr);
  CHECK(scheme_for_module(c, "model.language_model.per_layer_model_projection", "Linear", "f") == nullptr);
  CHECK(scheme_for_module(c, "model.vision_tower.encoder.layers.0.self_attn.q_proj.linear", "Linear", "f") == nullptr);
}

TEST_CASE("preset config groups expand like compressed-tensors", "[quant]") {
  json q = {{"quant_method", "compressed-tensors"}, {"format", "pack-quantized"}, {"config_groups", {{"W4A16_ASYM", {"Linear"}}}}};
  const QuantizationConfig c = parse_quantization_config(q, "f");
  CHECK_FALSE(c.groups[0].weights->symmetric);
  CHECK(c.groups[0].weights->group_size == 128);
  CHECK(c.groups[0].targets == std::vector<std::string>{"Linear"});
  CHECK(default_quant_ignore().front() == "lm_head");
}

TEST_CASE("conflicting and unsupported configs are errors naming the file and layer", "[quant]") {
  json two = w4a16_example();
  two["config_groups"]["group_1"] = two["config_groups"]["group_0"];
  two["config_groups"]["group_1"]["targets"] = {"re:.*mlp.*"};
  const QuantizationConfig c = parse_quantization_config(two, "m/config.json");
  require_error([&] { scheme_for_module(c, "model.layers.0.mlp.up_proj", "Linear", "m/config.json"); }, "m/config.json",
                "model.layers.0.mlp.up_proj", "config groups 'group_0' and 'group_1' both target this layer");

  json q = w4a16_example();
  q["quant_method"] = "gptq";
  require_error([&] { parse_quantization_config(q, "m/config.json"); }, "m/config.json", "", "quant_method 'gptq'");
  q = w4a16_example();
  q["format"] = "int3-magic";
  require_error([&] { parse_quantization_config(q, "f"); }, "f", "", "format 'int3-magic' is unknown");
  q = w4a16_example();
  q["config_groups"]["group_0"]["weights"]["group_size"] = nullptr;
  require_error([&] { parse_quantization_config(q, "f"); }, "f", "", "needs a positive group_size");
  q = w4a16_example();
  q["config_groups"]["group_0"]["weights"]["strategy"] = "channel";
  q["config_groups"]["group_0"]["weights"]["actorder"] = "group";
  require_error([&] { parse_quantization_config(q, "f"); }, "f", "", "actorder 'group' needs the group strategy");
  q = w4a16_example();
  q["ignore"] = {"re:(unclosed"};
  const QuantizationConfig bad_re = parse_quantization_config(q, "f");
  CHECK_THROWS_AS(scheme_for_module(bad_re, "x", "Linear", "f"), qg::Error);
}
