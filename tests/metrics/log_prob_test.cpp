// [mmlu] The choice log-probabilities with the row's normalizer computed once (metrics/log_prob.h, the host
// MMLU row scorer) against the per-choice computation run_mmlu used before (transcribed below: max, exp sum
// and log recomputed for every id). Both evaluate row[id] - max - log(sum) with the same sums in the same
// order, so they must agree to the last bit: the tests compare with ==, no tolerance. Plus the scorer's
// argument checks and ScoreOptions::first_logit_rows on the CPU engine.
#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "catch.h"
#include "../forward/first_logit_rows_check.h"
#include "common/error.h"
#include "evals/mmlu_eval.h"
#include "evals/mmlu_row_scorer.h"
#include "forward/cpu/cpu_forward.h"
#include "metrics/log_prob.h"
#include "model/fixture_util.h"

using namespace qg;

namespace {

// run_mmlu's log_prob before the normalizer was shared between choices (as of commit 748bba0), verbatim.
double old_log_prob(std::span<const float> row, TokenId token) {
  double mx = -INFINITY;
  for (float v : row) mx = std::max(mx, static_cast<double>(v));
  double sum = 0;
  for (float v : row) sum += std::exp(static_cast<double>(v) - mx);
  return static_cast<double>(row[static_cast<std::size_t>(token)]) - mx - std::log(sum);
}

// Rows of `n` logits: ordinary, huge spread, -inf entries and fp32 extremes, all equal, one dominant.
std::vector<std::vector<float>> test_rows(std::int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<float> capped(-30.0f, 30.0f), wide(-1e4f, 1e4f);
  const auto N = static_cast<std::size_t>(n);
  std::vector<std::vector<float>> rows;
  auto fill = [&](auto&& gen) {
    std::vector<float> r(N);
    for (float& v : r) v = gen();
    rows.push_back(std::move(r));
  };
  fill([&] { return normal(rng); });
  fill([&] { return capped(rng); });  // Gemma's softcap keeps logits in (-30, 30)
  fill([&] { return wide(rng); });
  fill([&] { return 1.5f; });
  std::vector<float> r = rows[0];
  r[N / 2] = 80.0f;  // one id takes almost all the mass
  rows.push_back(r);
  if (n >= 4) {
    r = rows[1];
    r[0] = -INFINITY;
    r[1] = -FLT_MAX;
    r[2] = FLT_MAX;
    r[3] = FLT_MIN;
    rows.push_back(r);
  }
  return rows;
}

}  // namespace

TEST_CASE("log_prob with the row normalizer computed once equals the per-choice computation bit for bit", "[mmlu]") {
  const std::int64_t n = GENERATE(262144, 512, 257, 1);
  const auto rows = test_rows(n, static_cast<unsigned>(n));
  std::mt19937 rng(7);
  std::uniform_int_distribution<TokenId> id(0, static_cast<TokenId>(n - 1));
  const auto scorer = evals::host_mmlu_row_scorer();
  for (std::size_t ri = 0; ri < rows.size(); ++ri) {
    INFO("row kind " << ri << ", vocab " << n);
    const std::span<const float> row(rows[ri]);
    const metrics::RowLogNorm norm = metrics::row_log_norm(row);
    std::vector<TokenId> ids{0, static_cast<TokenId>(n - 1), id(rng), id(rng)};
    if (n >= 4) ids[1] = 2;  // FLT_MAX in the extreme row
    for (TokenId t : ids) {
      const double want = old_log_prob(row, t);
      CHECK(metrics::log_prob(row, t, norm) == want);
      CHECK(metrics::log_prob(row, t) == want);
      CHECK(evals::log_prob(row, t) == want);
    }
    // The host scorer: four ids of one row, as run_mmlu asks for single-token choices.
    const LogitsChunk chunk{0, 0, 1, n, row};
    std::vector<double> out(4);
    scorer->log_probs(chunk, 0, 1, ids, 4, out);
    for (std::size_t k = 0; k < 4; ++k) CHECK(out[k] == old_log_prob(row, ids[k]));
  }
  if (n >= 4) {  // the extreme row: an id at -inf has log-probability -inf, not NaN
    const std::span<const float> row(rows.back());
    CHECK(metrics::log_prob(row, 0) == -INFINITY);
    CHECK(std::isfinite(metrics::log_prob(row, 2)));
  }
}

TEST_CASE("the host MMLU row scorer: several rows, one target each, and its argument checks", "[mmlu]") {
  const std::int64_t n = 300, n_rows = 5;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> logits(static_cast<std::size_t>(n * n_rows));
  for (float& v : logits) v = normal(rng);
  const LogitsChunk chunk{2, 10, n_rows, n, logits};
  const auto scorer = evals::host_mmlu_row_scorer();
  CHECK_FALSE(scorer->logits_on_device());
  const std::vector<TokenId> targets{5, 299, 0};
  std::vector<double> out(3);
  scorer->log_probs(chunk, 1, 3, targets, 1, out);  // rows 1..3
  for (std::int64_t i = 0; i < 3; ++i)
    CHECK(out[static_cast<std::size_t>(i)] == old_log_prob(chunk.row(1 + i), targets[static_cast<std::size_t>(i)]));

  std::vector<double> one(1);
  CHECK_THROWS_AS(scorer->log_probs(chunk, 4, 2, targets, 1, out), Error);        // rows past the chunk
  CHECK_THROWS_AS(scorer->log_probs(chunk, 0, 3, targets, 1, one), Error);        // output too small
  CHECK_THROWS_AS(scorer->log_probs(chunk, 0, 1, targets, 5, out), Error);        // more than 4 targets a row
  const std::vector<TokenId> bad{300};
  CHECK_THROWS_AS(scorer->log_probs(chunk, 0, 1, bad, 1, one), Error);            // id outside the vocabulary
  const LogitsChunk on_device{0, 0, 1, n, {}};
  CHECK_THROWS_AS(scorer->log_probs(on_device, 0, 1, std::span<const TokenId>(targets).first(1), 1, one), Error);
}

TEST_CASE("ScoreOptions::first_logit_rows: each sequence gets logits from its own first row (CPU engine)", "[mmlu]") {
  auto f = CpuForward::open(test::gemma4_fixture("e_style"), {.n_threads = 2});
  // The head of the same rows in chunks of other heights: Eigen may block the GEMM differently, fp32 rounding
  // of a 64-wide dot product (~1e-6 of logits of size ~10) at most.
  CHECK(test::check_first_logit_rows(*f) <= 1e-5);
}
