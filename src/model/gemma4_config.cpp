#include "model/gemma4_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "checkpoint/json_file.h"
#include "common/error.h"

namespace qg {

using nlohmann::json;

std::string_view layer_type_name(LayerType type) {
  return type == LayerType::kFull ? "full_attention" : "sliding_attention";
}

namespace {

class Reader {
 public:
  Reader(const json& obj, std::string source, std::string prefix)
      : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("config key '{}{}' {}", prefix_, key, what), {.file = source_});
  }
  bool has(const std::string& key) const { return obj_.contains(key); }
  bool is_null(const std::string& key) const { return has(key) && obj_.at(key).is_null(); }
  const json& raw(const std::string& key) const { return obj_.at(key); }

  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min_value = 0) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_number_integer()) fail(key, fmt::format("must be an integer, got {}", v.dump()));
    const auto x = v.get<std::int64_t>();
    if (x < min_value) fail(key, fmt::format("must be >= {}, got {}", min_value, x));
    return x;
  }
  // Nullable integer: absent -> fallback, null -> nullopt.
  std::optional<std::int64_t> opt_integer(const std::string& key, std::optional<std::int64_t> fallback) const {
    if (!has(key)) return fallback;
    if (obj_.at(key).is_null()) return std::nullopt;
    return integer(key, 0);
  }
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_number()) fail(key, fmt::format("must be a number, got {}", v.dump()));
    return v.get<double>();
  }
  std::optional<double> opt_number(const std::string& key, std::optional<double> fallback) const {
    if (!has(key)) return fallback;
    if (obj_.at(key).is_null()) return std::nullopt;
    return number(key, 0);
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_boolean()) fail(key, fmt::format("must be true or false, got {}", v.dump()));
    return v.get<bool>();
  }
  std::optional<std::string> opt_string(const std::string& key) const {
    if (!has(key) || obj_.at(key).is_null()) return std::nullopt;
    if (!obj_.at(key).is_string()) fail(key, fmt::format("must be a string, got {}", obj_.at(key).dump()));
    return obj_.at(key).get<std::string>();
  }

 private:
  const json& obj_;
  std::string source_;
  std::string prefix_;
};

RopeParams parse_rope(const Reader& r, const json& v, const std::string& layer_type, RopeParams fallback) {
  if (!v.is_object()) r.fail("rope_parameters." + layer_type, "must be an object");
  // Any other key (factor, scaling ranges...) would change the frequencies; refuse it rather than
  // compute wrong numbers.
  for (const auto& [key, _] : v.items())
    if (key != "rope_type" && key != "rope_theta" && key != "partial_rotary_factor")
      r.fail("rope_parameters." + layer_type + "." + key, "is not supported (rope_type, rope_theta, partial_rotary_factor)");
  RopeParams p;
  p.rope_type = v.contains("rope_type") && v["rope_type"].is_string() ? v["rope_type"].get<std::string>()
                                                                      : fallback.rope_type;
  if (p.rope_type != "default" && p.rope_type != "proportional")
    r.fail("rope_parameters." + layer_type + ".rope_type",
           fmt::format("'{}' is not supported (default, proportional)", p.rope_type));
  if (!v.contains("rope_theta") || !v["rope_theta"].is_number())
    r.fail("rope_parameters." + layer_type + ".rope_theta", "is missing or not a number");
  p.rope_theta = v["rope_theta"].get<double>();
  p.partial_rotary_factor = 1.0;
  if (v.contains("partial_rotary_factor") && !v["partial_rotary_factor"].is_null()) {
    if (!v["partial_rotary_factor"].is_number())
      r.fail("rope_parameters." + layer_type + ".partial_rotary_factor", "must be a number");
    p.partial_rotary_factor = v["partial_rotary_factor"].get<double>();
  }
  return p;
}

