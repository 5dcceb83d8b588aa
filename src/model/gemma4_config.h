#pragma once
// The Gemma 4 text-decoder configuration, parsed from config.json by exactly one function.
// Missing keys take transformers 5.17's defaults (configuration_gemma4.py), traps included:
// hidden_size_per_layer_input defaults to 256 (PLE on), the full layers' head_dim to 512, softcap to
// none, the last layer is forced to full attention. See ../shared/docs/gemma4-text.md sections 1, 8, 13.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg {

enum class LayerType { kSliding, kFull };
std::string_view layer_type_name(LayerType type);  // "sliding_attention" / "full_attention"

struct RopeParams {
  std::string rope_type;                // "default" | "proportional"
  double rope_theta = 10000.0;
  double partial_rotary_factor = 1.0;
  bool operator==(const RopeParams&) const = default;
};

// Everything that differs between layers, resolved once here so no later code re-derives it.
struct Gemma4LayerConfig {
  LayerType type = LayerType::kSliding;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t d_head = 0;
  std::int64_t d_ff = 0;           // dense MLP width (doubled on KV-shared layers with use_double_wide_mlp)
  bool kv_shared = false;          // no k_proj/v_proj/k_norm; reads K/V of layer `kv_source`
  int kv_source = -1;              // the layer whose K/V this layer uses (itself when not shared)
  bool k_eq_v = false;             // full layer with attention_k_eq_v: V from the raw k_proj output, no v_proj
  bool operator==(const Gemma4LayerConfig&) const = default;
};

struct Gemma4TextConfig {
  std::int64_t n_vocab = 262144;
  std::int64_t d_model = 2304;
  std::int64_t d_ff = 9216;  // intermediate_size
  std::int64_t n_layers = 30;
  std::int64_t n_heads = 8;
  std::int64_t n_kv_heads = 4;
  std::int64_t d_head = 256;
  std::int64_t sliding_window = 512;
  std::int64_t max_position_embeddings = 131072;
  double rms_norm_eps = 1e-6;
  std::optional<double> final_logit_softcapping;
  std::string hidden_activation = "gelu_pytorch_tanh";
  bool tie_word_embeddings = true;
  std::int64_t n_vocab_ple = 262144;  // vocab_size_per_layer_input
  std::int64_t d_ple = 256;           // hidden_size_per_layer_input (0 = no PLE)
  bool attention_k_eq_v = false;
  std::int64_t num_kv_shared_layers = 0;
  bool use_double_wide_mlp = false;
  bool enable_moe_block = false;
  std::int64_t n_experts = 0;
  std::int64_t top_k_experts = 0;
  std::int64_t d_expert = 0;  // moe_intermediate_size
  std::optional<std::string> use_bidirectional_attention;
  RopeParams rope_sliding{"default", 10000.0, 1.0};
  RopeParams rope_full{"proportional", 1000000.0, 0.25};
  std::int64_t pad_token_id = 0;
  std::int64_t bos_token_id = 2;
  std::vector<std::int64_t> eos_token_ids = {1};
  std::vector<Gemma4LayerConfig> layers;

  bool has_ple() const { return d_ple > 0; }
  std::int64_t first_kv_shared_layer() const { return n_layers - num_kv_shared_layers; }
  bool operator==(const Gemma4TextConfig&) const = default;
};

struct Gemma4Config {
  std::string model_type;    // "gemma4" (nested text_config) or "gemma4_text" (flat)
  std::string architecture;  // e.g. "Gemma4ForConditionalGeneration"; empty when config.json names none
  Gemma4TextConfig text;
  bool has_vision = false;
  bool has_audio = false;
  nlohmann::json vision_config;  // raw sub-configs (null when absent), for parameter counting
  nlohmann::json audio_config;
  std::string dtype;             // "dtype" / "torch_dtype" when present
  bool has_quantization_config = false;
  nlohmann::json quantization_config;  // raw, parsed by the quant layer when weights are bound
};

// Throws qg::Error naming `source` (the config.json path) for an unknown model_type or architecture,
// a wrong type or value, or a combination transformers would reject.
Gemma4Config parse_gemma4_config(const nlohmann::json& config, const std::string& source);
Gemma4Config read_gemma4_config(const std::string& config_json_path);

nlohmann::json to_json(const Gemma4TextConfig& config);  // resolved values, for reports

}  // namespace qg
