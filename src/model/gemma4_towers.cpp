#include "model/gemma4_towers.h"

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "common/error.h"

// Every count below is written from the module definitions of transformers 5.17 modeling_gemma4.py. Saved =
// every nn.Parameter plus every buffer registered without persistent=False. Buffers that are NOT saved, and
// so never counted: Gemma4VisionRotaryEmbedding.{inv_freq, original_inv_freq},
// Gemma4AudioRelPositionalEncoding.inv_timescales, Gemma4AudioAttention.softcap.

namespace qg {

namespace {

using nlohmann::json;

// Largest accepted value of any size key; keeps every product below inside int64.
constexpr std::int64_t kMaxDim = std::int64_t{1} << 24;

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw Error(fmt::format("config key '{}' {}", key, what), {.file = ""});
}

// One raw sub-config (`vision_config` / `audio_config`); a missing key takes the config class default.
class SubConfig {
 public:
  SubConfig(const json& obj, std::string name) : obj_(obj), name_(std::move(name)) {
    if (!obj_.is_object()) fail(name_, fmt::format("must be a JSON object or null, got {}", obj_.dump()));
  }

  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min_value = 0) const {
    if (!obj_.contains(key)) return fallback;
    return checked_integer(obj_.at(key), key, min_value);
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!obj_.contains(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_boolean()) fail(full(key), fmt::format("must be a boolean, got {}", v.dump()));
    return v.get<bool>();
  }
  // A list of at least `min_size` integers; only the first `min_size` are used by the model.
  std::vector<std::int64_t> integer_list(const std::string& key, std::vector<std::int64_t> fallback,
                                         std::size_t min_size, std::int64_t min_value) const {
    if (!obj_.contains(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_array() || v.size() < min_size) {
      fail(full(key), fmt::format("must be a list of at least {} integers, got {}", min_size, v.dump()));
    }
    std::vector<std::int64_t> out;
    for (const json& x : v) out.push_back(checked_integer(x, key, min_value));
    return out;
  }

 private:
  std::string full(const std::string& key) const { return name_ + "." + key; }
  std::int64_t checked_integer(const json& v, const std::string& key, std::int64_t min_value) const {
    if (!v.is_number_integer()) fail(full(key), fmt::format("must be an integer, got {}", v.dump()));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxDim)) {
      fail(full(key), fmt::format("must be <= {}, got {}", kMaxDim, v.dump()));
    }
    const auto x = v.get<std::int64_t>();
    if (x < min_value || x > kMaxDim) {
      fail(full(key), fmt::format("must be in [{}, {}], got {}", min_value, kMaxDim, x));
    }
    return x;
  }

  const json& obj_;
  std::string name_;
};

// Running total of saved tensors, with overflow checks (sizes are bounded, but layer counts multiply them).
class Tally {
 public:
  explicit Tally(std::string what) : what_(std::move(what)) {}

  // One saved tensor of the given shape (an empty shape is a 0-d scalar: one element).
  void tensor(std::initializer_list<std::int64_t> shape) {
    std::int64_t elements = 1;
    for (std::int64_t d : shape) elements = mul(elements, d);
    add(elements, 1);
  }
  // Gemma4ClippableLinear: `linear.weight` [out, in] (nn.Linear, bias=False); with use_clipped_linears also
  // the four persistent 0-d buffers input_min, input_max, output_min, output_max.
  void clippable_linear(std::int64_t in, std::int64_t out, bool clipped) {
    tensor({out, in});
    if (clipped) {
      for (int i = 0; i < 4; ++i) tensor({});
    }
  }
  // `times` copies of another tally (the identical layers of a ModuleList).
  void repeat(const TowerCount& one, std::int64_t times) { add(mul(one.params, times), mul(one.tensors, times)); }

  const TowerCount& count() const { return count_; }

 private:
  std::int64_t mul(std::int64_t a, std::int64_t b) const {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) overflow();
    return r;
  }
  void add(std::int64_t params, std::int64_t tensors) {
    if (__builtin_add_overflow(count_.params, params, &count_.params) ||
        __builtin_add_overflow(count_.tensors, tensors, &count_.tensors)) {
      overflow();
    }
  }
  [[noreturn]] void overflow() const { fail(what_, "describes a tower too large to count in 64 bits"); }

  std::string what_;
  TowerCount count_;
};

