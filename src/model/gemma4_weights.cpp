#include "model/gemma4_weights.h"

#include <fmt/format.h>

#include <set>

#include "common/error.h"

namespace qg {

std::string_view component_name(WeightComponent c) {
  switch (c) {
    case WeightComponent::kTokenEmbedding: return "token_embedding";
    case WeightComponent::kPleTable: return "ple_table";
    case WeightComponent::kMatmul: return "matmul";
    case WeightComponent::kNorm: return "norm";
    case WeightComponent::kLayerScalar: return "layer_scalar";
    case WeightComponent::kLmHead: return "lm_head";
  }
  return "?";
}

std::vector<WeightSpec> gemma4_text_weight_specs(const Gemma4TextConfig& c) {
  using C = WeightComponent;
  std::vector<WeightSpec> s;
  const std::int64_t H = c.d_model;
  const std::int64_t L = c.n_layers;
  const std::int64_t P = c.d_ple;
  s.push_back({"embed_tokens.weight", {c.n_vocab, H}, C::kTokenEmbedding});
  if (c.has_ple()) {
    s.push_back({"embed_tokens_per_layer.weight", {c.n_vocab_ple, L * P}, C::kPleTable});
    s.push_back({"per_layer_model_projection.weight", {L * P, H}, C::kMatmul});
    s.push_back({"per_layer_projection_norm.weight", {P}, C::kNorm});
  }
  s.push_back({"norm.weight", {H}, C::kNorm});

  for (int i = 0; i < static_cast<int>(L); ++i) {
    const Gemma4LayerConfig& l = c.layers[static_cast<std::size_t>(i)];
    const std::string p = fmt::format("layers.{}.", i);
    auto add = [&](const std::string& name, Shape shape, C comp) { s.push_back({p + name, std::move(shape), comp, i}); };
    for (const char* n : {"input_layernorm.weight", "post_attention_layernorm.weight", "pre_feedforward_layernorm.weight",
                          "post_feedforward_layernorm.weight"})
      add(n, {H}, C::kNorm);
    add("layer_scalar", {1}, C::kLayerScalar);
    add("self_attn.q_proj.weight", {l.n_heads * l.d_head, H}, C::kMatmul);
    add("self_attn.q_norm.weight", {l.d_head}, C::kNorm);
    if (!l.kv_shared) {
      add("self_attn.k_proj.weight", {l.n_kv_heads * l.d_head, H}, C::kMatmul);
      if (!l.k_eq_v) add("self_attn.v_proj.weight", {l.n_kv_heads * l.d_head, H}, C::kMatmul);
      add("self_attn.k_norm.weight", {l.d_head}, C::kNorm);
    }
    add("self_attn.o_proj.weight", {H, l.n_heads * l.d_head}, C::kMatmul);
    add("mlp.gate_proj.weight", {l.d_ff, H}, C::kMatmul);
    add("mlp.up_proj.weight", {l.d_ff, H}, C::kMatmul);
    add("mlp.down_proj.weight", {H, l.d_ff}, C::kMatmul);
    if (c.enable_moe_block) {
      add("router.proj.weight", {c.n_experts, H}, C::kMatmul);
      add("router.scale", {H}, C::kNorm);
      add("router.per_expert_scale", {c.n_experts}, C::kNorm);
      add("experts.gate_up_proj", {c.n_experts, 2 * c.d_expert, H}, C::kMatmul);
      add("experts.down_proj", {c.n_experts, H, c.d_expert}, C::kMatmul);
      for (const char* n : {"post_feedforward_layernorm_1.weight", "pre_feedforward_layernorm_2.weight",
                            "post_feedforward_layernorm_2.weight"})
        add(n, {H}, C::kNorm);
    }
    if (c.has_ple()) {
      add("per_layer_input_gate.weight", {P, H}, C::kMatmul);
      add("per_layer_projection.weight", {H, P}, C::kMatmul);
      add("post_per_layer_input_norm.weight", {H}, C::kNorm);
    }
  }
  if (!c.tie_word_embeddings) s.push_back({"lm_head.weight", {c.n_vocab, H}, C::kLmHead});
  return s;
}

std::vector<float> weight_to_f32(const BoundWeight& weight) {
  return weight.quantized ? dequantize_f32(*weight.quantized) : to_f32(weight.view);
}

bool is_linear_weight(const WeightSpec& spec) {
  return (spec.component == WeightComponent::kMatmul || spec.component == WeightComponent::kLmHead) &&
         spec.name.size() > 7 && spec.name.compare(spec.name.size() - 7, 7, ".weight") == 0;
}

const TensorView& Gemma4Weights::get(const std::string& name) const {
  auto it = by_name.find(name);
  if (it == by_name.end()) throw Error("not bound (not implied by the config)", {.tensor = name});
  return weights[it->second].view;
}

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string detect_prefix(const Checkpoint& ck) {
  for (const char* p : {"model.language_model.", "model."})
    if (ck.find(std::string(p) + "embed_tokens.weight")) return p;
  throw Error("no text decoder found: neither model.language_model.embed_tokens.weight nor model.embed_tokens.weight",
              {.file = ck.dir().string(), .hint = "is this a Gemma 4 checkpoint?"});
}

}  // namespace

