#include "metrics/kl.h"

#include <cmath>
#include <limits>

#include "common/check.h"

namespace qg::metrics {

RowStats row_stats_ref(std::span<const float> row) {
  float max = -std::numeric_limits<float>::infinity();
  std::int32_t arg = 0;
  for (std::size_t i = 0; i < row.size(); ++i)
    if (row[i] > max) {
      max = row[i];
      arg = static_cast<std::int32_t>(i);
    }
  double sum = 0;
  const double m = max;
  for (float v : row) sum += std::exp(static_cast<double>(v) - m);
  return {m + std::log(sum), arg};
}

void log_softmax_ref(std::span<const float> logits, std::span<double> out) {
  QG_CHECK(out.size() == logits.size() && !logits.empty(), "log_softmax_ref: {} logits, {} outputs",
           logits.size(), out.size());
  const double lse = row_stats_ref(logits).lse;
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

TokenKl token_kl_ref(std::span<const float> ref_logits, std::span<const float> cand_logits, std::int32_t next) {
  QG_CHECK(!ref_logits.empty() && ref_logits.size() == cand_logits.size(),
           "token_kl_ref: rows of {} and {} logits", ref_logits.size(), cand_logits.size());
  QG_CHECK(next >= 0 && static_cast<std::size_t>(next) < ref_logits.size(), "token_kl_ref: next token {} of {}",
           next, ref_logits.size());
  const RowStats r = row_stats_ref(ref_logits), c = row_stats_ref(cand_logits);
  double kl = 0, kl_reverse = 0;
  for (std::size_t i = 0; i < ref_logits.size(); ++i) {
    const double lp = static_cast<double>(ref_logits[i]) - r.lse;
    const double lq = static_cast<double>(cand_logits[i]) - c.lse;
    const double d = lp - lq;
    kl += std::exp(lp) * d;
    kl_reverse -= std::exp(lq) * d;
  }
  TokenKl t;
  t.kl = kl;
  t.kl_reverse = kl_reverse;
  t.nll_ref = r.lse - static_cast<double>(ref_logits[static_cast<std::size_t>(next)]);
  t.nll_cand = c.lse - static_cast<double>(cand_logits[static_cast<std::size_t>(next)]);
  t.p_ref = std::exp(-t.nll_ref);
  t.p_cand = std::exp(-t.nll_cand);
  t.top1_ref = r.top1;
  t.top1_cand = c.top1;
  return t;
}

}  // namespace qg::metrics
