#pragma once
// The writer side of the compact reference cache on the GPU (`kl --save-ref-cache FILE --device cuda`): the
// compact rows of metrics::compact_ref_row (its CPU reference) for reference logit rows already in GPU memory, so
// only 8K + 52 bytes a token go to the host instead of 4 x n_vocab. Top-K by CUB's stable segmented sort of
// (logit, id) pairs, descending (stable: the lowest id first on ties, -0.0 canonicalized to +0.0 so ties are the
// host's `==` ties); then one block per row: logsumexp, full and tail sum p log p, tail mass (the host's
// rank test against the K-th (logit, id)), NLL and p of the next token, top-1, in double with fixed-order block
// reductions. A row holding inf/NaN gives NaN stats (the caller checks and names the row).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace qg::cuda {

// Device workspace bytes compact_ref_rows needs for `rows` rows of `n_vocab`.
std::size_t compact_ref_rows_workspace_bytes(std::int64_t rows, std::int64_t n_vocab);

// rows: [n_rows] rows of n_vocab fp32 at rows + r * stride; next[r] in [0, n_vocab) (device). Outputs (device):
// topk_ids/topk_logits [n_rows, k], stats [n_rows, 6] (lse, neg_entropy, tail_plogp, p_tail, nll, p_next),
// top1 [n_rows]. Throws qg::Error for bad sizes, a too-small workspace or a CUDA failure.
void compact_ref_rows(const float* rows, std::int64_t stride, const std::int32_t* next, std::int64_t n_rows,
                      std::int64_t k, std::int64_t n_vocab, void* workspace, std::size_t workspace_bytes,
                      std::int32_t* topk_ids, float* topk_logits, double* stats, std::int32_t* top1, cudaStream_t stream);

}  // namespace qg::cuda
