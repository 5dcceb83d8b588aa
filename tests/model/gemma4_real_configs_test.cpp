// The real Gemma 4 variants' config.json as transformers 5.17 saves them (scripts/make_fixtures.py,
// values from gemma4-text.md section 1): parameter counts by component and the full text-tensor
// listing must equal a meta-device instantiation of Gemma4ForConditionalGeneration.
#include "catch.h"
#include "checkpoint/json_file.h"
#include "model/gemma4_inventory.h"
#include "model/gemma4_weights.h"
#include "test_paths.h"

using namespace qg;

namespace {
std::filesystem::path configs() { return qg::test::fixtures_dir() / "configs"; }
std::int64_t params(const Gemma4Inventory& inv, const std::string& key) {
  auto it = inv.components.find(key);
  return it == inv.components.end() ? 0 : it->second.params;
}
}  // namespace

TEST_CASE("real variants: counts and tensor shapes from config.json alone", "[model][fixtures]") {
  const std::string variant = GENERATE("e2b", "e4b", "26b_a4b", "31b");
  INFO("variant " << variant);
  const auto expected = read_json_file(configs() / ("gemma4_" + variant + ".expected.json"));
  const Gemma4Config c = read_gemma4_config((configs() / ("gemma4_" + variant + ".json")).string());
  const Gemma4Inventory inv = inventory_from_config(c);

  CHECK(inv.text_decoder_params == expected["text_decoder_params_excl_layer_scalar"].get<std::int64_t>());
  CHECK(inv.text_buffer_elements == expected["layer_scalar_params"].get<std::int64_t>());
  CHECK(params(inv, "text.ple_table") == expected["ple_table_params"].get<std::int64_t>());
  CHECK(params(inv, "text.token_embedding") == expected["embed_tokens_params"].get<std::int64_t>());
  CHECK(params(inv, "vision") == expected["vision_params"].get<std::int64_t>());
  CHECK(params(inv, "audio") == expected["audio_params"].get<std::int64_t>());
  CHECK(params(inv, "embed_vision") == expected["embed_vision_params"].get<std::int64_t>());
  CHECK(params(inv, "embed_audio") == expected["embed_audio_params"].get<std::int64_t>());

  // Every text tensor by name and shape.
  std::map<std::string, Shape> ours;
  for (const WeightSpec& s : gemma4_text_weight_specs(c.text)) ours["model.language_model." + s.name] = s.shape;
  std::map<std::string, Shape> theirs;
  for (const auto& [tname, shape] : expected["text_tensors"].items()) theirs[tname] = shape.get<Shape>();
  CHECK(ours.size() == expected["text_tensor_count"].get<std::size_t>());
  for (const auto& [name, shape] : theirs) {
    INFO("tensor " << name);
    REQUIRE(ours.count(name) == 1);
    CHECK(ours[name] == shape);
  }
  CHECK(ours.size() == theirs.size());

  if (expected.contains("nontext_tensors")) {
    std::int64_t vision_tensors = 0, audio_tensors = 0;
    for (const auto& [n, shape] : expected["nontext_tensors"].items()) {
      vision_tensors += n.rfind("model.vision_tower.", 0) == 0;
      audio_tensors += n.rfind("model.audio_tower.", 0) == 0;
    }
    CHECK(inv.components.at("vision").tensors == vision_tensors);
    CHECK(inv.components.at("audio").tensors == audio_tensors);
  }
}

TEST_CASE("E4B: Google's global_head_dim form and a flat CausalLM config parse to the same text config",
          "[model][fixtures]") {
  const Gemma4Config saved = read_gemma4_config((configs() / "gemma4_e4b.json").string());
  const Gemma4Config google = read_gemma4_config((configs() / "gemma4_e4b_google_form.json").string());
  const Gemma4Config flat = read_gemma4_config((configs() / "gemma4_e4b_causallm.json").string());
  CHECK(google.text == saved.text);
  CHECK(flat.text == saved.text);
  CHECK(flat.architecture == "Gemma4ForCausalLM");
  CHECK(inventory_from_config(saved).text_decoder_params == 7'463'013'376);
}
