#include "model/gemma4_inventory.h"

#include "model/gemma4_towers.h"

namespace qg {

std::uint64_t ComponentStats::bytes() const {
  std::uint64_t n = 0;
  for (const auto& [_, b] : bytes_by_dtype) n += b;
  return n;
}

namespace {
void add_text(Gemma4Inventory& inv, const WeightSpec& spec) {
  const std::int64_t n = shape_numel(spec.shape);
  if (spec.component == WeightComponent::kLayerScalar) {
    inv.text_buffer_elements += n;
  } else {
    inv.text_decoder_params += n;
  }
}
}  // namespace

Gemma4Inventory inventory_from_weights(const Gemma4Weights& weights, const Gemma4Config& config) {
  (void)config;
  Gemma4Inventory inv;
  inv.from_weights = true;
  for (const auto& w : weights.weights) {
    auto& s = inv.components["text." + std::string(component_name(w.spec.component))];
    if (w.quantized) {
      // Logical elements of the Linear; bytes of every stored piece (packed codes, scales, zero points...).
      const QuantizedLinear& q = *w.quantized;
      s.params += q.out_features * q.in_features;
      const TensorView* parts[] = {&q.weight, &q.scale, q.zero_point ? &*q.zero_point : nullptr,
                                   q.g_idx ? &*q.g_idx : nullptr, q.global_scale ? &*q.global_scale : nullptr};
      for (const TensorView* t : parts)
        if (t) {
          s.tensors += 1;
          s.bytes_by_dtype[std::string(dtype_name(t->dtype))] += t->nbytes();
        }
      if (q.format == "pack-quantized") {  // weight_shape: I64 [2]
        s.tensors += 1;
        s.bytes_by_dtype["I64"] += 16;
      }
    } else {
      s.params += w.view.numel();
      s.tensors += 1;
      s.bytes_by_dtype[std::string(dtype_name(w.view.dtype))] += w.view.nbytes();
    }
    add_text(inv, w.spec);
  }
  for (const auto& t : weights.skipped) {
    const bool tower = t.component == "vision" || t.component == "audio" || t.component == "embed_vision" ||
                       t.component == "embed_audio";
    auto& s = inv.components[tower ? t.component : "unused." + t.component];
    s.params += t.view.numel();
    s.tensors += 1;
    s.bytes_by_dtype[std::string(dtype_name(t.view.dtype))] += t.view.nbytes();
  }
  if (inv.components.count("vision")) inv.vision_params = inv.components["vision"].params;
  if (inv.components.count("audio")) inv.audio_params = inv.components["audio"].params;
  return inv;
}

namespace {
// The safetensors dtype a config's "dtype"/"torch_dtype" names; BF16 (Gemma's release dtype) otherwise.
DType storage_dtype(const std::string& config_dtype) {
  if (config_dtype == "float32") return DType::kF32;
  if (config_dtype == "float16") return DType::kF16;
  return DType::kBF16;
}
}  // namespace

Gemma4Inventory inventory_from_config(const Gemma4Config& config) {
  Gemma4Inventory inv;
  const DType dtype = storage_dtype(config.dtype);
  inv.estimated_dtype = std::string(dtype_name(dtype));
  for (const WeightSpec& spec : gemma4_text_weight_specs(config.text)) {
    auto& s = inv.components["text." + std::string(component_name(spec.component))];
    s.params += shape_numel(spec.shape);
    s.tensors += 1;
    add_text(inv, spec);
  }
  // layer_scalar is float too; every text and tower tensor is stored in the one dtype.
  for (auto& [_, s] : inv.components) s.bytes_by_dtype[inv.estimated_dtype] = static_cast<std::uint64_t>(s.params) * dtype_size(dtype);
  const TowerCounts towers = gemma4_tower_counts(config);
  auto put = [&](const char* name, const std::optional<TowerCount>& t) {
    if (!t) return;
    auto& s = inv.components[name];
    s.params = t->params;
    s.tensors = t->tensors;
    s.bytes_by_dtype[inv.estimated_dtype] = static_cast<std::uint64_t>(t->params) * dtype_size(dtype);
  };
  put("vision", towers.vision);
  put("audio", towers.audio);
  put("embed_vision", towers.embed_vision);
  put("embed_audio", towers.embed_audio);
  if (towers.vision) inv.vision_params = towers.vision->params;
  if (towers.audio) inv.audio_params = towers.audio->params;
  return inv;
}

}  // namespace qg
