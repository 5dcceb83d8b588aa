// bench-engine --kl-compact-k's measurement (evals/kl_compact_measure.h) on the host: the token-by-token pairing
// and its figures against values worked out by hand, mismatched lists refused; and on the tiny fixture pair, the
// exact and compact per-token KLs it pairs are exactly those of the existing exact path (run_kl, host comparer)
// and the existing cache path (write_kl_compact_cache, then CompactKlComparer), the cache file byte for byte.
// The GPU paths: tests/evals/kl_compact_measure_device_test.cpp.
#include "evals/kl_compact_measure.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <random>

#include "catch.h"
#include "error_message.h"
#include "common/error.h"
#include "forward/cpu/cpu_forward.h"
#include "model/fixture_util.h"
#include "test_paths.h"

using namespace qg;
using qg::test::message_of;

namespace {
std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_CASE("kl compact measure: token-by-token figures equal hand-worked values", "[kl]") {
  const std::vector<KlTokenValue> exact = {{0, 10, 5, 0.1}, {0, 11, 6, 0.3}, {1, 10, 7, 0.2}};
  std::vector<KlTokenValue> compact = {{0, 10, 5, 0.11}, {0, 11, 6, 0.27}, {1, 10, 7, 0.2}};
  KlCompactRunStats stats;
  for (double p : {0.05, 0.1, 0.02}) stats.p_tail.add(p);
  for (double v : {0.05, 0.2, 0.1}) stats.kl_lower.add(v);
  for (double v : {0.2, 0.4, 0.3}) stats.kl_upper.add(v);
  const KlCompactError e = compare_token_kls(exact, compact, stats);
  // Tolerance: a handful of double additions and one division of values near 0.1: a few ulps (1e-16 each).
  const double eps = 1e-15;
  CHECK(e.n_tokens == 3);
  CHECK(std::abs(e.exact_mean - 0.2) < eps);
  CHECK(std::abs(e.compact_mean - 0.58 / 3) < eps);
  CHECK(std::abs(e.relative_mean_error - (0.58 / 3 - 0.2) / 0.2) < eps);  // -1/30
  CHECK(std::abs(e.max_abs_token_error - 0.03) < eps);
  CHECK(e.worst_chunk == 0);
  CHECK(e.worst_row == 11);
  CHECK(e.p_tail_max == 0.1);
  CHECK(std::abs(e.p_tail_mean - 0.17 / 3) < eps);
  CHECK(std::abs(e.max_error_over_max_p_tail - 0.3) < eps);
  CHECK(std::abs(e.bounds_lower_mean - 0.35 / 3) < eps);
  CHECK(std::abs(e.bounds_upper_mean - 0.3) < eps);
  CHECK(e.bounds_contain_exact);
  CHECK_FALSE(e.within_printed_bound);  // |mean error| 3.3 % > the printed 0.6 %

  compact[1].kl = 0.2999;  // token 1's error drops to 1e-4
  const KlCompactError close = compare_token_kls(exact, compact, stats);
  CHECK(std::abs(close.max_abs_token_error - 0.01) < eps);  // token 0 (0.11 vs 0.1) is now the worst
  CHECK(close.worst_row == 10);
  compact[0].kl = 0.1;  // max error 1e-4 = 0.001 x max p_tail, mean error 0.017 %: within the printed bound
  const KlCompactError closer = compare_token_kls(exact, compact, stats);
  CHECK(closer.within_printed_bound);
  CHECK_FALSE(compare_token_kls(exact, compact, KlCompactRunStats{.kl_lower = stats.kl_upper}).bounds_contain_exact);

  // the same tokens in another order, or another count, are refused
  std::vector<KlTokenValue> swapped = compact;
  std::swap(swapped[1], swapped[2]);
  const std::string m = message_of([&] { compare_token_kls(exact, swapped, stats); });
  CHECK(m.find("token 1 is chunk 0 row 11 (next id 6) in the exact run but chunk 1 row 10 (next id 7)") != std::string::npos);
  swapped = compact;
  swapped[2].next = 8;  // same place, another id: another corpus
  CHECK_THROWS_AS(compare_token_kls(exact, swapped, stats), Error);
  CHECK_THROWS_AS(compare_token_kls(exact, std::span<const KlTokenValue>(compact).first(2), stats), Error);

  // zero exact KL (a model against itself): 0 error when the compact one is 0 too, infinite otherwise
  const std::vector<KlTokenValue> zero = {{0, 1, 2, 0.0}};
  CHECK(compare_token_kls(zero, zero, stats).relative_mean_error == 0.0);
  const std::vector<KlTokenValue> off = {{0, 1, 2, 1e-9}};
  CHECK(std::isinf(compare_token_kls(zero, off, stats).relative_mean_error));
}

TEST_CASE("kl compact measure: pairs the exact path's and the cache path's per-token KLs on the fixture pair", "[kl]") {
  test::TempDir tmp("kl_compact_measure");
  std::mt19937 rng(11);
  std::uniform_int_distribution<TokenId> id(3, 511);
  std::vector<TokenId> ids(3 * 39);
  for (auto& x : ids) x = id(rng);
  const KlChunkPlan plan = plan_kl_chunks(ids, 2, {.ctx = 40});
  auto ref = CpuForward::open(test::gemma4_fixture("e_style"), CpuForwardOptions{.n_threads = 2});
  auto cand = CpuForward::open(test::gemma4_fixture("e_style_w4a16"), CpuForwardOptions{.n_threads = 2});
  const nlohmann::json identity = {{"corpus", {{"sha256", "corpus-sha"}}}, {"tokenizer_sha256", ""}};

  KlRunOptions options{.chunk_rows = 7};
  std::size_t user_tokens = 0;  // the caller's own on_token still sees the exact run
  options.on_token = [&](std::int64_t, std::int64_t, TokenId, const metrics::TokenKl&) { ++user_tokens; };
  std::vector<std::string> phases;
  const KlCompactMeasurement m = measure_kl_compact(
      *ref, *cand, plan, options,
      {.k = 64, .cache_file = tmp / "measured.safetensors", .identity = identity,
       .on_phase = [&](const std::string& line) { phases.push_back(line); }});
  CHECK(phases.size() == 2);
  CHECK_FALSE(m.written_on_device);
  CHECK_FALSE(m.compared_on_device);
  CHECK(m.k == 64);
  CHECK(m.method == kDefaultKlTailMethod);
  CHECK(m.cache_bytes == std::filesystem::file_size(tmp / "measured.safetensors"));

  // the existing exact path
  std::vector<KlTokenValue> exact;
  KlRunOptions eo{.chunk_rows = 7};
  record_token_kls(eo, exact);
  const KlRun exact_run = run_kl(*ref, *cand, plan, eo);
  // the existing cache path: the reference alone into a file, then the candidate against it
  {
    KlCompactCacheWriter w(tmp / "alone.safetensors", plan, 512, 64, identity);
    REQUIRE(write_kl_compact_cache(*ref, plan, w));
    w.finish();
  }
  CHECK(file_bytes(tmp / "alone.safetensors") == file_bytes(tmp / "measured.safetensors"));
  std::vector<KlTokenValue> compact;
  KlCompactRunStats stats;
  {
    const KlCompactCache cache(tmp / "alone.safetensors", plan, 512, identity["corpus"], "");
    CompactKlComparer comparer(cache, kDefaultKlTailMethod);
    CompactKlReference reference(comparer);
    KlRunOptions co;
    record_token_kls(co, compact);
    run_kl(reference, *cand, plan, co, &comparer);
    stats = comparer.stats();
  }

  REQUIRE(exact.size() == 3 * 19);
  CHECK(user_tokens == exact.size());
  REQUIRE(m.exact_tokens.size() == exact.size());
  REQUIRE(m.compact_tokens.size() == exact.size());
  double max_err = 0, sum_exact = 0, sum_compact = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    INFO("token " << i);
    CHECK(m.exact_tokens[i].chunk == exact[i].chunk);
    CHECK(m.exact_tokens[i].row == exact[i].row);
    CHECK(m.exact_tokens[i].next == exact[i].next);
    CHECK(m.exact_tokens[i].kl == exact[i].kl);  // same engine, same rows: bit for bit
    CHECK(m.compact_tokens[i].chunk == compact[i].chunk);
    CHECK(m.compact_tokens[i].row == compact[i].row);
    CHECK(m.compact_tokens[i].kl == compact[i].kl);
    CHECK(exact[i].chunk == compact[i].chunk);
    CHECK(exact[i].row == compact[i].row);
    max_err = std::max(max_err, std::abs(compact[i].kl - exact[i].kl));
    sum_exact += exact[i].kl;
    sum_compact += compact[i].kl;
  }
  CHECK(m.exact.acc.kl().mean() == exact_run.acc.kl().mean());
  CHECK(m.error.n_tokens == exact.size());
  CHECK(m.error.max_abs_token_error == max_err);
  CHECK(max_err > 0);  // K 64 of 512: a real tail, a real error
  CHECK(m.error.exact_mean == sum_exact / static_cast<double>(exact.size()));
  CHECK(m.error.compact_mean == sum_compact / static_cast<double>(exact.size()));
  CHECK(m.error.p_tail_max == stats.p_tail.max());
  CHECK(m.error.bounds_lower_mean == stats.kl_lower.mean());
  CHECK(m.error.bounds_contain_exact);
  WARN("e_style vs e_style_w4a16, K 64, chain-rule: mean KL exact " << m.error.exact_mean << " compact "
       << m.error.compact_mean << ", max |token error| " << max_err << ", max p_tail " << m.error.p_tail_max);
}
