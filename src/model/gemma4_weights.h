#pragma once
// Gemma 4 text-decoder weights: the list of every tensor the config implies (name, shape, component),
// and the binding of a checkpoint against it. After binding, every checkpoint tensor is either bound,
// or skipped for a named reason (vision/audio towers, tied lm_head duplicate, K/V tensors of KV-shared
// layers that transformers ignores); anything else is an error naming the tensor.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <memory>

#include "checkpoint/checkpoint.h"
#include "model/gemma4_config.h"
#include "quant/quantized_linear.h"
#include "tensor/tensor_view.h"

namespace qg {

enum class WeightComponent {
  kTokenEmbedding,  // embed_tokens (also the LM head when tied)
  kPleTable,        // embed_tokens_per_layer
  kMatmul,          // every matrix used in a GEMM: attention, MLP, PLE projections, router, experts
  kNorm,            // norm weights and other small vectors (router.scale, per_expert_scale)
  kLayerScalar,     // layers.N.layer_scalar: a saved buffer, not a parameter
  kLmHead,          // lm_head.weight when the head is not tied
};
std::string_view component_name(WeightComponent component);

struct WeightSpec {
  std::string name;  // relative to the text prefix (e.g. "layers.3.self_attn.q_proj.weight")
  Shape shape;
  WeightComponent component = WeightComponent::kMatmul;
  int layer = -1;    // -1 for model-level tensors
};

// Every text-decoder tensor the config implies, in a fixed order (model-level, then layer by layer).
// lm_head.weight is listed (outside the prefix) only when tie_word_embeddings is false.
std::vector<WeightSpec> gemma4_text_weight_specs(const Gemma4TextConfig& config);

struct BoundWeight {
  WeightSpec spec;
  std::string checkpoint_name;  // full name in the checkpoint ("<module>.weight" for quantized layers too)
  TensorView view;              // the dense tensor; for a quantized layer, its packed weight
  std::shared_ptr<const QuantizedLinear> quantized;  // set when compressed-tensors quantized this Linear
};

// Every nn.Linear of the text decoder (module name = tensor name without ".weight"): what
// compressed-tensors' "Linear" target matches. MoE experts are plain parameters, not Linear modules.
bool is_linear_weight(const WeightSpec& spec);

struct SkippedTensor {
  std::string checkpoint_name;
  std::string component;  // "vision", "audio", "embed_vision", "embed_audio", "lm_head_tied_duplicate", "kv_shared_unused"
  TensorView view;
};

struct Gemma4Weights {
  std::string prefix;  // "model.language_model." or "model."
  std::optional<QuantizationConfig> quantization;  // parsed quantization_config, when present
  std::vector<BoundWeight> weights;
  std::vector<SkippedTensor> skipped;
  std::map<std::string, std::size_t> by_name;  // relative name -> index in weights

  const TensorView& get(const std::string& name) const;  // relative name; throws when unbound
};

// The weight as fp32 [shape], row-major, whatever its storage: BF16/F16/F32 are widened exactly;
// quantized matmuls (compressed-tensors, once the quant layer binds them) are dequantized here. The
// forward passes call this one function layer by layer, so no full fp32 copy of a model is needed.
std::vector<float> weight_to_f32(const BoundWeight& weight);

// Throws qg::Error naming the checkpoint file and tensor for a missing, misshapen, wrongly typed or
// unexpected tensor.
Gemma4Weights bind_gemma4_weights(const Checkpoint& checkpoint, const Gemma4Config& config);

}  // namespace qg
