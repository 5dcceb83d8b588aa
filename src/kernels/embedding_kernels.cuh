#pragma once
// Token-table lookups on the GPU (gemma4-text.md §4, §5). Tables are bf16 on the device [rows, width].
// Host references: kernels/ref/embedding_ref.h.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

// out[r, :] = f32(table[ids[r], :]) * scale   (the scaled main embedding, fp32 residual stream)
void embed_rows(const __nv_bfloat16* table, std::int64_t width, const std::int32_t* ids, std::int64_t rows,
                float scale, float* out, cudaStream_t stream);

// The model-level PLE combine of §5, in fp32, as forward/cpu/ple.cpp computes it:
//   c   = ctx[r, l, :] * ctx_scale                         (ctx = per_layer_model_projection · e, [rows, L*P])
//   c   = rms_norm(c; norm_w)                              (over P, one weight [P] for all layers)
//   out = (c + f32(table[ids[r], l*P : (l+1)*P]) * token_scale) * combine_scale
// ctx_scale = H^-0.5, token_scale = sqrt(P), combine_scale = 2^-0.5 (fp32 values, passed by the caller).
void ple_combine(const float* ctx, const __nv_bfloat16* table, const std::int32_t* ids, const float* norm_w,
                 std::int64_t rows, std::int64_t n_layers, std::int64_t d_ple, float ctx_scale, float token_scale,
                 float combine_scale, float eps, float* out, cudaStream_t stream);

}  // namespace qg::cuda
