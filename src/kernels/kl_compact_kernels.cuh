#pragma once
// The compact-reference-cache comparison on the GPU (`quantgate kl --ref-cache FILE --device cuda`): the maths of
// metrics::token_kl_compact (its CPU reference) for candidate rows already in GPU memory, so only the compact
// reference (8K + 52 bytes a token) goes up and 72 bytes a token come back. One block per row: the reference's
// top-K ids marked in a shared-memory bitmap (n_vocab bits: 32 KiB at 262144), max/argmax of the candidate row in
// fp32 (lowest id on ties), logsumexp, the tail sums (q_tail, sum q log q, min log q) over unmarked ids and the
// exact top-K terms, all in double with fixed-order block reductions (same bits run to run).
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

struct CompactKlRow {  // mirrors metrics::CompactTokenKl (the reference-side fields come from the cache)
  double kl, kl_reverse, nll_cand, p_cand, q_tail, kl_lower, kl_upper;
  std::int32_t top1_cand, pad;
};

// cand: rows of n_vocab fp32 at cand + r * cand_stride; topk_ids/topk_logits: [rows, k]; stats: [rows, 6] as
// metrics::kCompactScalarCount (lse, neg_entropy, tail_plogp, p_tail, nll, p_next); next[r] in [0, n_vocab);
// method: 0 proportional, 1 log-sum, 2 chain-rule (metrics::KlTailMethod's order). All pointers device. Throws qg::Error for bad sizes
// (1 <= k <= n_vocab, n_vocab <= 352256 for the bitmap) or a launch failure.
void compact_kl_rows(const float* cand, std::int64_t cand_stride, const std::int32_t* topk_ids, const float* topk_logits,
                     const double* stats, const std::int32_t* next, std::int64_t rows, std::int64_t k,
                     std::int64_t n_vocab, int method, CompactKlRow* out, cudaStream_t stream);

}  // namespace qg::cuda
