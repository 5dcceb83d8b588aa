#include "metrics/mmlu_score.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "metrics/percentile.h"

namespace qg::metrics {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// splitmix64: a tiny generator whose stream is the same on every platform (std distributions are not).
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-high (bias < n / 2^64, irrelevant here).
  std::size_t below(std::size_t n) {
    return static_cast<std::size_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
};
}  // namespace

int mmlu_argmax(const std::array<double, 4>& ll) {
  int best = -1;
  for (int i = 0; i < 4; ++i) {
    if (std::isnan(ll[i])) continue;
    if (best < 0 || ll[i] > ll[best]) best = i;
  }
  return best < 0 ? 0 : best;
}

void mmlu_finish(MmluQuestionScore& s) {
  s.pred = mmlu_argmax(s.loglik);
  s.correct = s.pred == s.gold;
}

MmluAccuracy aggregate_mmlu(std::span<const MmluQuestionScore> scores, const std::map<std::string, std::string>& subject_group) {
  MmluAccuracy out;
  for (const auto& s : scores) {
    auto& st = out.subjects[s.subject];
    ++st.n;
    st.correct += s.correct ? 1 : 0;
  }
  // pooled sums per group: sum n_i p_i (1 - p_i)
  struct Pool {
    std::size_t n = 0, correct = 0, k = 0;
    double var_sum = 0;
  };
  std::map<std::string, Pool> pools;
  Pool all;
  double macro_sum = 0, macro_sq = 0;
  for (auto& [name, st] : out.subjects) {
    const auto it = subject_group.find(name);
    if (it == subject_group.end()) throw Error(fmt::format("subject '{}' has no MMLU group", name));
    const double n = static_cast<double>(st.n);
    st.acc = static_cast<double>(st.correct) / n;
    st.n_subjects = 1;
    st.stderr_acc = st.n < 2 ? kNaN : std::sqrt(st.acc * (1 - st.acc) / (n - 1));
    const double v = n * st.acc * (1 - st.acc);
    for (Pool* p : {&pools[it->second], &all}) {
      p->n += st.n;
      p->correct += st.correct;
      p->k += 1;
      p->var_sum += v;
    }
    macro_sum += st.acc;
    macro_sq += st.acc * st.acc;
  }
  auto finish = [](const Pool& p) {
    AccuracyStat st;
    st.n = p.n;
    st.correct = p.correct;
    st.n_subjects = p.k;
    const double n = static_cast<double>(p.n);
    st.acc = p.n ? static_cast<double>(p.correct) / n : kNaN;
    st.stderr_acc = p.n > p.k ? std::sqrt(p.var_sum / ((n - static_cast<double>(p.k)) * n)) : kNaN;
    return st;
  };
  for (const auto& [g, p] : pools) out.groups[g] = finish(p);
  out.overall = finish(all);
  const double k = static_cast<double>(out.subjects.size());
  out.macro = k > 0 ? macro_sum / k : kNaN;
  out.macro_stderr = k >= 2 ? std::sqrt(std::max(0.0, (macro_sq - k * out.macro * out.macro) / (k - 1)) / k) : kNaN;
  return out;
}

double mcnemar_exact_p(std::size_t b, std::size_t c) {
  const std::size_t n = b + c;
  if (n == 0) return 1.0;
  const std::size_t m = std::min(b, c);
  // P(X <= m), X ~ Binomial(n, 1/2), summed in log space.
  double total = 0;
  for (std::size_t i = 0; i <= m; ++i) {
    const double lg = std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - static_cast<double>(n) * std::log(2.0);
    total += std::exp(lg);
  }
  return std::min(1.0, 2 * total);
}

MmluRecovery mmlu_recovery(std::span<const bool> ref, std::span<const bool> cand, int iterations, std::uint64_t seed, double level) {
  if (ref.size() != cand.size())
    throw Error(fmt::format("recovery: {} reference answers but {} candidate answers", ref.size(), cand.size()));
  if (ref.empty()) throw Error("recovery: no questions");
  MmluRecovery r;
  r.n = ref.size();
  r.iterations = iterations;
  r.seed = seed;
  r.level = level;
  std::size_t ref_ok = 0, cand_ok = 0;
  for (std::size_t i = 0; i < r.n; ++i) {
    ref_ok += ref[i];
    cand_ok += cand[i];
    if (ref[i] && !cand[i]) ++r.right_to_wrong;
    if (!ref[i] && cand[i]) ++r.wrong_to_right;
  }
  const double n = static_cast<double>(r.n);
  r.acc_ref = static_cast<double>(ref_ok) / n;
  r.acc_cand = static_cast<double>(cand_ok) / n;
  r.recovery = ref_ok ? static_cast<double>(cand_ok) / static_cast<double>(ref_ok) : kNaN;
  r.mcnemar_p = mcnemar_exact_p(r.right_to_wrong, r.wrong_to_right);
  std::vector<double> ratios;
  ratios.reserve(static_cast<std::size_t>(std::max(iterations, 0)));
  SplitMix64 rng{seed};
  for (int it = 0; it < iterations; ++it) {
    std::size_t a = 0, b = 0;
    for (std::size_t j = 0; j < r.n; ++j) {
      const std::size_t q = rng.below(r.n);
      a += ref[q];
      b += cand[q];
    }
    if (a == 0) {
      ++r.skipped_resamples;
      continue;
    }
    ratios.push_back(static_cast<double>(b) / static_cast<double>(a));
  }
  if (ratios.empty()) {
    r.ci_low = r.ci_high = kNaN;
  } else {
    std::sort(ratios.begin(), ratios.end());
    const double tail = (1 - level) / 2 * 100;
    r.ci_low = percentile_sorted(ratios, tail);
    r.ci_high = percentile_sorted(ratios, 100 - tail);
  }
  return r;
}

}  // namespace qg::metrics
