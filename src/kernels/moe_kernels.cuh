#pragma once
// MoE routing and expert dispatch helpers (gemma4-text.md §11), fp32 router. The per-expert GEMMs run
// through cuBLAS in the engine; these kernels prepare their inputs and combine their outputs.
// Host references: kernels/ref/moe_ref.h.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

// z[r, :] = (rms_norm_noweight(x[r, :]) * scale[:]) * root_size, fp32 (the router input; root_size = H^-0.5)
void router_input(const float* x, const float* scale, std::int64_t rows, std::int64_t width, float eps,
                  float root_size, float* z, cudaStream_t stream);
// Per row of logits [rows, n_experts]: top-k experts by logit (ties: lower index first), softmax over the
// k chosen only (equal to softmax over all then renormalising), times per_expert_scale[e]; the same maths and
// order as forward/cpu/moe.cpp route(). expert [rows, k] int32, weight [rows, k] fp32.
void router_top_k(const float* logits, std::int64_t rows, int n_experts, int k, const float* per_expert_scale,
                  std::int32_t* expert, float* weight, cudaStream_t stream);
// dst[i, :] = src[index[i], :] for i < n (bf16 rows of `width`)
void gather_rows(const __nv_bfloat16* src, std::int64_t width, const std::int32_t* index, std::int64_t n,
                 __nv_bfloat16* dst, cudaStream_t stream);
// dst[index[i], :] += src[i, :] * weight[i] for i < n, fp32. `index` must not repeat within one call (the
// engine calls it once per expert, experts in ascending order, so each token sums its experts in the
// same order as the CPU reference).
void scatter_add_rows(const float* src, std::int64_t width, const std::int32_t* index, const float* weight,
                      std::int64_t n, float* dst, cudaStream_t stream);

}  // namespace qg::cuda