Gemma4TextConfig parse_text(const json& t, const std::string& source, const std::string& prefix) {
  if (!t.is_object()) throw Error(fmt::format("'{}' must be a JSON object", prefix), {.file = source});
  const Reader r(t, source, prefix);
  if (auto mt = r.opt_string("model_type"); mt && *mt != "gemma4_text")
    r.fail("model_type", fmt::format("is '{}', expected 'gemma4_text'", *mt));

  Gemma4TextConfig c;  // member initialisers hold transformers' defaults
  c.n_vocab = r.integer("vocab_size", c.n_vocab, 1);
  c.d_model = r.integer("hidden_size", c.d_model, 1);
  c.d_ff = r.integer("intermediate_size", c.d_ff, 1);
  c.n_layers = r.integer("num_hidden_layers", c.n_layers, 1);
  c.n_heads = r.integer("num_attention_heads", c.n_heads, 1);
  c.n_kv_heads = r.integer("num_key_value_heads", c.n_kv_heads, 1);
  c.d_head = r.integer("head_dim", c.d_head, 1);
  c.sliding_window = r.integer("sliding_window", c.sliding_window, 1);
  c.max_position_embeddings = r.integer("max_position_embeddings", c.max_position_embeddings, 1);
  c.rms_norm_eps = r.number("rms_norm_eps", c.rms_norm_eps);
  c.final_logit_softcapping = r.opt_number("final_logit_softcapping", std::nullopt);
  if (c.final_logit_softcapping && *c.final_logit_softcapping <= 0)
    r.fail("final_logit_softcapping", "must be positive or null");
  c.hidden_activation = r.opt_string("hidden_activation").value_or(c.hidden_activation);
  if (c.hidden_activation != "gelu_pytorch_tanh")
    r.fail("hidden_activation", fmt::format("'{}' is not supported (gelu_pytorch_tanh)", c.hidden_activation));
  if (r.boolean("attention_bias", false)) r.fail("attention_bias", "true is not supported by Gemma 4");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", c.tie_word_embeddings);
  c.n_vocab_ple = r.integer("vocab_size_per_layer_input", c.n_vocab_ple, 1);
  // null behaves as 0 in the modeling code (`if config.hidden_size_per_layer_input:`); some 26B/31B
  // configs carry null.
  c.d_ple = r.opt_integer("hidden_size_per_layer_input", c.d_ple).value_or(0);
  c.attention_k_eq_v = r.boolean("attention_k_eq_v", c.attention_k_eq_v);
  c.num_kv_shared_layers = r.integer("num_kv_shared_layers", c.num_kv_shared_layers, 0);
  c.use_double_wide_mlp = r.boolean("use_double_wide_mlp", c.use_double_wide_mlp);
  c.enable_moe_block = r.boolean("enable_moe_block", c.enable_moe_block);
  c.use_bidirectional_attention = r.opt_string("use_bidirectional_attention");
  if (c.use_bidirectional_attention && *c.use_bidirectional_attention != "vision" &&
      *c.use_bidirectional_attention != "all")
    r.fail("use_bidirectional_attention", "must be null, \"vision\" or \"all\"");
  // transformers halves the window for fully bidirectional models (exclusive bound for flash attention).
  if (c.use_bidirectional_attention == "all") c.sliding_window = c.sliding_window / 2 + 1;

  if (c.enable_moe_block) {
    for (const char* key : {"num_experts", "top_k_experts", "moe_intermediate_size"})
      if (!r.has(key) || r.is_null(key)) r.fail(key, "is required when enable_moe_block is true");
    c.n_experts = r.integer("num_experts", 0, 1);
    c.top_k_experts = r.integer("top_k_experts", 0, 1);
    c.d_expert = r.integer("moe_intermediate_size", 0, 1);
    if (c.top_k_experts > c.n_experts) r.fail("top_k_experts", "exceeds num_experts");
  }
  c.pad_token_id = r.opt_integer("pad_token_id", 0).value_or(-1);
  c.bos_token_id = r.opt_integer("bos_token_id", 2).value_or(-1);
  if (r.has("eos_token_id") && !r.is_null("eos_token_id")) {
    const json& e = r.raw("eos_token_id");
    c.eos_token_ids.clear();
    if (e.is_number_integer()) {
      c.eos_token_ids.push_back(e.get<std::int64_t>());
    } else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) r.fail("eos_token_id", "must be an integer or a list of integers");
        c.eos_token_ids.push_back(x.get<std::int64_t>());
      }
    } else {
      r.fail("eos_token_id", "must be an integer or a list of integers");
    }
  } else if (r.is_null("eos_token_id")) {
    c.eos_token_ids.clear();
  }

  // Layer types: default 5 sliding : 1 full; the last layer is always forced to full attention.
  std::vector<LayerType> types;
  if (r.has("layer_types") && !r.is_null("layer_types")) {
    const json& lt = r.raw("layer_types");
    if (!lt.is_array()) r.fail("layer_types", "must be a list");
    for (const auto& x : lt) {
      if (x == "sliding_attention") types.push_back(LayerType::kSliding);
      else if (x == "full_attention") types.push_back(LayerType::kFull);
      else r.fail("layer_types", fmt::format("has unknown entry {}", x.dump()));
    }
    if (static_cast<std::int64_t>(types.size()) != c.n_layers)
      r.fail("layer_types", fmt::format("has {} entries but num_hidden_layers is {}", types.size(), c.n_layers));
  } else {
    for (std::int64_t i = 0; i < c.n_layers; ++i)
      types.push_back((i + 1) % 6 != 0 ? LayerType::kSliding : LayerType::kFull);
  }
  types.back() = LayerType::kFull;

  // RoPE per layer type.
  if (r.has("rope_parameters") && !r.is_null("rope_parameters")) {
    const json& rp = r.raw("rope_parameters");
    if (!rp.is_object() || rp.contains("rope_type"))
      r.fail("rope_parameters", "must map each layer type (sliding_attention, full_attention) to its parameters");
    if (rp.contains("sliding_attention")) c.rope_sliding = parse_rope(r, rp["sliding_attention"], "sliding_attention", c.rope_sliding);
    if (rp.contains("full_attention")) c.rope_full = parse_rope(r, rp["full_attention"], "full_attention", c.rope_full);
  }

  // Per-layer overrides. transformers >= 5.15 saves `per_layer_config` {"<idx>": {"head_dim", ...}};
  // Google's released configs use global_head_dim / num_global_key_value_heads instead (the latter only
  // counts when attention_k_eq_v). When per_layer_config is present, the global_* keys are ignored.
  std::map<std::int64_t, json> overrides;
  if (r.has("per_layer_config") && !r.is_null("per_layer_config")) {
    const json& plc = r.raw("per_layer_config");
    if (!plc.is_object()) r.fail("per_layer_config", "must be an object keyed by layer index");
    for (const auto& [key, value] : plc.items()) {
      std::int64_t idx = -1;
      try {
        std::size_t used = 0;
        idx = std::stoll(key, &used);
        if (used != key.size()) idx = -1;
      } catch (...) {
      }
      if (idx < 0 || idx >= c.n_layers)
        r.fail("per_layer_config", fmt::format("key '{}' is not a layer index in [0, {})", key, c.n_layers));
      if (!value.is_object()) r.fail("per_layer_config." + key, "must be an object");
      for (const auto& [attr, _] : value.items())
        if (attr != "head_dim" && attr != "num_key_value_heads" && attr != "num_attention_heads")
          r.fail("per_layer_config." + key + "." + attr, "is not a per-layer attribute quantgate knows");
      overrides[idx] = value;
    }
  } else {
    const std::int64_t global_head_dim = r.integer("global_head_dim", 512, 1);
    const auto global_kv = r.opt_integer("num_global_key_value_heads", std::nullopt);
    for (std::int64_t i = 0; i < c.n_layers; ++i) {
      if (types[static_cast<std::size_t>(i)] != LayerType::kFull) continue;
      json o = {{"head_dim", global_head_dim}};
      if (c.attention_k_eq_v && global_kv) o["num_key_value_heads"] = *global_kv;
      overrides[i] = o;
    }
  }

  // KV sharing: layers i >= F read the K/V of the last layer before F of the same type.
  const std::int64_t first_shared = c.n_layers - c.num_kv_shared_layers;
  if (first_shared < 0) r.fail("num_kv_shared_layers", fmt::format("exceeds num_hidden_layers {}", c.n_layers));
  c.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    Gemma4LayerConfig& l = c.layers[static_cast<std::size_t>(i)];
    l.type = types[static_cast<std::size_t>(i)];
    l.n_heads = c.n_heads;
    l.n_kv_heads = c.n_kv_heads;
    l.d_head = c.d_head;
    if (auto it = overrides.find(i); it != overrides.end()) {
      const Reader o(it->second, source, fmt::format("{}per_layer_config.{}.", prefix, i));
      l.d_head = o.integer("head_dim", l.d_head, 1);
      l.n_kv_heads = o.integer("num_key_value_heads", l.n_kv_heads, 1);
      l.n_heads = o.integer("num_attention_heads", l.n_heads, 1);
    }
    if (l.n_heads % l.n_kv_heads != 0)
      throw Error(fmt::format("layer {}: {} attention heads are not a multiple of {} kv heads", i, l.n_heads,
                              l.n_kv_heads),
                  {.file = source});
    // `layer_idx >= first_kv_shared_layer_idx > 0` in transformers: F == 0 shares nothing.
    l.kv_shared = first_shared > 0 && i >= first_shared;
    l.kv_source = static_cast<int>(i);
    if (l.kv_shared) {
      l.kv_source = -1;
      for (std::int64_t j = first_shared - 1; j >= 0; --j)
        if (types[static_cast<std::size_t>(j)] == l.type) {
          l.kv_source = static_cast<int>(j);
          break;
        }
      if (l.kv_source < 0)
        throw Error(fmt::format("layer {} ({}) is KV-shared but no layer before {} has that type", i,
                                layer_type_name(l.type), first_shared),
                    {.file = source});
    }
    l.k_eq_v = c.attention_k_eq_v && l.type == LayerType::kFull;
    l.d_ff = (c.use_double_wide_mlp && l.kv_shared) ? 2 * c.d_ff : c.d_ff;
  }
  // A shared layer reads its source's K/V as is, so their geometries must agree.
  for (const auto& l : c.layers) {
    if (!l.kv_shared) continue;
    const auto& s = c.layers[static_cast<std::size_t>(l.kv_source)];
    if (s.d_head != l.d_head || s.n_kv_heads != l.n_kv_heads)
      throw Error(fmt::format("a KV-shared layer's head_dim/kv heads differ from its source layer {}", l.kv_source),
                  {.file = source});
  }
  return c;
}

}  // namespace

