// [gpu] The GPU log-softmax gather (kernels/logprob_kernels.cuh) against metrics::log_prob, its host reference:
// random rows at Gemma's 262,144 ids and ragged sizes, strided rows, 1..4 targets a row, extreme rows (logits
// of +-1e4, -inf entries, +-FLT_MAX, all equal, one dominant id), and the same bits on a second launch.
//
// Tolerance. Both sides take the same fp32 max and compute row[id] - max - log(sum) in double; only the order
// of the n-term double exp sum differs (the host adds in id order, the GPU in 1024 strided partial sums folded
// in a tree), plus CUDA's vs glibc's exp/log (each within 1 ulp). Every term is in [0, 1], so each order's
// sum is within (n - 1) u of the exact one (u = 2^-53): for n = 262,144 the two sums differ by at most
// 2 (n - 1) u = 5.8e-11 relative, which moves log(sum) by as much absolute. The final two subtractions round
// at most 2 ulp of the result on either side: bound 1e-10 + 1e-15 |result|. An id with logit -inf gives
// -inf on both sides; an all-equal row sums exact integers in either order, so it differs by log's ulp at most.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "kernels/device_buffer.h"
#include "kernels/logprob_kernels.cuh"
#include "metrics/log_prob.h"

using namespace qg;

namespace {

bool close(double got, double want) {
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= 1e-10 + 1e-15 * std::fabs(want);
}

// Runs the kernel on rows of `n_vocab` at stride `stride` (padding NaN, never read) and checks every output.
std::vector<double> check_rows(const std::vector<float>& logits, std::int64_t stride, std::int64_t n_vocab,
                               const std::vector<std::int32_t>& targets, int n_targets) {
  const auto rows = static_cast<std::int64_t>(targets.size()) / n_targets;
  const auto d_logits = cuda::upload_bytes(logits.data(), logits.size() * 4, "logits");
  const auto d_targets = cuda::upload_bytes(targets.data(), targets.size() * 4, "targets");
  cuda::DeviceBuffer d_out(targets.size() * 8, "out");
  cuda::row_log_probs(d_logits.as<float>(), stride, rows, n_vocab, d_targets.as<std::int32_t>(), n_targets,
                      d_out.as<double>(), nullptr);
  std::vector<double> got(targets.size());
  d_out.download(got.data(), got.size() * 8);
  double max_diff = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::span<const float> row =
        std::span<const float>(logits).subspan(static_cast<std::size_t>(r * stride), static_cast<std::size_t>(n_vocab));
    const metrics::RowLogNorm norm = metrics::row_log_norm(row);
    for (int k = 0; k < n_targets; ++k) {
      const auto at = static_cast<std::size_t>(r * n_targets + k);
      const double want = metrics::log_prob(row, targets[at], norm);
      INFO("row " << r << " of " << rows << ", vocab " << n_vocab << ", target " << targets[at] << ": got " << got[at]
                  << " want " << want);
      CHECK(close(got[at], want));
      if (std::isfinite(want)) max_diff = std::max(max_diff, std::fabs(got[at] - want));
    }
  }
  std::printf("row_log_probs vocab %lld, %lld rows x %d: max |gpu - host| %.3g\n", static_cast<long long>(n_vocab),
              static_cast<long long>(rows), n_targets, max_diff);
  // Same input, same bits: a second launch.
  cuda::DeviceBuffer d_again(targets.size() * 8, "out again");
  cuda::row_log_probs(d_logits.as<float>(), stride, rows, n_vocab, d_targets.as<std::int32_t>(), n_targets,
                      d_again.as<double>(), nullptr);
  std::vector<double> again(targets.size());
  d_again.download(again.data(), again.size() * 8);
  CHECK(std::memcmp(again.data(), got.data(), got.size() * 8) == 0);
  return got;
}

}  // namespace

