#pragma once
// Per-token comparison of a candidate's next-token distribution with its reference's, over one pair of
// logit rows: the math `quantgate kl` reports. This is the seam for the CUDA path: a fused kernel reading
// each row once must reproduce token_kl_ref (its CPU reference) to the tolerance in tests/metrics.
//
//   log p_i = r_i - logsumexp(r)   (max subtracted; sums in double; full vocab, no tail cut-off)
//   KL(P||Q)        = sum_i p_i (log p_i - log q_i)
//   KL(Q||P)        = sum_i q_i (log q_i - log p_i)
//   NLL             = -log p_t, -log q_t for the true next token t
//   delta p         = q_t - p_t
//   top-1           = argmax (lowest id on ties) of each row; same_top1 when equal
#include <cstdint>
#include <span>

namespace qg::metrics {

struct TokenKl {
  double kl = 0;          // KL(P_ref || Q_cand), nats
  double kl_reverse = 0;  // KL(Q_cand || P_ref), nats
  double nll_ref = 0;     // -log p_ref(next)
  double nll_cand = 0;    // -log q_cand(next)
  double p_ref = 0;       // p_ref(next)
  double p_cand = 0;      // q_cand(next)
  std::int32_t top1_ref = 0, top1_cand = 0;
  bool same_top1() const { return top1_ref == top1_cand; }
  double delta_p() const { return p_cand - p_ref; }
};

// ref_logits and cand_logits: one row each, [n_vocab] fp32 (after the final softcap); next in
// [0, n_vocab). Identical rows give exactly 0 for both KLs. Non-finite logits give non-finite results
// (callers check). QG_ASSERTs equal non-zero sizes and next in range.
TokenKl token_kl_ref(std::span<const float> ref_logits, std::span<const float> cand_logits, std::int32_t next);

// logsumexp (max subtracted, exp sum in double, in id order) and argmax (lowest id on ties) of one row: the
// building block of token_kl_ref and of the compact reference cache's maths (metrics/kl_compact.h), which must
// agree with it bit for bit.
struct RowStats {
  double lse = 0;
  std::int32_t top1 = 0;
};
RowStats row_stats_ref(std::span<const float> row);

// log-softmax of one row in double (max subtraction), the building block above.
void log_softmax_ref(std::span<const float> logits, std::span<double> out);

}  // namespace qg::metrics
