#pragma once
// Token embedding and the tied (or separate) LM head with the final softcap (gemma4-text.md §4, §12).
#include <cstdint>
#include <optional>

#include "common/dtype.h"
#include "forward/cpu/cpu_weights.h"
#include "forward/cpu/eigen.h"
#include "forward/cpu/thread_pool.h"
#include "forward/forward.h"

namespace qg::cpu {

// transformers' embed-scale rule: sqrt(dim) is an fp32 tensor cast to the dtype the model runs in before
// the multiply, so it depends on that dtype (E4B: 50.596443 in fp32, 50.5 in bf16, 50.59375 in fp16).
// The CPU reference runs in fp32 and matches an fp32 transformers run, so it passes kF32.
float embed_scale(std::int64_t dim, DType activation_dtype);

// x[i] = table[ids[i]] * scale, one fp32 product per element. -> [ids.size(), cols]
Matrix embed(const TableRows& table, TokenSpan ids, float scale);

// logits = h · tableᵀ, then c·tanh(logits / c) when softcap c is set. h: [n, d_model]; logits: [n, rows].
// Works over vocabulary slabs, widening each slab from the checkpoint unless the table is kept in fp32.
void lm_head(ConstMatrixRef h, const TableRows& table, std::optional<double> softcap, MatrixRef logits,
             ThreadPool& pool);

}  // namespace qg::cpu