TEST_CASE("row_log_probs equals metrics::log_prob on random and extreme rows", "[gpu]") {
  const std::int64_t n_vocab = GENERATE(262144, 1000, 257, 1);
  const int n_targets = GENERATE(4, 1, 3);
  const std::int64_t stride = n_vocab + 5;
  std::mt19937 rng(static_cast<unsigned>(n_vocab * 7 + n_targets));
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<float> capped(-30.0f, 30.0f), wide(-1e4f, 1e4f);
  std::uniform_int_distribution<std::int32_t> id(0, static_cast<std::int32_t>(n_vocab - 1));
  const std::int64_t rows = 8;
  std::vector<float> logits(static_cast<std::size_t>(rows * stride), NAN);
  auto at = [&](std::int64_t r, std::int64_t i) -> float& { return logits[static_cast<std::size_t>(r * stride + i)]; };
  for (std::int64_t i = 0; i < n_vocab; ++i) {
    at(0, i) = normal(rng);
    at(1, i) = capped(rng);  // Gemma's softcap keeps logits in (-30, 30)
    at(2, i) = wide(rng);    // a spread of 2e4: the row's mass on a handful of ids
    at(3, i) = 1.5f;         // all equal: log p = -log(n) exactly on both sides
    at(4, i) = normal(rng);
    at(5, i) = capped(rng);
    at(6, i) = -3.0e38f + static_cast<float>(i % 3) * 1e38f;  // fp32 extremes, finite
    at(7, i) = normal(rng) * 1e-3f;  // nearly flat
  }
  at(4, n_vocab / 2) = 80.0f;  // one id takes almost all the mass
  if (n_vocab >= 4) {
    at(5, 0) = -INFINITY;
    at(5, 1) = -FLT_MAX;
    at(5, 2) = FLT_MAX;
    at(5, 3) = FLT_MIN;
    at(6, 0) = FLT_MAX;
  }
  std::vector<std::int32_t> targets;
  for (std::int64_t r = 0; r < rows; ++r)
    for (int k = 0; k < n_targets; ++k) targets.push_back(k == 0 ? 0 : id(rng));  // id 0: -inf in row 5
  const auto got = check_rows(logits, stride, n_vocab, targets, n_targets);
  if (n_vocab >= 4) CHECK(got[static_cast<std::size_t>(5 * n_targets)] == -INFINITY);
  // The all-equal row: the sum is exactly n in any order, so log p = -log(n) up to CUDA's log (1 ulp).
  const double flat = got[static_cast<std::size_t>(3 * n_targets)];
  const double log_n = std::log(static_cast<double>(n_vocab));
  CHECK(std::fabs(flat + log_n) <= 2 * DBL_EPSILON * std::max(1.0, log_n));
}

TEST_CASE("row_log_probs refuses bad shapes and marks an out-of-range id NaN", "[gpu]") {
  const std::vector<float> row{1.0f, 2.0f, 3.0f};
  const auto d_row = cuda::upload_bytes(row.data(), 12, "row");
  const std::vector<std::int32_t> ids{3};
  const auto d_ids = cuda::upload_bytes(ids.data(), 4, "ids");
  cuda::DeviceBuffer d_out(8, "out");
  CHECK_THROWS_AS(cuda::row_log_probs(d_row.as<float>(), 2, 1, 3, d_ids.as<std::int32_t>(), 1, d_out.as<double>(), nullptr),
                  Error);  // stride < n_vocab
  CHECK_THROWS_AS(cuda::row_log_probs(d_row.as<float>(), 3, 1, 3, d_ids.as<std::int32_t>(), 5, d_out.as<double>(), nullptr),
                  Error);  // 5 targets
  CHECK_THROWS_AS(cuda::row_log_probs(nullptr, 3, 1, 3, d_ids.as<std::int32_t>(), 1, d_out.as<double>(), nullptr), Error);
  cuda::row_log_probs(d_row.as<float>(), 3, 1, 3, d_ids.as<std::int32_t>(), 1, d_out.as<double>(), nullptr);
  double out = 0;
  d_out.download(&out, 8);
  CHECK(std::isnan(out));
}
