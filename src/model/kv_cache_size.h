#pragma once
// K/V cache bytes a server holds for one sequence (the model card's Memory Requirements row), computed from
// the config alone:
//
//   bytes(T) = sum over layers that own K/V of  2 (K and V) * n_kv_heads * d_head * bytes_per_element * held(T)
//   held(T)  = min(T, sliding_window) on sliding layers, T on full-attention layers
//
// KV-shared layers (num_kv_shared_layers) read another layer's cache and add nothing; full layers use their own
// head dim and kv-head count (global_head_dim, num_global_key_value_heads with attention_k_eq_v, where V is still
// stored: it is a different tensor from K). bytes_per_element: 1 for an fp8 cache, 2 for bf16/fp16. Block
// rounding and allocator overheads of a particular server are not included.
#include <cstdint>

#include "model/gemma4_config.h"

namespace qg {

std::uint64_t kv_cache_bytes(const Gemma4TextConfig& config, std::int64_t tokens, int bytes_per_element);

}  // namespace qg