Gemma4Weights bind_gemma4_weights(const Checkpoint& ck, const Gemma4Config& config) {
  const Gemma4TextConfig& c = config.text;
  Gemma4Weights w;
  w.prefix = detect_prefix(ck);
  std::set<std::string> used;
  const std::string config_label = (ck.dir() / "config.json").string();
  if (config.has_quantization_config)
    w.quantization = parse_quantization_config(config.quantization_config, config_label);

  for (const WeightSpec& spec : gemma4_text_weight_specs(c)) {
    // lm_head lives outside the text prefix in both layouts.
    const std::string full = spec.component == WeightComponent::kLmHead ? spec.name : w.prefix + spec.name;
    if (w.quantization && is_linear_weight(spec)) {
      const std::string module = full.substr(0, full.size() - 7);
      if (const QuantScheme* scheme = scheme_for_module(*w.quantization, module, "Linear", config_label)) {
        auto q = std::make_shared<QuantizedLinear>(bind_quantized_linear(ck, module, *scheme));
        if (q->out_features != spec.shape[0] || q->in_features != spec.shape[1])
          throw Error(fmt::format("quantized shape [{}, {}], but config.json implies {}", q->out_features,
                                  q->in_features, shape_str(spec.shape)),
                      {.file = q->file, .tensor = module});
        for (const char* suffix : kQuantizedSuffixes)
          if (ck.find(module + "." + suffix)) used.insert(module + "." + suffix);
        if (ck.find(full)) used.insert(full);  // naive/int/float formats keep the name "weight"
        w.by_name[spec.name] = w.weights.size();
        w.weights.push_back({spec, full, q->weight, q});
        continue;
      }
    }
    const CheckpointTensor* t = ck.find(full);
    if (t == nullptr)
      throw Error(fmt::format("missing from the checkpoint (config.json implies shape {})", shape_str(spec.shape)),
                  {.file = ck.dir().string(), .tensor = full});
    const SafetensorsEntry& e = *t->entry;
    if (e.shape != spec.shape)
      throw Error(fmt::format("shape {} in the file, but config.json implies {}", shape_str(e.shape),
                              shape_str(spec.shape)),
                  {.file = t->file->path().string(), .tensor = full});
    if (e.dtype != DType::kBF16 && e.dtype != DType::kF16 && e.dtype != DType::kF32)
      throw Error(fmt::format("dtype {} is not a float weight type (BF16, F16, F32)", dtype_name(e.dtype)),
                  {.file = t->file->path().string(),
                   .tensor = full,
                   .hint = config.has_quantization_config ? "quantized checkpoints are bound by the quant layer" : ""});
    w.by_name[spec.name] = w.weights.size();
    w.weights.push_back({spec, full, t->file->view(e)});
    used.insert(full);
  }

  // Everything else must be explicitly skippable.
  static const std::pair<const char*, const char*> kTowers[] = {{"model.vision_tower.", "vision"},
                                                                {"model.audio_tower.", "audio"},
                                                                {"model.embed_vision.", "embed_vision"},
                                                                {"model.embed_audio.", "embed_audio"}};
  for (const auto& [name, t] : ck.tensors()) {
    if (used.count(name)) continue;
    std::string component;
    for (const auto& [prefix, comp] : kTowers)
      if (starts_with(name, prefix)) component = comp;
    if (component.empty() && name == "lm_head.weight" && c.tie_word_embeddings) {
      if (t.entry->shape != Shape{c.n_vocab, c.d_model})
        throw Error(fmt::format("tied head duplicate has shape {}, expected {}", shape_str(t.entry->shape),
                                shape_str(Shape{c.n_vocab, c.d_model})),
                    {.file = t.file->path().string(), .tensor = name});
      component = "lm_head_tied_duplicate";
    }
    if (component.empty() && starts_with(name, w.prefix + "layers.")) {
      // transformers drops k_proj/v_proj/k_norm/v_norm found under KV-shared layers; so do we.
      const std::string rest = name.substr(w.prefix.size() + 7);
      const auto dot = rest.find('.');
      int layer = -1;
      try {
        layer = std::stoi(rest.substr(0, dot));
      } catch (...) {
      }
      if (layer >= 0 && layer < c.n_layers && c.layers[static_cast<std::size_t>(layer)].kv_shared && dot != std::string::npos) {
        const std::string leaf = rest.substr(dot + 1);
        for (const char* n : {"self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.k_norm.weight",
                              "self_attn.v_norm.weight"})
          if (leaf == n) component = "kv_shared_unused";
      }
    }
    if (component.empty())
      throw Error("unexpected tensor: not part of the Gemma 4 text decoder this config.json describes, and not a "
                  "vision/audio tower",
                  {.file = t.file->path().string(), .tensor = name});
    w.skipped.push_back({name, component, t.file->view(*t.entry)});
  }
  return w;
}

}  // namespace qg
