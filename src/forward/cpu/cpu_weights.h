#pragma once
// fp32 weights for the CPU reference. Every weight's values come from weight_to_f32 (the one function
// that also dequantizes compressed-tensors matmuls), one decoder layer at a time, so a model larger than
// memory-in-fp32 runs; when the whole layer stack fits `cache_bytes` it is converted once and kept.
// Token tables (embed_tokens, embed_tokens_per_layer, an untied lm_head) are read row by row instead.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "forward/cpu/eigen.h"
#include "forward/forward.h"
#include "model/gemma4_weights.h"

namespace qg::cpu {

// One weight widened to fp32, row-major in its checkpoint shape.
struct F32Weight {
  Shape shape;
  std::vector<float> data;

  bool empty() const { return data.empty(); }
  ConstMatrixMap matrix() const;                   // a 2-D weight [out, in]
  ConstMatrixMap slice(std::int64_t index) const;  // matrix `index` of a 3-D [n, rows, cols] weight (experts)
  const float* vector() const;                     // a 1-D weight
};

// `name` relative to the text prefix ("layers.3.mlp.up_proj.weight"); throws naming it when not bound.
F32Weight load_f32(const Gemma4Weights& weights, const std::string& name);

struct LayerWeights {
  F32Weight input_norm, post_attention_norm, pre_ffn_norm, post_ffn_norm;  // [d_model]
  float layer_scalar = 1.0f;
  F32Weight q_proj, q_norm, o_proj;
  F32Weight k_proj, v_proj, k_norm;  // empty on KV-shared layers; v_proj also empty with attention_k_eq_v
  F32Weight gate_proj, up_proj, down_proj;
  // MoE layers only.
  F32Weight router_proj, router_scale, router_per_expert_scale;
  F32Weight experts_gate_up,
      experts_down;  // [n_experts, 2 * d_expert, d_model], [n_experts, d_model, d_expert]
  F32Weight post_ffn_norm_1, pre_ffn_norm_2, post_ffn_norm_2;
  // PLE models only.
  F32Weight ple_gate, ple_projection, post_ple_norm;
};

struct GlobalWeights {
  F32Weight final_norm;
  F32Weight ple_model_projection, ple_projection_norm;  // PLE models only
};

// Row access to a token table [rows, cols] without an fp32 copy of it: BF16/F16/F32 rows are widened on
// demand from the checkpoint. Any other storage (a quantized table) is converted once, whole, through
// weight_to_f32. With keep_f32 the table is converted once and kept (fast head for small models).
class TableRows {
 public:
  TableRows(const BoundWeight& weight, bool keep_f32);
  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  const std::string& name() const { return name_; }
  void copy_rows(std::int64_t first, std::int64_t count, float* out) const;  // out: [count, cols]
  void gather(TokenSpan ids, float* out) const;                              // out: [ids.size(), cols]
  const float* f32() const { return f32_.empty() ? nullptr : f32_.data(); }  // whole table, when kept

 private:
  TensorView view_;
  std::string name_;
  std::int64_t rows_ = 0, cols_ = 0;
  std::vector<float> f32_;
};

class WeightStore {
 public:
  WeightStore(const Gemma4Weights& weights, const Gemma4TextConfig& config, std::uint64_t cache_bytes);

  // The layer's weights: the cached copy, or freshly converted (freed when the caller lets go).
  std::shared_ptr<const LayerWeights> layer(int index) const;
  const GlobalWeights& globals() const { return globals_; }
  const TableRows& embedding() const { return *embedding_; }
  const TableRows& head() const { return head_ ? *head_ : *embedding_; }  // tied: the embedding
  const TableRows* ple_table() const { return ple_table_.get(); }
  bool layers_cached() const { return !cache_.empty(); }

 private:
  const Gemma4Weights& weights_;
  const Gemma4TextConfig& config_;
  GlobalWeights globals_;
  std::unique_ptr<TableRows> embedding_, head_, ple_table_;
  std::vector<std::shared_ptr<const LayerWeights>> cache_;
};

}  // namespace qg::cpu
