#pragma once
// Random Gemma 4 text checkpoints written in-process (config.json + model.safetensors), for tests and
// benchmarks that need a geometry the transformers fixtures do not have. Weights are drawn the way
// scripts/make_fixtures.py draws them: 1-D norms/scales 1 + 0.2 N(0,1), every other tensor 0.15 N(0,1),
// layer_scalar U(0.5, 1.5), so no norm weight is 1 and w vs 1 + w would show.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/safetensors_writer.h"
#include "common/float_formats.h"
#include "model/gemma4_config.h"
#include "model/gemma4_weights.h"

namespace qg::test {

// A Gemma4ForCausalLM config.json with every key the forward pass reads passed explicitly.
inline nlohmann::json synthetic_gemma4_config(std::int64_t d_model, std::int64_t n_layers,
                                              std::int64_t n_vocab, std::int64_t d_ff, std::int64_t n_heads,
                                              std::int64_t n_kv_heads, std::int64_t d_head,
                                              std::int64_t sliding_window,
                                              std::int64_t max_positions = 4096) {
  nlohmann::json layer_types = nlohmann::json::array();
  for (std::int64_t i = 0; i < n_layers; ++i)
    layer_types.push_back((i + 1) % 4 == 0 || i == n_layers - 1 ? "full_attention" : "sliding_attention");
  return {{"architectures", {"Gemma4ForCausalLM"}},
          {"model_type", "gemma4_text"},
          {"vocab_size", n_vocab},
          {"vocab_size_per_layer_input", n_vocab},
          {"hidden_size", d_model},
          {"intermediate_size", d_ff},
          {"num_hidden_layers", n_layers},
          {"layer_types", layer_types},
          {"num_attention_heads", n_heads},
          {"num_key_value_heads", n_kv_heads},
          {"head_dim", d_head},
          {"global_head_dim", 2 * d_head},
          {"sliding_window", sliding_window},
          {"hidden_size_per_layer_input", 0},
          {"num_kv_shared_layers", 0},
          {"use_double_wide_mlp", false},
          {"attention_k_eq_v", false},
          {"enable_moe_block", false},
          {"final_logit_softcapping", 30.0},
          {"max_position_embeddings", max_positions},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", true},
          {"hidden_activation", "gelu_pytorch_tanh"},
          {"rope_parameters",
           {{"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
            {"full_attention",
             {{"rope_type", "proportional"}, {"rope_theta", 1000000.0}, {"partial_rotary_factor", 0.25}}}}},
          {"pad_token_id", 0},
          {"bos_token_id", 2},
          {"eos_token_id", 1}};
}

// Writes `config` and random weights of `dtype` (BF16 or F32) under `dir` with the "model." prefix.
inline void write_synthetic_gemma4(const std::filesystem::path& dir, const nlohmann::json& config,
                                   DType dtype, std::uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2) << "\n";
  const Gemma4Config parsed = parse_gemma4_config(config, (dir / "config.json").string());
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  SafetensorsWriterOptions options;
  options.max_shard_bytes = UINT64_MAX;
  SafetensorsWriter writer(dir, options);
  for (const WeightSpec& spec : gemma4_text_weight_specs(parsed.text)) {
    const std::int64_t n = shape_numel(spec.shape);
    const bool scale_like = spec.shape.size() == 1 && spec.component == WeightComponent::kNorm;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v)
      x = spec.component == WeightComponent::kLayerScalar ? uniform(rng)
          : scale_like                                    ? 1.0f + 0.2f * normal(rng)
                                                          : 0.15f * normal(rng);
    const std::string name = spec.component == WeightComponent::kLmHead ? spec.name : "model." + spec.name;
    if (dtype == DType::kBF16) {
      std::vector<std::uint16_t> h(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
      writer.add(name, DType::kBF16, spec.shape, std::as_bytes(std::span<const std::uint16_t>(h)));
    } else {
      writer.add(name, DType::kF32, spec.shape, std::as_bytes(std::span<const float>(v)));
    }
  }
  writer.finish();
}

}  // namespace qg::test