// model.vision_tower: Gemma4VisionModel (config class Gemma4VisionConfig).
TowerCount vision_tower_count(const SubConfig& c) {
  const std::int64_t hidden = c.integer("hidden_size", 768, 1);
  const std::int64_t inter = c.integer("intermediate_size", 3072, 1);
  const std::int64_t n_layers = c.integer("num_hidden_layers", 16);
  const std::int64_t n_heads = c.integer("num_attention_heads", 12, 1);
  const std::int64_t n_kv_heads = c.integer("num_key_value_heads", 12, 1);
  const std::int64_t head_dim = c.integer("head_dim", 64, 1);
  const std::int64_t patch = c.integer("patch_size", 16, 1);
  const std::int64_t pos_size = c.integer("position_embedding_size", 10240);
  const bool clipped = c.boolean("use_clipped_linears", false);
  const bool standardize = c.boolean("standardize", false);

  Tally total("vision_config");
  // Gemma4VisionPatchEmbedder: input_proj (nn.Linear 3*patch^2 -> hidden, bias=False) and the learned
  // position_embedding_table [2, position_embedding_size, hidden] (one table per image axis).
  total.tensor({hidden, 3 * patch * patch});
  total.tensor({2, pos_size, hidden});

  // Gemma4VisionEncoder.layers[i]: Gemma4VisionEncoderLayer.
  Tally layer("vision_config");
  // Gemma4VisionAttention: q/k/v/o are Gemma4ClippableLinear (never biased, attention_bias is ignored);
  // q_norm/k_norm are Gemma4RMSNorm(head_dim) with scale; v_norm has with_scale=False (no tensor).
  layer.clippable_linear(hidden, n_heads * head_dim, clipped);     // q_proj
  layer.clippable_linear(hidden, n_kv_heads * head_dim, clipped);  // k_proj
  layer.clippable_linear(hidden, n_kv_heads * head_dim, clipped);  // v_proj
  layer.clippable_linear(n_heads * head_dim, hidden, clipped);     // o_proj
  layer.tensor({head_dim});                                        // q_norm.weight
  layer.tensor({head_dim});                                        // k_norm.weight
  // Gemma4VisionMLP: gate_proj, up_proj (hidden -> intermediate), down_proj, all Gemma4ClippableLinear.
  layer.clippable_linear(hidden, inter, clipped);
  layer.clippable_linear(hidden, inter, clipped);
  layer.clippable_linear(inter, hidden, clipped);
  // input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm.
  for (int i = 0; i < 4; ++i) layer.tensor({hidden});
  total.repeat(layer.count(), n_layers);

  // Gemma4VisionPooler has no tensors. Gemma4VisionModel with standardize: persistent buffers
  // std_bias [hidden] and std_scale [hidden].
  if (standardize) {
    total.tensor({hidden});
    total.tensor({hidden});
  }
  return total.count();
}

