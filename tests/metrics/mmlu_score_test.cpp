// [mmlu] scoring math on hand-made log-likelihoods: argmax ties, lm-eval's per-subject/group/overall
// aggregation (micro, pooled stderr), macro; recovery with its paired bootstrap CI, flips and McNemar.
#include <cmath>
#include <limits>
#include <memory>
#include <span>

#include "catch.h"
#include "common/error.h"
#include "metrics/mmlu_score.h"

using namespace qg::metrics;

namespace {
MmluQuestionScore q(const std::string& subject, int gold, std::array<double, 4> ll) {
  MmluQuestionScore s;
  s.subject = subject;
  s.gold = gold;
  s.loglik = ll;
  mmlu_finish(s);
  return s;
}
}  // namespace

TEST_CASE("MMLU scoring: argmax, ties to the lowest index", "[mmlu]") {
  CHECK(mmlu_argmax({-1, -2, -3, -4}) == 0);
  CHECK(mmlu_argmax({-4, -3, -0.5, -1}) == 2);
  CHECK(mmlu_argmax({-2, -1, -1, -3}) == 1);   // tie B/C -> B
  CHECK(mmlu_argmax({-1, -1, -1, -1}) == 0);   // all tied -> A
  CHECK(mmlu_argmax({-5, -3, -4, -3}) == 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(mmlu_argmax({nan, -3, -1, -2}) == 2);
  CHECK(q("s", 1, {-2, -1, -1, -3}).correct);
  CHECK_FALSE(q("s", 2, {-2, -1, -1, -3}).correct);
}

TEST_CASE("MMLU scoring: per subject, per group (micro, pooled stderr), overall and macro", "[mmlu]") {
  // a (stem): 3/4 right; b (stem): 1/2; c (other): 2/2.
  std::vector<MmluQuestionScore> s = {
      q("a", 0, {0, -1, -1, -1}), q("a", 1, {-1, 0, -1, -1}), q("a", 2, {-1, -1, 0, -1}), q("a", 3, {0, -1, -1, -1}),
      q("b", 0, {0, -1, -1, -1}), q("b", 0, {-1, 0, -1, -1}), q("c", 3, {-1, -1, -1, 0}), q("c", 2, {-1, -1, 0, -1}),
  };
  const auto acc = aggregate_mmlu(s, {{"a", "stem"}, {"b", "stem"}, {"c", "other"}});
  REQUIRE(acc.subjects.size() == 3);
  CHECK(acc.subjects.at("a").acc == 0.75);
  CHECK(acc.subjects.at("a").stderr_acc == Approx(std::sqrt(0.75 * 0.25 / 3)).epsilon(1e-14));
  CHECK(acc.subjects.at("b").acc == 0.5);
  CHECK(acc.subjects.at("c").acc == 1.0);
  CHECK(acc.subjects.at("c").stderr_acc == 0.0);
  const auto& stem = acc.groups.at("stem");
  CHECK(stem.n == 6);
  CHECK(stem.correct == 4);
  CHECK(stem.acc == Approx(4.0 / 6));  // micro, not (0.75 + 0.5) / 2
  // pooled: sqrt(sum n_i p_i (1 - p_i) / ((N - K) N)) = sqrt((4*.75*.25 + 2*.5*.5) / (4 * 6))
  CHECK(stem.stderr_acc == Approx(std::sqrt((4 * 0.75 * 0.25 + 2 * 0.25) / (4.0 * 6))).epsilon(1e-14));
  CHECK(acc.groups.at("other").acc == 1.0);
  CHECK(acc.overall.n == 8);
  CHECK(acc.overall.correct == 6);
  CHECK(acc.overall.acc == 0.75);
  CHECK(acc.overall.n_subjects == 3);
  CHECK(acc.overall.stderr_acc == Approx(std::sqrt((0.75 + 0.5 + 0) / (5.0 * 8))).epsilon(1e-14));
  CHECK(acc.macro == Approx((0.75 + 0.5 + 1.0) / 3));
  // one question in a subject: its stderr is undefined (n - 1 = 0), reported as n/a, not 0
  const auto one = aggregate_mmlu(std::vector<MmluQuestionScore>{q("a", 0, {0, -1, -1, -1})}, {{"a", "stem"}});
  CHECK(std::isnan(one.subjects.at("a").stderr_acc));
  CHECK(std::isnan(one.overall.stderr_acc));
  CHECK_THROWS_AS(aggregate_mmlu(s, {{"a", "stem"}}), qg::Error);
}

TEST_CASE("MMLU recovery: identical answers give exactly 1 with a zero-width CI", "[mmlu]") {
  std::vector<char> v;
  for (int i = 0; i < 200; ++i) v.push_back(i % 3 != 0);
  std::unique_ptr<bool[]> a(new bool[v.size()]);
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = v[i];
  const std::span<const bool> s(a.get(), v.size());
  const auto r = mmlu_recovery(s, s, 500, 7);
  CHECK(r.recovery == 1.0);
  CHECK(r.ci_low == 1.0);
  CHECK(r.ci_high == 1.0);
  CHECK(r.right_to_wrong == 0);
  CHECK(r.wrong_to_right == 0);
  CHECK(r.mcnemar_p == 1.0);
}

TEST_CASE("MMLU recovery: synthetic flips, CI covers the point, seeded and reproducible", "[mmlu]") {
  const std::size_t n = 1000;
  std::unique_ptr<bool[]> ref(new bool[n]), cand(new bool[n]);
  // ref right on 600; cand loses 30 of them and gains 10 of the 400 wrong ones: 580 / 600.
  for (std::size_t i = 0; i < n; ++i) {
    ref[i] = i < 600;
    cand[i] = (i < 600 && i % 20 != 0) || (i >= 600 && i % 40 == 0);
  }
  const std::span<const bool> r(ref.get(), n), c(cand.get(), n);
  const auto a = mmlu_recovery(r, c, 2000, 42);
  CHECK(a.acc_ref == 0.6);
  CHECK(a.acc_cand == 0.58);
  CHECK(a.recovery == Approx(580.0 / 600).epsilon(1e-14));
  CHECK(a.right_to_wrong == 30);
  CHECK(a.wrong_to_right == 10);
  CHECK(a.ci_low < a.recovery);
  CHECK(a.ci_high > a.recovery);
  CHECK(a.ci_high < 1.0);  // 20 net flips out of 600 is clear at 95%
  CHECK(a.ci_low > 0.93);
  CHECK(a.mcnemar_p == Approx(mcnemar_exact_p(30, 10)));
  CHECK(a.mcnemar_p < 0.01);
  const auto b = mmlu_recovery(r, c, 2000, 42);
  CHECK(b.ci_low == a.ci_low);
  CHECK(b.ci_high == a.ci_high);
  const auto d = mmlu_recovery(r, c, 2000, 43);
  CHECK(d.ci_low != a.ci_low);
  CHECK_THROWS_AS(mmlu_recovery(r, c.subspan(1), 10, 1), qg::Error);
}

TEST_CASE("MMLU recovery: exact McNemar p-values", "[mmlu]") {
  CHECK(mcnemar_exact_p(0, 0) == 1.0);
  CHECK(mcnemar_exact_p(10, 2) == Approx(2.0 * (1 + 12 + 66) / 4096).epsilon(1e-12));
  CHECK(mcnemar_exact_p(2, 10) == Approx(2.0 * (1 + 12 + 66) / 4096).epsilon(1e-12));
  CHECK(mcnemar_exact_p(5, 5) == 1.0);
  CHECK(mcnemar_exact_p(1, 0) == 1.0);
}
