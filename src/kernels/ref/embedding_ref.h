#pragma once
// Host references of kernels/embedding_kernels.cuh. Tables are bf16 bit patterns [rows, width], row-major.
#include <cstdint>
#include <vector>

namespace qg::cuda::ref {

// out[r, :] = f32(table[ids[r], :]) * scale  -> [ids.size(), width]
std::vector<float> embed_rows_ref(const std::vector<std::uint16_t>& table, std::int64_t width,
                                  const std::vector<std::int32_t>& ids, float scale);

// The PLE combine of forward/cpu/ple.cpp's ple_inputs after its projection GEMM: ctx [rows, L*P] (the
// projection's output), table [vocab, L*P] bf16, norm_w [P] -> [rows, L*P]:
//   out = (rms_norm(ctx * ctx_scale; norm_w) + f32(table[ids[r]]) * token_scale) * combine_scale
std::vector<float> ple_combine_ref(const std::vector<float>& ctx, const std::vector<std::uint16_t>& table,
                                   const std::vector<std::int32_t>& ids, const std::vector<float>& norm_w,
                                   std::int64_t n_layers, std::int64_t d_ple, float ctx_scale, float token_scale,
                                   float combine_scale, float eps);

}  // namespace qg::cuda::ref
