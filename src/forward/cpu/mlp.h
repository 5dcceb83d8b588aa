#pragma once
// Gemma 4's gated MLP (gemma4-text.md §10) and its activation.
#include "forward/cpu/eigen.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

// gelu_pytorch_tanh: 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))), evaluated in double, rounded once.
float gelu_tanh(float z);

// In place: gate[i] = gelu_tanh(gate[i]) * up[i], the product rounded to fp32 as torch does.
void gelu_tanh_mul(MatrixRef gate, ConstMatrixRef up);

// down · (gelu_tanh(gate · x) ⊙ (up · x)), no biases. x: [n, d_model] -> [n, d_model].
Matrix dense_mlp(ConstMatrixRef x, ConstMatrixRef gate_proj, ConstMatrixRef up_proj, ConstMatrixRef down_proj,
                 ThreadPool& pool);

}  // namespace qg::cpu
