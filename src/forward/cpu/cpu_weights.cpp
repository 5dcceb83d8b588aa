#include "forward/cpu/cpu_weights.h"

#include <fmt/format.h>

#include <cstring>

#include "common/check.h"
#include "common/error.h"
#include "common/float_formats.h"

namespace qg::cpu {

ConstMatrixMap F32Weight::matrix() const {
  QG_CHECK(shape.size() == 2, "matrix() of a {}-D weight", shape.size());
  return ConstMatrixMap(data.data(), shape[0], shape[1]);
}

ConstMatrixMap F32Weight::slice(std::int64_t index) const {
  QG_CHECK(shape.size() == 3 && index >= 0 && index < shape[0], "slice {} of shape {}", index,
           shape_str(shape));
  return ConstMatrixMap(data.data() + index * shape[1] * shape[2], shape[1], shape[2]);
}

const float* F32Weight::vector() const {
  QG_CHECK(shape.size() == 1, "vector() of a {}-D weight", shape.size());
  return data.data();
}

F32Weight load_f32(const Gemma4Weights& weights, const std::string& name) {
  auto it = weights.by_name.find(name);
  if (it == weights.by_name.end())
    throw Error("weight not bound (not implied by the config)", {.tensor = name});
  const BoundWeight& w = weights.weights[it->second];
  F32Weight out{w.spec.shape, weight_to_f32(w)};
  if (static_cast<std::int64_t>(out.data.size()) != shape_numel(w.spec.shape))
    throw Error(fmt::format("weight_to_f32 returned {} values for shape {}", out.data.size(),
                            shape_str(w.spec.shape)),
                {.tensor = w.checkpoint_name});
  return out;
}

namespace {

bool plain_float(const BoundWeight& w) {
  const DType d = w.view.dtype;
  // A quantized layer's `view` is its packed weight (scales elsewhere): only weight_to_f32 can read it.
  return !w.quantized && w.view.device == Device::kHost && w.view.shape == w.spec.shape &&
         w.spec.shape.size() == 2 && (d == DType::kBF16 || d == DType::kF16 || d == DType::kF32);
}

// Widens `count` contiguous elements starting at element `first` of a BF16/F16/F32 view (possibly
// unaligned: checkpoint data is mmapped at arbitrary offsets).
void widen(const TensorView& v, std::int64_t first, std::int64_t count, float* out) {
  const auto* base =
      static_cast<const std::byte*>(v.data) + first * static_cast<std::int64_t>(dtype_size(v.dtype));
  switch (v.dtype) {
    case DType::kF32:
      std::memcpy(out, base, static_cast<std::size_t>(count) * 4);
      return;
    case DType::kBF16:
    case DType::kF16:
      for (std::int64_t i = 0; i < count; ++i) {
        std::uint16_t h;
        std::memcpy(&h, base + 2 * i, 2);
        out[i] = v.dtype == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
      }
      return;
    default:
      QG_CHECK(false, "widen() of dtype {}", dtype_name(v.dtype));
  }
}

}  // namespace

TableRows::TableRows(const BoundWeight& weight, bool keep_f32)
    : view_(weight.view), name_(weight.checkpoint_name) {
  QG_CHECK(weight.spec.shape.size() == 2, "table {} is not 2-D", name_);
  rows_ = weight.spec.shape[0];
  cols_ = weight.spec.shape[1];
  if (!plain_float(weight)) {
    f32_ = weight_to_f32(weight);  // quantized or otherwise packed: one fp32 copy is the only way in
    if (static_cast<std::int64_t>(f32_.size()) != rows_ * cols_)
      throw Error(fmt::format("weight_to_f32 returned {} values for shape {}", f32_.size(),
                              shape_str(weight.spec.shape)),
                  {.tensor = name_});
  } else if (keep_f32) {
    f32_.resize(static_cast<std::size_t>(rows_ * cols_));
    widen(view_, 0, rows_ * cols_, f32_.data());
  }
}

void TableRows::copy_rows(std::int64_t first, std::int64_t count, float* out) const {
  QG_CHECK(first >= 0 && count >= 0 && first + count <= rows_, "rows [{}, {}) of {} ({} rows)", first,
           first + count, name_, rows_);
  if (!f32_.empty())
    std::memcpy(out, f32_.data() + first * cols_, static_cast<std::size_t>(count * cols_) * sizeof(float));
  else
    widen(view_, first * cols_, count * cols_, out);
}

void TableRows::gather(TokenSpan ids, float* out) const {
  for (std::size_t i = 0; i < ids.size(); ++i)
    copy_rows(ids[i], 1, out + static_cast<std::int64_t>(i) * cols_);
}

namespace {

std::uint64_t f32_bytes(const WeightSpec& s) { return static_cast<std::uint64_t>(shape_numel(s.shape)) * 4; }

LayerWeights load_layer(const Gemma4Weights& w, const Gemma4TextConfig& c, int i) {
  const Gemma4LayerConfig& l = c.layers[static_cast<std::size_t>(i)];
  const std::string p = fmt::format("layers.{}.", i);
  auto get = [&](const char* name) { return load_f32(w, p + name); };
  LayerWeights lw;
  lw.input_norm = get("input_layernorm.weight");
  lw.post_attention_norm = get("post_attention_layernorm.weight");
  lw.pre_ffn_norm = get("pre_feedforward_layernorm.weight");
  lw.post_ffn_norm = get("post_feedforward_layernorm.weight");
  lw.layer_scalar = get("layer_scalar").data.at(0);
  lw.q_proj = get("self_attn.q_proj.weight");
  lw.q_norm = get("self_attn.q_norm.weight");
  lw.o_proj = get("self_attn.o_proj.weight");
  if (!l.kv_shared) {
    lw.k_proj = get("self_attn.k_proj.weight");
    lw.k_norm = get("self_attn.k_norm.weight");
    if (!l.k_eq_v) lw.v_proj = get("self_attn.v_proj.weight");
  }
  lw.gate_proj = get("mlp.gate_proj.weight");
  lw.up_proj = get("mlp.up_proj.weight");
  lw.down_proj = get("mlp.down_proj.weight");
  if (c.enable_moe_block) {
    lw.router_proj = get("router.proj.weight");
    lw.router_scale = get("router.scale");
    lw.router_per_expert_scale = get("router.per_expert_scale");
    lw.experts_gate_up = get("experts.gate_up_proj");
    lw.experts_down = get("experts.down_proj");
    lw.post_ffn_norm_1 = get("post_feedforward_layernorm_1.weight");
    lw.pre_ffn_norm_2 = get("pre_feedforward_layernorm_2.weight");
    lw.post_ffn_norm_2 = get("post_feedforward_layernorm_2.weight");
  }
  if (c.has_ple()) {
    lw.ple_gate = get("per_layer_input_gate.weight");
    lw.ple_projection = get("per_layer_projection.weight");
    lw.post_ple_norm = get("post_per_layer_input_norm.weight");
  }
  return lw;
}

}  // namespace

WeightStore::WeightStore(const Gemma4Weights& weights, const Gemma4TextConfig& config,
                         std::uint64_t cache_bytes)
    : weights_(weights), config_(config) {
  globals_.final_norm = load_f32(weights, "norm.weight");
  if (config.has_ple()) {
    globals_.ple_model_projection = load_f32(weights, "per_layer_model_projection.weight");
    globals_.ple_projection_norm = load_f32(weights, "per_layer_projection_norm.weight");
  }
  // Budget: the layer stack first (converted on every call otherwise), then the head's table.
  std::uint64_t layer_bytes = 0, embed_bytes = 0, head_bytes = 0;
  for (const BoundWeight& b : weights.weights) {
    switch (b.spec.component) {
      case WeightComponent::kTokenEmbedding:
        embed_bytes += f32_bytes(b.spec);
        break;
      case WeightComponent::kLmHead:
        head_bytes += f32_bytes(b.spec);
        break;
      case WeightComponent::kPleTable:
        break;  // only the rows of the tokens in a call are ever needed
      default:
        if (b.spec.layer >= 0) layer_bytes += f32_bytes(b.spec);
    }
  }
  const bool cache_layers = layer_bytes <= cache_bytes;
  std::uint64_t left = cache_layers ? cache_bytes - layer_bytes : cache_bytes;
  auto bound = [&](const std::string& name) -> const BoundWeight& {
    return weights.weights[weights.by_name.at(name)];
  };
  const bool keep_embedding = embed_bytes <= left;
  if (keep_embedding) left -= embed_bytes;
  embedding_ = std::make_unique<TableRows>(bound("embed_tokens.weight"), keep_embedding);
  if (!config.tie_word_embeddings)
    head_ = std::make_unique<TableRows>(bound("lm_head.weight"), head_bytes <= left);
  if (config.has_ple())
    ple_table_ = std::make_unique<TableRows>(bound("embed_tokens_per_layer.weight"), false);
  if (cache_layers)
    for (int i = 0; i < config.n_layers; ++i)
      cache_.push_back(std::make_shared<const LayerWeights>(load_layer(weights, config, i)));
}

std::shared_ptr<const LayerWeights> WeightStore::layer(int index) const {
  QG_CHECK(index >= 0 && index < config_.n_layers, "layer {}", index);
  if (!cache_.empty()) return cache_[static_cast<std::size_t>(index)];
  return std::make_shared<const LayerWeights>(load_layer(weights_, config_, index));
}

}  // namespace qg::cpu
