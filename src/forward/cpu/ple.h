#pragma once
// Per-Layer Embeddings of E2B/E4B-style models (gemma4-text.md §5).
#include <cstdint>

#include "forward/cpu/eigen.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

// The model-level per-layer inputs [n, n_layers * d_ple] (layer-major columns, like the packed table):
//   tok = E_ple[ids] * sqrt(d_ple)
//   ctx = RMSNorm_w((W_proj · e) * d_model^-0.5, per layer slice of d_ple; projection_norm)   (scale first)
//   ple = (ctx + tok) * 2^-0.5
// e: the SCALED main embedding [n, d_model]; ple_rows: E_ple[ids] as stored (unscaled) [n, n_layers * d_ple];
// projection: per_layer_model_projection [n_layers * d_ple, d_model]; projection_norm: [d_ple], shared by all
// layers.
Matrix ple_inputs(ConstMatrixRef e, ConstMatrixRef ple_rows, ConstMatrixRef projection,
                  const float* projection_norm, std::int64_t d_ple, double eps, ThreadPool& pool);

// The branch at the end of a decoder layer (after the FFN residual add, before layer_scalar):
//   x += RMSNorm_w(W_proj · (gelu_tanh(W_gate · x) ⊙ ple_layer); post_norm)
// ple_layer: this layer's [n, d_ple] slice of ple_inputs; gate: [d_ple, d_model]; projection: [d_model,
// d_ple].
void ple_branch(MatrixRef x, ConstMatrixRef ple_layer, ConstMatrixRef gate, ConstMatrixRef projection,
                const float* post_norm, double eps, ThreadPool& pool);

}  // namespace qg::cpu