// model.audio_tower: Gemma4AudioModel (config class Gemma4AudioConfig), a conformer encoder.
TowerCount audio_tower_count(const SubConfig& c) {
  const std::int64_t hidden = c.integer("hidden_size", 1024, 1);
  const std::int64_t n_layers = c.integer("num_hidden_layers", 12);
  const std::int64_t n_heads = c.integer("num_attention_heads", 8, 1);
  const std::vector<std::int64_t> channels = c.integer_list("subsampling_conv_channels", {128, 32}, 2, 1);
  const std::int64_t kernel = c.integer("conv_kernel_size", 5, 1);
  const bool clipped = c.boolean("use_clipped_linears", true);
  const std::int64_t out_dims = c.integer("output_proj_dims", 1536, 1);

  Tally total("audio_config");
  // Gemma4AudioSubSampleConvProjection: layer0/layer1 are Gemma4AudioSubSampleConvProjectionLayer, each an
  // nn.Conv2d(3x3, stride 2, bias=False) and an nn.LayerNorm(bias=False) (weight only); then
  // input_proj_linear (nn.Linear, bias=False) from (channels[0] / 4) * channels[1] to hidden.
  const std::int64_t c0 = channels[0];
  const std::int64_t c1 = channels[1];
  total.tensor({c0, 1, 3, 3});   // layer0.conv.weight
  total.tensor({c0});            // layer0.norm.weight
  total.tensor({c1, c0, 3, 3});  // layer1.conv.weight
  total.tensor({c1});            // layer1.norm.weight
  total.tensor({hidden, (c0 / 4) * c1});

  // Gemma4AudioModel.layers[i]: Gemma4AudioLayer.
  Tally layer("audio_config");
  // feed_forward1, feed_forward2 (Gemma4AudioFeedForward): ffw_layer_1 hidden -> 4*hidden, ffw_layer_2 back,
  // both Gemma4ClippableLinear; pre_layer_norm and post_layer_norm are Gemma4RMSNorm(hidden) with scale.
  for (int ff = 0; ff < 2; ++ff) {
    layer.clippable_linear(hidden, 4 * hidden, clipped);
    layer.clippable_linear(4 * hidden, hidden, clipped);
    layer.tensor({hidden});
    layer.tensor({hidden});
  }
  // self_attn (Gemma4AudioAttention): head_dim = hidden / heads (floor); q/k/v_proj hidden -> heads*head_dim
  // and post hidden -> hidden, all Gemma4ClippableLinear; relative_k_proj (plain nn.Linear, bias=False)
  // hidden -> heads*head_dim; the parameter per_dim_scale [head_dim].
  const std::int64_t head_dim = hidden / n_heads;
  for (int i = 0; i < 3; ++i) layer.clippable_linear(hidden, n_heads * head_dim, clipped);  // q, k, v
  layer.clippable_linear(hidden, hidden, clipped);                                          // post
  layer.tensor({n_heads * head_dim, hidden});                                               // relative_k_proj
  layer.tensor({head_dim});                                                                 // per_dim_scale
  // lconv1d (Gemma4AudioLightConv1d): linear_start hidden -> 2*hidden and linear_end hidden -> hidden
  // (Gemma4ClippableLinear); depthwise_conv1d (Gemma4AudioCausalConv1d, groups=hidden, bias=False) weight
  // [hidden, 1, conv_kernel_size]; pre_layer_norm and conv_norm, Gemma4RMSNorm(hidden) with scale.
  layer.clippable_linear(hidden, 2 * hidden, clipped);
  layer.clippable_linear(hidden, hidden, clipped);
  layer.tensor({hidden, 1, kernel});
  layer.tensor({hidden});
  layer.tensor({hidden});
  // norm_pre_attn, norm_post_attn, norm_out: Gemma4RMSNorm(hidden) with scale.
  for (int i = 0; i < 3; ++i) layer.tensor({hidden});
  total.repeat(layer.count(), n_layers);

  // output_proj: nn.Linear(hidden, output_proj_dims, bias=True). (rel_pos_enc holds no saved tensor.)
  total.tensor({out_dims, hidden});
  total.tensor({out_dims});
  return total.count();
}

// model.embed_vision / model.embed_audio: Gemma4MultimodalEmbedder. embedding_projection is an nn.Linear
// (bias=False) from the tower's output width to the text hidden size; embedding_pre_projection_norm is a
// Gemma4RMSNorm with with_scale=False, so it has no tensor.
TowerCount embedder_count(std::int64_t tower_width, std::int64_t text_hidden, const std::string& what) {
  Tally total(what);
  total.tensor({text_hidden, tower_width});
  return total.count();
}

}  // namespace

TowerCounts gemma4_tower_counts(const Gemma4Config& config) {
  TowerCounts out;
  // Gemma4Model builds vision_tower and embed_vision only when vision_config is not null (same for audio).
  if (!config.vision_config.is_null()) {
    const SubConfig vision(config.vision_config, "vision_config");
    out.vision = vision_tower_count(vision);
    // The embedder reads getattr(config, "output_proj_dims", hidden_size). Gemma4VisionConfig has no such
    // field, but an extra key in config.json becomes an attribute, so honour it when present.
    const std::int64_t width = vision.integer("output_proj_dims", vision.integer("hidden_size", 768, 1), 1);
    out.embed_vision = embedder_count(width, config.text.d_model, "vision_config");
  }
  if (!config.audio_config.is_null()) {
    const SubConfig audio(config.audio_config, "audio_config");
    out.audio = audio_tower_count(audio);
    out.embed_audio = embedder_count(audio.integer("output_proj_dims", 1536, 1), config.text.d_model, "audio_config");
  }
  return out;
}

}  // namespace qg
