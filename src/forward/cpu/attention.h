#pragma once
// Causal (and sliding-window) multi-head attention with grouped K/V heads, scale 1.0 and no softcap
// (gemma4-text.md §7: q_norm/k_norm replace 1/sqrt(d)).
#include <cstdint>

#include "forward/cpu/eigen.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

struct AttentionShape {
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t d_head = 0;
  std::int64_t window = 0;  // sliding layers: a query sees itself and window-1 earlier keys; 0 = full causal
};

// q: [n_q, n_heads * d_head], query row i at absolute position first_position + i.
// k, v: [n_k, n_kv_heads * d_head], key row j at position j (the cache starts at position 0); n_k must
// cover every query's position. Query head h reads kv head h / (n_heads / n_kv_heads) (contiguous groups,
// transformers' repeat_kv). Key j is visible to a query at position p iff j <= p, and for sliding layers
// also p - j < window. Softmax in double with max subtraction; the two matrix products in fp32.
// out: [n_q, n_heads * d_head].
void attention(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, std::int64_t first_position,
               const AttentionShape& shape, MatrixRef out, ThreadPool& pool);

}  // namespace qg::cpu
