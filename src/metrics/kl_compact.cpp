#include "metrics/kl_compact.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/check.h"
#include "common/error.h"

namespace qg::metrics {

std::string kl_tail_method_name(KlTailMethod m) {
  return m == KlTailMethod::kLogSum ? "log-sum" : m == KlTailMethod::kChainRule ? "chain-rule" : "proportional";
}

KlTailMethod parse_kl_tail_method(const std::string& name) {
  if (name == "proportional") return KlTailMethod::kProportional;
  if (name == "log-sum") return KlTailMethod::kLogSum;
  if (name == "chain-rule") return KlTailMethod::kChainRule;
  throw Error(fmt::format("KL tail method '{}': expected proportional, log-sum or chain-rule", name));
}

CompactRefScalars compact_ref_row(std::span<const float> ref_logits, std::int32_t next, std::span<std::int32_t> top_ids,
                                  std::span<float> top_logits, std::vector<std::int32_t>& scratch) {
  const auto n_vocab = static_cast<std::int64_t>(ref_logits.size());
  const auto k = static_cast<std::int64_t>(top_ids.size());
  QG_CHECK(k >= 1 && k <= n_vocab && top_logits.size() == top_ids.size(), "compact_ref_row: K {} of {} ids", k,
           n_vocab);
  QG_CHECK(next >= 0 && next < n_vocab, "compact_ref_row: next token {} of {}", next, n_vocab);
  for (float v : ref_logits)
    if (!std::isfinite(v)) throw Error("the reference produced an inf/NaN logit");
  const RowStats r = row_stats_ref(ref_logits);
  // Rank: higher logit first, lower id first on ties (a strict total order, so the top-K set is unique).
  auto before = [&](std::int32_t a, std::int32_t b) {
    const float la = ref_logits[static_cast<std::size_t>(a)], lb = ref_logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  scratch.resize(static_cast<std::size_t>(n_vocab));
  std::iota(scratch.begin(), scratch.end(), 0);
  std::nth_element(scratch.begin(), scratch.begin() + (k - 1), scratch.end(), before);
  std::sort(scratch.begin(), scratch.begin() + k, before);
  for (std::int64_t j = 0; j < k; ++j) {
    top_ids[static_cast<std::size_t>(j)] = scratch[static_cast<std::size_t>(j)];
    top_logits[static_cast<std::size_t>(j)] = ref_logits[static_cast<std::size_t>(scratch[static_cast<std::size_t>(j)])];
  }
  const std::int32_t kth = scratch[static_cast<std::size_t>(k - 1)];
  CompactRefScalars s;
  s.lse = r.lse;
  s.top1 = r.top1;
  // Sums in id order (the candidate side sums its tail in the same order, so identical models cancel exactly).
  for (std::int64_t i = 0; i < n_vocab; ++i) {
    const double lp = static_cast<double>(ref_logits[static_cast<std::size_t>(i)]) - r.lse;
    const double plogp = std::exp(lp) * lp;
    s.neg_entropy += plogp;
    if (k < n_vocab && before(kth, static_cast<std::int32_t>(i))) {  // ranked after the K-th: in the tail
      s.tail_plogp += plogp;
      s.p_tail += std::exp(lp);
    }
  }
  s.nll = r.lse - static_cast<double>(ref_logits[static_cast<std::size_t>(next)]);  // as token_kl_ref
  s.p_next = std::exp(-s.nll);
  return s;
}

CompactTokenKl token_kl_compact(const CompactRefRow& ref, std::span<const float> cand_logits, std::int32_t next,
                                KlTailMethod method, std::vector<std::uint8_t>& in_top) {
  const auto n_vocab = static_cast<std::int64_t>(cand_logits.size());
  const auto k = static_cast<std::int64_t>(ref.ids.size());
  QG_CHECK(k >= 1 && k <= n_vocab && ref.logits.size() == ref.ids.size(), "token_kl_compact: K {} of {} ids", k,
           n_vocab);
  QG_CHECK(next >= 0 && next < n_vocab, "token_kl_compact: next token {} of {}", next, n_vocab);
  in_top.resize(static_cast<std::size_t>(n_vocab), 0);
  const RowStats c = row_stats_ref(cand_logits);
  // The exact part: the reference's top-K, in rank order; every term is token_kl_ref's term bit for bit.
  double kl_top = 0, rev_top = 0, p_top = 0, q_top = 0;
  for (std::int64_t j = 0; j < k; ++j) {
    const std::int32_t id = ref.ids[static_cast<std::size_t>(j)];
    QG_CHECK(id >= 0 && id < n_vocab, "token_kl_compact: cached id {} of {}", id, n_vocab);
    in_top[static_cast<std::size_t>(id)] = 1;
    const double lp = static_cast<double>(ref.logits[static_cast<std::size_t>(j)]) - ref.s.lse;
    const double lq = static_cast<double>(cand_logits[static_cast<std::size_t>(id)]) - c.lse;
    const double d = lp - lq;
    kl_top += std::exp(lp) * d;
    rev_top -= std::exp(lq) * d;
    p_top += std::exp(lp);
    q_top += std::exp(lq);
  }
  // The candidate's tail, in id order (as compact_ref_row sums the reference's).
  double q_tail = 0, s_tail = 0, min_lq = std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n_vocab; ++i) {
    if (in_top[static_cast<std::size_t>(i)]) continue;
    const double lq = static_cast<double>(cand_logits[static_cast<std::size_t>(i)]) - c.lse;
    const double q = std::exp(lq);
    q_tail += q;
    s_tail += q * lq;
    min_lq = std::min(min_lq, lq);
  }
  for (std::int64_t j = 0; j < k; ++j) in_top[static_cast<std::size_t>(ref.ids[static_cast<std::size_t>(j)])] = 0;

  CompactTokenKl out;
  out.p_tail = ref.s.p_tail;
  out.q_tail = q_tail;
  double kl_tail = 0, rev_tail = 0, lower = 0, upper = 0;
  if (k < n_vocab && ref.s.p_tail > 0) {
    lower = ref.s.p_tail * std::log(ref.s.p_tail / q_tail);
    // sum_tail p_i log q_i >= p_tail min_tail log q_i
    upper = ref.s.tail_plogp - ref.s.p_tail * min_lq;
    if (method == KlTailMethod::kLogSum) {
      kl_tail = lower;
    } else if (method == KlTailMethod::kChainRule) {
      // kl_top = p_top log(p_top / q_top) + p_top KL(P|top || Q|top)
      const double conditional = (kl_top - p_top * std::log(p_top / q_top)) / p_top;
      kl_tail = std::clamp(lower + ref.s.p_tail * std::max(0.0, conditional), lower, std::max(lower, upper));
    } else {
      const double proportional = ref.s.tail_plogp - ref.s.p_tail / q_tail * s_tail;
      kl_tail = std::clamp(proportional, lower, std::max(lower, upper));
    }
    rev_tail = q_tail * std::log(q_tail / ref.s.p_tail);
  }
  out.kl_lower = kl_top + lower;
  out.kl_upper = kl_top + std::max(lower, upper);
  TokenKl& t = out.t;
  t.kl = kl_top + kl_tail;
  t.kl_reverse = rev_top + rev_tail;
  t.nll_ref = ref.s.nll;
  t.p_ref = ref.s.p_next;
  t.nll_cand = c.lse - static_cast<double>(cand_logits[static_cast<std::size_t>(next)]);  // as token_kl_ref
  t.p_cand = std::exp(-t.nll_cand);
  t.top1_ref = ref.s.top1;
  t.top1_cand = c.top1;
  return out;
}

}  // namespace qg::metrics
