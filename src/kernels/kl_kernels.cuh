#pragma once
// Per-token KL between reference and candidate logit rows on the GPU: the maths of metrics/kl.h
// (token_kl_ref, its CPU reference) for rows that are already in GPU memory, so `quantgate kl --device cuda`
// never copies [rows, n_vocab] logits to the host. One block per row; max/argmax in fp32 (lowest id on ties),
// logsumexp, KL, reverse KL, NLLs in double, as token_kl_ref, with fixed-order block reductions: the same
// rows give the same bits run to run, and identical rows give exactly 0.
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

struct TokenKlRow {  // mirrors metrics::TokenKl
  double kl, kl_reverse, nll_ref, nll_cand, p_ref, p_cand;
  std::int32_t top1_ref, top1_cand;
};

// ref: rows of `n_vocab` fp32 at ref + r * ref_stride; cand likewise; next[r]: the true next token (device
// int32, in [0, n_vocab)); out[r] (device). Throws qg::Error for bad sizes or a launch failure.
void token_kl_rows(const float* ref, std::int64_t ref_stride, const float* cand, std::int64_t cand_stride,
                   const std::int32_t* next, std::int64_t rows, std::int64_t n_vocab, TokenKlRow* out,
                   cudaStream_t stream);

}  // namespace qg::cuda
