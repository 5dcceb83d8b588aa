// [gpu] run_mmlu on the CUDA engine with the GPU row scorer (logits stay on the device, kernels/logprob_kernels)
// against the same engine with the host scorer (host logits rows, metrics::log_prob), on the tiny e_style
// fixture and the committed lm-eval prompts (tests/fixtures/mmlu: 8 questions 0-shot, 2 left-truncated 5-shot),
// with single-token choices and with two-token choices (one target per row, summed over rows). Plus
// ScoreOptions::first_logit_rows on the CUDA engine.
//
// Tolerance. Both scorers read the same fp32 logits (same engine, same rows asked for) and compute
// row[id] - max - log(sum) in double; only the order of the exp sum differs, plus CUDA's vs glibc's exp/log
// (1 ulp each). With n = 512 ids, each order's sum is within (n - 1) u of the exact one (terms in [0, 1],
// u = 2^-53), so log(sum) differs by <= 2 (n - 1) u = 1.2e-13; the subtractions round <= 2 ulp of a result
// below 50 in size (1.5e-14): 1e-12 per row, 2e-12 for a two-row choice. Predictions must be equal unless the
// host's best two choices are within that bound (none are on this fixture; the test says so if that changes).
// The GPU path must give the same bits run to run, and stays within the golden test's 1e-3 of transformers.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "catch.h"
#include "../forward/first_logit_rows_check.h"
#include "evals/mmlu_fixture_requests.h"
#include "checkpoint/json_file.h"
#include "common/error.h"
#include "evals/mmlu_device_scorer.h"
#include "evals/mmlu_eval.h"
#include "forward/cuda/cuda_forward.h"
#include "forward/open_forward.h"
#include "metrics/mmlu_score.h"
#include "model/fixture_util.h"

using namespace qg;

namespace {


// Device vs host scores of one configuration: within `tol`, same predictions, and the device run repeated
// gives the same bits.
void compare_paths(Forward& f, const std::vector<evals::MmluRequest>& requests, evals::MmluEvalOptions options,
                   double tol, const char* what) {
  const auto host = evals::run_mmlu(f, requests, options);
  options.row_scorer = evals::device_mmlu_row_scorer();
  const auto dev = evals::run_mmlu(f, requests, options);
  const auto again = evals::run_mmlu(f, requests, options);
  REQUIRE(host.size() == requests.size());
  REQUIRE(dev.size() == requests.size());
  double max_diff = 0;
  for (std::size_t q = 0; q < requests.size(); ++q) {
    INFO(what << ": " << host[q].subject << " #" << host[q].index);
    for (std::size_t k = 0; k < 4; ++k) {
      CHECK(std::isfinite(dev[q].loglik[k]));
      max_diff = std::max(max_diff, std::fabs(dev[q].loglik[k] - host[q].loglik[k]));
      CHECK(dev[q].loglik[k] == again[q].loglik[k]);  // bit-identical run to run
    }
    auto sorted = host[q].loglik;
    std::sort(sorted.begin(), sorted.end());
    if (sorted[3] - sorted[2] > 2 * tol) CHECK(dev[q].pred == host[q].pred);
    else WARN("host choices within the tolerance: prediction not compared");
  }
  std::printf("mmlu GPU row scorer vs host (%s): %zu questions, max |diff| %.3g\n", what, requests.size(), max_diff);
  CHECK(max_diff <= tol);
}

}  // namespace

TEST_CASE("MMLU on the CUDA engine: the GPU row scorer equals the host one, run to run bit-identical", "[gpu]") {
  auto f = CudaForward::open(test::gemma4_fixture("e_style"));
  CHECK(open_mmlu_row_scorer(*f)->logits_on_device());  // what the mmlu command picks for this engine
  const auto requests = test::read_fixture_mmlu_requests();

  SECTION("single-token choices, one sequence per call, and against transformers' golden") {
    compare_paths(*f, requests, {.batch_size = 1}, 1e-12, "single-token");
    evals::MmluEvalOptions o;
    o.row_scorer = open_mmlu_row_scorer(*f);
    evals::MmluEvalStats stats;
    const auto dev = evals::run_mmlu(*f, requests, o, &stats);
    CHECK(stats.truncated == 2);
    const auto golden = read_json_file(test::fixtures_dir() / "mmlu" / "golden_logliks.json");
    const auto& gq = golden.at("questions");
    REQUIRE(gq.size() == dev.size());
    for (std::size_t q = 0; q < dev.size(); ++q)
      for (std::size_t k = 0; k < 4; ++k)
        CHECK(std::fabs(dev[q].loglik[k] - gq[q].at("loglik").at(k).get<double>()) <= 1e-3);  // mmlu_golden_test's
  }
  SECTION("single-token choices, several sequences per call") {
    compare_paths(*f, requests, {.batch_size = 5}, 1e-12, "batch 5");
  }
  SECTION("two-token choices: one target per row, summed") {
    auto multi = requests;
    for (auto& r : multi)
      for (std::size_t k = 0; k < 4; ++k) r.continuation_ids[k] = {static_cast<TokenId>(100 + k), r.continuation_ids[k][0]};
    compare_paths(*f, multi, {.batch_size = 3}, 2e-12, "two-token");
  }
}

TEST_CASE("ScoreOptions::first_logit_rows on the CUDA engine: each sequence from its own first row", "[gpu]") {
  auto f = CudaForward::open(test::gemma4_fixture("e_style"));
  // The same rows through head GEMMs of other heights: the pinned GEMM makes a row's logits independent of the
  // other rows (tests/forward/gemm_invariance_test.cpp), so the same bits.
  CHECK(test::check_first_logit_rows(*f) == 0.0);
}

// Issue 8: "log-likelihoods are bit-identical whatever the batch size". The CUDA engine in both precisions, steps
// small enough (64 rows) that questions are packed several per step and long ones cut across steps, the GPU row
// scorer: batch 1, 2, 5 and 64 give the same bits for every choice of every question (single- and two-token).
TEST_CASE("MMLU on the CUDA engine: log-likelihoods are bit-identical whatever the batch size", "[gpu]") {
  const GemmInputPrecision precision = GENERATE(GemmInputPrecision::kAccurate, GemmInputPrecision::kFast);
  CudaForwardOptions o;
  o.limits.precision = precision;
  o.limits.max_batch_tokens = 64;
  o.limits.max_context = 2048;
  auto f = CudaForward::open(test::gemma4_fixture("e_style"), o);
  auto requests = test::read_fixture_mmlu_requests();
  auto multi = requests;
  for (auto& r : multi)
    for (std::size_t k = 0; k < 4; ++k) r.continuation_ids[k] = {static_cast<TokenId>(100 + k), r.continuation_ids[k][0]};
  for (const auto* reqs : {&requests, &multi}) {
    std::vector<std::vector<metrics::MmluQuestionScore>> runs;
    for (std::size_t batch : {1, 2, 5, 64})
      runs.push_back(evals::run_mmlu(*f, *reqs, {.batch_size = batch, .row_scorer = evals::device_mmlu_row_scorer()}));
    for (std::size_t b = 1; b < runs.size(); ++b)
      for (std::size_t q = 0; q < reqs->size(); ++q)
        for (std::size_t k = 0; k < 4; ++k) {
          INFO((precision == GemmInputPrecision::kFast ? "fast" : "accurate")
               << (reqs == &multi ? ", two-token" : ", single-token") << ": run " << b << ", question " << q
               << ", choice " << k);
          CHECK(runs[b][q].loglik[k] == runs[0][q].loglik[k]);
        }
  }
}
