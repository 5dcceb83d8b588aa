// token_kl_ref: per-token KL / reverse KL / NLL / top-1 / delta p on hand-computed cases and against an
// independent long-double implementation (the tolerance is the double accumulation error: 1e-12 relative).
#include <cmath>
#include <random>
#include <vector>

#include "catch.h"
#if __has_include(<catch2/catch_all.hpp>)
using Catch::Approx;  // Catch2 v3
#endif
#include "metrics/kl.h"

using qg::metrics::token_kl_ref;

namespace {
struct Brute {
  long double kl = 0, kl_rev = 0, nll_p = 0, nll_q = 0;
};
// Straight from the definitions, long double, no max subtraction tricks beyond what exp needs.
Brute brute(const std::vector<float>& r, const std::vector<float>& c, int next) {
  long double mr = r[0], mc = c[0];
  for (std::size_t i = 0; i < r.size(); ++i) mr = std::max<long double>(mr, r[i]), mc = std::max<long double>(mc, c[i]);
  long double zr = 0, zc = 0;
  for (std::size_t i = 0; i < r.size(); ++i) zr += std::exp(r[i] - mr), zc += std::exp(c[i] - mc);
  Brute b;
  for (std::size_t i = 0; i < r.size(); ++i) {
    const long double p = std::exp(r[i] - mr) / zr, q = std::exp(c[i] - mc) / zc;
    b.kl += p * std::log(p / q);
    b.kl_rev += q * std::log(q / p);
  }
  b.nll_p = -std::log(std::exp(r[next] - mr) / zr);
  b.nll_q = -std::log(std::exp(c[next] - mc) / zc);
  return b;
}
}  // namespace

TEST_CASE("identical rows give exactly zero KL and the same top-1", "[kl]") {
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0, 3);
  std::vector<float> row(5000);
  for (auto& x : row) x = n(rng);
  const auto t = token_kl_ref(row, row, 17);
  CHECK(t.kl == 0.0);
  CHECK(t.kl_reverse == 0.0);
  CHECK(t.same_top1());
  CHECK(t.nll_ref == t.nll_cand);
  CHECK(t.delta_p() == 0.0);
}

TEST_CASE("two-token distributions: the closed form", "[kl]") {
  // p = sigmoid(a), q = sigmoid(b): KL = p ln(p/q) + (1-p) ln((1-p)/(1-q))
  const float a = 1.0f, b = -0.5f;
  const double p = 1 / (1 + std::exp(-1.0)), q = 1 / (1 + std::exp(0.5));
  const auto t = token_kl_ref(std::vector<float>{a, 0}, std::vector<float>{b, 0}, 0);
  CHECK(t.kl == Approx(p * std::log(p / q) + (1 - p) * std::log((1 - p) / (1 - q))).epsilon(1e-13));
  CHECK(t.kl_reverse == Approx(q * std::log(q / p) + (1 - q) * std::log((1 - q) / (1 - p))).epsilon(1e-13));
  CHECK(t.nll_ref == Approx(-std::log(p)).epsilon(1e-13));
  CHECK(t.nll_cand == Approx(-std::log(q)).epsilon(1e-13));
  CHECK(t.p_ref == Approx(p).epsilon(1e-13));
  CHECK(t.delta_p() == Approx(q - p).epsilon(1e-12));
  CHECK(t.top1_ref == 0);
  CHECK(t.top1_cand == 1);
  CHECK_FALSE(t.same_top1());
}

TEST_CASE("a constant shift of a row changes nothing; a one-hot bump against uniform is known", "[kl]") {
  std::vector<float> r{0.5f, -1.0f, 2.0f, 0.25f}, shifted;
  for (float x : r) shifted.push_back(x + 8.0f);
  const auto t = token_kl_ref(r, shifted, 2);
  CHECK(std::abs(t.kl) < 1e-14);
  CHECK(std::abs(t.nll_ref - t.nll_cand) < 1e-14);
  CHECK(t.same_top1());
  // ref [x, 0, 0, 0] vs uniform: KL = sum p ln p + ln 4, NLL of token 1 under uniform = ln 4
  const float x = 3.0f;
  const double e = std::exp(3.0), p0 = e / (e + 3), p1 = 1 / (e + 3);
  const auto u = token_kl_ref(std::vector<float>{x, 0, 0, 0}, std::vector<float>{7, 7, 7, 7}, 1);
  CHECK(u.kl == Approx(p0 * std::log(p0) + 3 * p1 * std::log(p1) + std::log(4.0)).epsilon(1e-13));
  CHECK(u.nll_cand == Approx(std::log(4.0)).epsilon(1e-14));
  CHECK(u.top1_cand == 0);  // ties: the lowest id
}

TEST_CASE("large logits are stable (max subtraction)", "[kl]") {
  const auto t = token_kl_ref(std::vector<float>{1000, 999}, std::vector<float>{1000, 999}, 1);
  CHECK(t.kl == 0.0);
  CHECK(t.nll_ref == Approx(std::log1p(std::exp(1.0))).epsilon(1e-12));
  const auto u = token_kl_ref(std::vector<float>{1000, 999}, std::vector<float>{-1000, -1001}, 0);
  CHECK(std::isfinite(u.kl));
  CHECK(std::abs(u.kl) < 1e-12);
}

TEST_CASE("random rows, full vocab with a long tail: equal to long double brute force", "[kl]") {
  std::mt19937 rng(11);
  for (int n_vocab : {3, 1000, 262144}) {
    std::normal_distribution<float> n(0, 4), noise(0, 0.3f);
    std::vector<float> r(static_cast<std::size_t>(n_vocab)), c(r.size());
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = n(rng), c[i] = r[i] + noise(rng);
    r[5 % r.size()] = 30;  // a peaked row: most tokens carry ~1e-20 each, together still counted
    const int next = n_vocab / 2;
    const auto t = token_kl_ref(r, c, next);
    const auto b = brute(r, c, next);
    INFO("n_vocab " << n_vocab);
    CHECK(t.kl == Approx(static_cast<double>(b.kl)).epsilon(1e-10).margin(1e-15));
    CHECK(t.kl_reverse == Approx(static_cast<double>(b.kl_rev)).epsilon(1e-10).margin(1e-15));
    CHECK(t.nll_ref == Approx(static_cast<double>(b.nll_p)).epsilon(1e-12));
    CHECK(t.nll_cand == Approx(static_cast<double>(b.nll_q)).epsilon(1e-12));
    CHECK(t.kl >= 0);
  }
}

TEST_CASE("token_kl_ref rejects mismatched rows and out-of-range ids", "[kl]") {
  CHECK_THROWS(token_kl_ref(std::vector<float>{1, 2}, std::vector<float>{1, 2, 3}, 0));
  CHECK_THROWS(token_kl_ref(std::vector<float>{1, 2}, std::vector<float>{1, 2}, 2));
  CHECK_THROWS(token_kl_ref(std::vector<float>{1, 2}, std::vector<float>{1, 2}, -1));
}
