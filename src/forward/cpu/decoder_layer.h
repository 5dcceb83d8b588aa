#pragma once
// One Gemma 4 decoder layer on one sequence (gemma4-text.md §7-§11, residual order §9).
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "forward/cpu/cpu_weights.h"
#include "forward/cpu/eigen.h"
#include "forward/cpu/rope.h"
#include "forward/cpu/thread_pool.h"
#include "model/gemma4_config.h"

namespace qg::cpu {

// What a sequence carries from layer to layer.
struct SequenceState {
  std::size_t sequence = 0;         // index in the batch (for the activation hook)
  std::int64_t first_position = 0;  // absolute position of row 0 (the length of a reused prefix)
  Matrix x;                         // the residual stream [n, d_model]
  Matrix ple;                       // per-layer inputs [n, n_layers * d_ple] (PLE models only)
  // K/V of each layer that computes its own (KV-shared layers read their source's), for positions
  // [0, first_position + n): rows before first_position are the prefix's. [positions, n_kv_heads * d_head],
  // K after k_norm + RoPE, V after the weightless v_norm.
  std::vector<Matrix> k, v;
};

struct LayerContext {
  const Gemma4TextConfig& config;
  const RopeTable& rope;  // this layer type's table for the sequence's positions
  ThreadPool& pool;
  // Receives (activation name, value [n, width]); may be empty.
  std::function<void(std::string_view, const Matrix&)> emit;
};

void decoder_layer(int layer, const LayerWeights& w, const LayerContext& ctx, SequenceState& s);

}  // namespace qg::cpu
