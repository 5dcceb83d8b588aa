#pragma once
// RMSNorm as transformers' Gemma4RMSNorm (gemma4-text.md §6).
#include <cstdint>

namespace qg::cpu {

// Normalises each of `n_rows` contiguous rows of `width` values: y = x * (mean(x²) + eps)^(-1/2), then
// y *= w when `weight` is given (w, NOT 1 + w: Gemma 4 stores the scale itself). `weight` null is the
// weightless norm (v_norm, router.norm). The mean is accumulated in double; the two products are
// rounded to fp32 one after the other, as torch evaluates them. `out` may equal `x`.
void rms_norm(const float* x, std::int64_t n_rows, std::int64_t width, const float* weight, double eps,
              float* out);

}  // namespace qg::cpu
