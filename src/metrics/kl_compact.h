#pragma once
// The maths of the compact reference cache (`kl --save-ref-cache FILE`, evals/kl_compact_cache.h): what is kept
// of one reference logit row, and the per-token comparison of a candidate row with it.
//
// Kept per scored token (about 2 KiB at K = 256 instead of 1 MiB of fp32 logits at a 262144 vocabulary):
//   lse        logsumexp of the reference row (double, exactly as token_kl_ref computes it)
//   top-K      ids (descending logit, lowest id first on ties) and their fp32 logits: log p_i = logit_i - lse
//              is then bit for bit what token_kl_ref uses
//   neg_entropy  sum_i p_i log p_i over the full vocabulary; tail_plogp the same over the ids outside the top-K;
//   p_tail       sum_i p_i outside the top-K (both summed directly in id order, not as differences)
//   nll, p_next  -log p(next) and p(next) of the true next token, top1: exactly token_kl_ref's values
//
// With the candidate row q in hand, everything but the KLs is exact (NLL, p and top-1 of both, delta p), and
//   KL(P||Q) = sum_{i in K} p_i (log p_i - log q_i)  [exact]  +  tail_plogp - sum_{i not in K} p_i log q_i
// where only the last sum is unknown. Tail estimates (q_tail, S = sum_tail q_i log q_i from the candidate):
//   kLogSum:       p_tail log(p_tail / q_tail)                     (log-sum inequality: a LOWER bound of the tail)
//   kProportional: tail_plogp - (p_tail / q_tail) S                (p_i ~= p_tail q_i / q_tail on the tail)
//   kChainRule:    p_tail log(p_tail / q_tail) + p_tail KL(P|top-K || Q|top-K): KL's chain rule over {top-K, tail}
//                  with the tail's conditional KL taken equal to the top-K's (measured in this row)
// each clamped into [lower, upper] with upper = tail_plogp - p_tail min_tail(log q_i) (rigorous).
// Both bounds are returned, so a run reports a rigorous interval for its mean KL too.
// Reverse KL(Q||P) needs p on the tail: reported as the exact top-K part plus q_tail log(q_tail / p_tail), the
// log-sum lower bound of the tail (and what kProportional's assumption gives): APPROXIMATE, never above the truth.
// When K covers the whole vocabulary the tail is empty and both KLs are exact (up to summation order).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "metrics/kl.h"

namespace qg::metrics {

enum class KlTailMethod { kProportional, kLogSum, kChainRule };
std::string kl_tail_method_name(KlTailMethod m);  // "proportional" | "log-sum" | "chain-rule"
KlTailMethod parse_kl_tail_method(const std::string& name);  // throws qg::Error for other names

struct CompactRefScalars {
  double lse = 0, neg_entropy = 0, tail_plogp = 0, p_tail = 0, nll = 0, p_next = 0;
  std::int32_t top1 = 0;
};
inline constexpr int kCompactScalarCount = 6;  // the doubles above, in this order (the cache's `stats` rows)

// One compact reference row.
struct CompactRefRow {
  CompactRefScalars s;
  std::span<const std::int32_t> ids;  // top-K ids, descending logit, lowest id first on ties
  std::span<const float> logits;      // their fp32 logits
};

// Fills `top_ids`/`top_logits` (K = their size, 1 <= K <= n_vocab) and returns the scalars of one reference row.
// `scratch` is reused between calls. Throws qg::Error when the row holds inf/NaN (the caller names the row).
CompactRefScalars compact_ref_row(std::span<const float> ref_logits, std::int32_t next, std::span<std::int32_t> top_ids,
                                  std::span<float> top_logits, std::vector<std::int32_t>& scratch);

struct CompactTokenKl {
  TokenKl t;                  // kl is the estimate (method), kl_reverse approximate (see above)
  double p_tail = 0, q_tail = 0;  // mass outside the reference's top-K under each model
  double kl_lower = 0, kl_upper = 0;  // rigorous bounds of t.kl's true value
};

// `in_top` is scratch of n_vocab bytes, all 0 on entry and on return.
CompactTokenKl token_kl_compact(const CompactRefRow& ref, std::span<const float> cand_logits, std::int32_t next,
                                KlTailMethod method, std::vector<std::uint8_t>& in_top);

}  // namespace qg::metrics
