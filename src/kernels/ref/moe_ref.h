#pragma once
// Host references of kernels/moe_kernels.cuh (MoE routing and expert dispatch, gemma4-text.md §11), written
// to mirror forward/cpu/moe.cpp route() operation by operation; checked against it in
// tests/kernels/moe_ref_test.cpp.
#include <cstdint>
#include <vector>

namespace qg::cuda::ref {

// z[r, :] = ((x[r, :] * inv_rms) * scale[:]) * root_size, inv_rms = fp32(1 / sqrt(mean_double(x²) + eps)).
std::vector<float> router_input_ref(const std::vector<float>& x, const std::vector<float>& scale, std::int64_t rows,
                                    std::int64_t width, float eps, float root_size);

struct TopKRouting {
  std::vector<std::int32_t> expert;  // [rows, k], by descending logit, ties to the lower index
  std::vector<float> weight;         // [rows, k]
};
// route()'s selection and weights from given logits [rows, n_experts]: softmax over the chosen k in double
// (exp(l - max) / sum, summed in rank order), rounded to fp32, then * per_expert_scale[e] in fp32.
TopKRouting router_top_k_ref(const std::vector<float>& logits, std::int64_t rows, int n_experts, int k,
                             const std::vector<float>& per_expert_scale);

// dst[i, :] = src[index[i], :] (bf16 bit patterns).
std::vector<std::uint16_t> gather_rows_ref(const std::vector<std::uint16_t>& src, std::int64_t width,
                                           const std::vector<std::int32_t>& index);

// Returns dst with dst[index[i], :] += src[i, :] * weight[i]: the fp32 product rounded, then the fp32 add.
std::vector<float> scatter_add_rows_ref(const std::vector<float>& src, std::int64_t width,
                                        const std::vector<std::int32_t>& index, const std::vector<float>& weight,
                                        std::vector<float> dst);

}  // namespace qg::cuda::ref
