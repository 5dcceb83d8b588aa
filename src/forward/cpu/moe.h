#pragma once
// The routed mixture of experts of Gemma 4 MoE models (gemma4-text.md §11): softmax router, top-k,
// renormalised, times per_expert_scale; experts with a packed [gate; up] projection.
#include <cstdint>
#include <vector>

#include "forward/cpu/eigen.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

struct Routing {
  std::int64_t top_k = 0;
  std::vector<std::int32_t> expert;  // [n_tokens, top_k], by descending router probability
  std::vector<float> weight;  // [n_tokens, top_k]: renormalised over the top k, then * per_expert_scale
};

// z = RMSNorm_noweight(r) * scale * d_model^-0.5 (products rounded in that order), logits = proj · z;
// softmax over all experts -> top_k -> divide by their sum -> * per_expert_scale[expert]. The softmax
// and renormalisation are one step in double (the full softmax's denominator cancels).
// r: [n, d_model]; router_proj: [n_experts, d_model].
Routing route(ConstMatrixRef r, const float* router_scale, ConstMatrixRef router_proj,
              const float* per_expert_scale, std::int64_t top_k, double eps, ThreadPool& pool);

// out[t] = sum over the token's experts e, in ascending e (transformers' index_add_ order), of
// w[t, e] * down_e · (gelu_tanh(gate_e · u[t]) ⊙ (up_e · u[t])), where gate_up_e's rows are [gate; up].
// gate_up: [n_experts, 2 * d_expert, d_model]; down: [n_experts, d_model, d_expert]; u: [n, d_model].
Matrix experts(ConstMatrixRef u, const Routing& routing, const float* gate_up, const float* down,
               std::int64_t n_experts, std::int64_t d_expert, ThreadPool& pool);

}  // namespace qg::cpu