Gemma4Config parse_gemma4_config(const json& config, const std::string& source) {
  if (!config.is_object()) throw Error("config is not a JSON object", {.file = source});
  Gemma4Config out;
  if (!config.contains("model_type") || !config["model_type"].is_string())
    throw Error("config has no 'model_type'", {.file = source, .hint = "is this a Hugging Face config.json?"});
  out.model_type = config["model_type"].get<std::string>();

  static const std::vector<std::string> kNested = {"Gemma4ForConditionalGeneration", "Gemma4Model"};
  static const std::vector<std::string> kFlat = {"Gemma4ForCausalLM", "Gemma4TextModel"};
  const auto& allowed = out.model_type == "gemma4" ? kNested : kFlat;
  if (out.model_type != "gemma4" && out.model_type != "gemma4_text")
    throw Error(fmt::format("unknown model_type '{}' (quantgate reads gemma4 and gemma4_text)", out.model_type),
                {.file = source});
  if (config.contains("architectures") && !config["architectures"].is_null()) {
    const json& a = config["architectures"];
    if (!a.is_array() || a.size() != 1 || !a[0].is_string())
      throw Error("'architectures' must be a list with one class name", {.file = source});
    out.architecture = a[0].get<std::string>();
    if (std::find(allowed.begin(), allowed.end(), out.architecture) == allowed.end())
      throw Error(fmt::format("unknown architecture '{}' for model_type '{}'", out.architecture, out.model_type),
                  {.file = source});
  }

  if (out.model_type == "gemma4") {
    // transformers builds a default text config when text_config is absent or null.
    const json text = config.contains("text_config") && !config["text_config"].is_null() ? config["text_config"]
                                                                                         : json::object();
    out.text = parse_text(text, source, "text_config.");
    // The wrapper's own tie_word_embeddings (default true) decides whether lm_head is tied.
    out.text.tie_word_embeddings = Reader(config, source, "").boolean("tie_word_embeddings", true);
    out.vision_config = config.value("vision_config", json());
    out.audio_config = config.value("audio_config", json());
    out.has_vision = !out.vision_config.is_null();
    out.has_audio = !out.audio_config.is_null();
  } else {
    out.text = parse_text(config, source, "");
  }
  for (const char* key : {"dtype", "torch_dtype"})
    if (config.contains(key) && config[key].is_string()) out.dtype = config[key].get<std::string>();
  if (out.dtype.empty() && config.contains("text_config") && config["text_config"].is_object())
    for (const char* key : {"dtype", "torch_dtype"})
      if (config["text_config"].contains(key) && config["text_config"][key].is_string())
        out.dtype = config["text_config"][key].get<std::string>();
  out.has_quantization_config = config.contains("quantization_config") && !config["quantization_config"].is_null();
  if (out.has_quantization_config) out.quantization_config = config["quantization_config"];
  return out;
}

Gemma4Config read_gemma4_config(const std::string& path) { return parse_gemma4_config(read_json_file(path), path); }

json to_json(const Gemma4TextConfig& c) {
  json layers = json::array();
  for (const auto& l : c.layers)
    layers.push_back({{"type", layer_type_name(l.type)},
                      {"n_heads", l.n_heads},
                      {"n_kv_heads", l.n_kv_heads},
                      {"d_head", l.d_head},
                      {"d_ff", l.d_ff},
                      {"kv_shared", l.kv_shared},
                      {"kv_source", l.kv_source},
                      {"k_eq_v", l.k_eq_v}});
  auto rope = [](const RopeParams& p) {
    return json{{"rope_type", p.rope_type}, {"rope_theta", p.rope_theta}, {"partial_rotary_factor", p.partial_rotary_factor}};
  };
  return {{"n_vocab", c.n_vocab},
          {"d_model", c.d_model},
          {"d_ff", c.d_ff},
          {"n_layers", c.n_layers},
          {"n_heads", c.n_heads},
          {"n_kv_heads", c.n_kv_heads},
          {"d_head", c.d_head},
          {"sliding_window", c.sliding_window},
          {"max_position_embeddings", c.max_position_embeddings},
          {"rms_norm_eps", c.rms_norm_eps},
          {"final_logit_softcapping", c.final_logit_softcapping ? json(*c.final_logit_softcapping) : json()},
          {"tie_word_embeddings", c.tie_word_embeddings},
          {"n_vocab_ple", c.n_vocab_ple},
          {"d_ple", c.d_ple},
          {"attention_k_eq_v", c.attention_k_eq_v},
          {"num_kv_shared_layers", c.num_kv_shared_layers},
          {"use_double_wide_mlp", c.use_double_wide_mlp},
          {"enable_moe_block", c.enable_moe_block},
          {"n_experts", c.n_experts},
          {"top_k_experts", c.top_k_experts},
          {"d_expert", c.d_expert},
          {"rope_sliding", rope(c.rope_sliding)},
          {"rope_full", rope(c.rope_full)},
          {"bos_token_id", c.bos_token_id},
          {"eos_token_ids", c.eos_token_ids},
          {"layers", layers}};
}

}  // namespace qg
