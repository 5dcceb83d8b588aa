// The compact reference cache (evals/kl_compact_cache.h) end to end on the tiny fixtures: a run from the cache
// equals the exact run in every exact field, its KL error is measured on every fixture pair (e_style vs its W4A16
// checkpoint, and e_style / moe_style vs W4A16 (group 16) and W8A16 (per channel) quantizations made here by our
// quantizer) and held
// under the bound the report prints; mismatched runs are refused naming the file.
#include "evals/kl_compact_cache.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "catch.h"
#include "error_message.h"
#include "common/error.h"
#include "evals/kl_two_pass.h"
#include "forward/cpu/cpu_forward.h"
#include "model/fixture_util.h"
#include "model/gemma4_quantize.h"
#include "test_paths.h"

using namespace qg;
using qg::test::message_of;

namespace {
std::vector<TokenId> corpus_ids(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<TokenId> id(3, 511);
  std::vector<TokenId> ids(static_cast<std::size_t>(n));
  for (auto& x : ids) x = id(rng);
  return ids;
}
std::unique_ptr<Forward> open_model(const std::filesystem::path& dir) {
  return CpuForward::open(dir, CpuForwardOptions{.n_threads = 2});
}
KlRunOptions collect(std::vector<metrics::TokenKl>& into) {
  KlRunOptions o;
  o.on_token = [&into](std::int64_t, std::int64_t, TokenId, const metrics::TokenKl& t) { into.push_back(t); };
  return o;
}
const nlohmann::json kCorpusId = {{"sha256", "corpus-sha"}};

struct CompactRun {
  std::vector<metrics::TokenKl> tokens;
  KlCompactRunStats stats;
};
CompactRun run_from_cache(const std::filesystem::path& file, Forward& cand, const KlChunkPlan& plan,
                          metrics::KlTailMethod method) {
  const KlCompactCache cache(file, plan, cand.config().n_vocab, kCorpusId, "");
  CompactKlComparer comparer(cache, method);
  CompactKlReference reference(comparer);
  CompactRun r;
  run_kl(reference, cand, plan, collect(r.tokens), &comparer);
  r.stats = comparer.stats();
  return r;
}
}  // namespace

TEST_CASE("kl compact cache: exact fields bit-identical, KL error measured on every fixture pair", "[kl]") {
  test::TempDir tmp("kl_compact");
  // The pairs: the committed W4A16 fixture, and quantizations of two other architectures made here.
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> pairs = {
      {test::gemma4_fixture("e_style"), test::gemma4_fixture("e_style_w4a16")}};
  for (const char* name : {"e_style", "moe_style"})  // (all_features is F32: RTN takes BF16/F16 only)
    for (const char* scheme : {"W4A16", "W8A16"}) {
      const auto out = tmp / (std::string(name) + "_" + scheme);
      // group 16: the fixtures' 16- and 96-wide layers take no group of 128; W8A16 per channel for variety
      quantize_gemma4_checkpoint(test::gemma4_fixture(name), out,
                                 {.scheme = scheme, .group_size = std::string(scheme) == "W4A16" ? 16 : -1});
      pairs.emplace_back(test::gemma4_fixture(name), out);
    }
  const KlChunkPlan plan = plan_kl_chunks(corpus_ids(3 * 63, 9), 2, {.ctx = 64});
  double worst_token_over_tail = 0, worst_mean_rel = 0;
  for (const auto& [ref_dir, cand_dir] : pairs) {
    auto ref = open_model(ref_dir);
    auto cand = open_model(cand_dir);
    std::vector<metrics::TokenKl> exact;
    const KlRun exact_run = run_kl(*ref, *cand, plan, collect(exact));
    for (const std::int64_t k : {16, 64, 256, 512}) {
      const auto file = tmp / fmt::format("{}_{}.safetensors", cand_dir.filename().string(), k);
      KlCompactCacheWriter writer(file, plan, 512, k, {{"corpus", kCorpusId}, {"tokenizer_sha256", ""}});
      REQUIRE(write_kl_compact_cache(*ref, plan, writer));
      const std::uint64_t bytes = writer.finish();
      // 8K + 52 bytes a scored token, plus the chunks' ids and the header
      CHECK(bytes >= static_cast<std::uint64_t>(exact.size() * (8 * k + 52)));
      CHECK(bytes <= static_cast<std::uint64_t>(exact.size() * (8 * k + 52) + 3 * 64 * 4 + 8192));
      for (const auto method : {metrics::KlTailMethod::kProportional, metrics::KlTailMethod::kLogSum,
                                metrics::KlTailMethod::kChainRule}) {
        const CompactRun got = run_from_cache(file, *cand, plan, method);
        REQUIRE(got.tokens.size() == exact.size());
        double sum_exact = 0, sum_got = 0, max_err = 0, max_err_over_tail = 0;
        for (std::size_t i = 0; i < exact.size(); ++i) {
          const auto& e = exact[i];
          const auto& g = got.tokens[i];
          CHECK(g.nll_ref == e.nll_ref);
          CHECK(g.nll_cand == e.nll_cand);
          CHECK(g.p_ref == e.p_ref);
          CHECK(g.p_cand == e.p_cand);
          CHECK(g.top1_ref == e.top1_ref);
          CHECK(g.top1_cand == e.top1_cand);
          sum_exact += e.kl;
          sum_got += g.kl;
          max_err = std::max(max_err, std::abs(g.kl - e.kl));
        }
        const double p_tail_max = got.stats.p_tail.max();
        if (p_tail_max > 0) max_err_over_tail = max_err / p_tail_max;
        const double mean_rel = std::abs(sum_got - sum_exact) / sum_exact;
        // the rigorous interval holds the exact mean
        CHECK(got.stats.kl_lower.mean() <= exact_run.acc.kl().mean() + 1e-12);
        CHECK(got.stats.kl_upper.mean() >= exact_run.acc.kl().mean() - 1e-12);
        if (k == 512) {  // no tail: exact up to the order of 512 double terms
          CHECK(max_err <= 1e-12 * std::max(1.0, sum_exact));
        } else if (k == 256 && method == kDefaultKlTailMethod) {  // the defaults the printed bound is about
          worst_token_over_tail = std::max(worst_token_over_tail, max_err_over_tail);
          worst_mean_rel = std::max(worst_mean_rel, mean_rel);
        }
        WARN(cand_dir.filename().string() << " K " << k << " " << metrics::kl_tail_method_name(method)
                                          << ": mean KL exact " << sum_exact / exact.size() << " compact "
                                          << sum_got / exact.size() << " (rel err " << mean_rel << "), max |err| "
                                          << max_err << ", p_tail mean " << got.stats.p_tail.mean() << " max "
                                          << p_tail_max << ", bytes/token "
                                          << static_cast<double>(bytes) / static_cast<double>(exact.size()));
      }
    }
  }
  WARN("K 256, default method: worst max|err|/max p_tail " << worst_token_over_tail << ", worst relative mean error "
                                                    << worst_mean_rel);
  // what the report prints as the measured error must cover what was measured here
  CHECK(worst_token_over_tail <= kKlCompactMeasuredTokenError);
  CHECK(worst_mean_rel <= kKlCompactMeasuredMeanError);
}

TEST_CASE("kl compact cache: identical models give exactly 0; mismatches are refused naming the file", "[kl]") {
  test::TempDir tmp("kl_compact_refuse");
  const KlChunkPlan plan = plan_kl_chunks(corpus_ids(2 * 47, 4), 2, {.ctx = 48});
  auto ref = open_model(test::gemma4_fixture("e_style"));
  const auto file = tmp / "ref.safetensors";
  {
    KlCompactCacheWriter writer(file, plan, 512, 32,
                                {{"corpus", kCorpusId}, {"tokenizer_sha256", "tok-sha"}, {"reference", "e_style"}});
    REQUIRE(write_kl_compact_cache(*ref, plan, writer));
    writer.finish();
  }
  REQUIRE(std::filesystem::is_regular_file(file));
  CHECK_FALSE(std::filesystem::exists(tmp / "ref.safetensors.partial.safetensors"));
  CHECK(is_compact_ref_cache_path(file));
  CHECK(is_compact_ref_cache_path(tmp / "new.safetensors"));
  CHECK_FALSE(is_compact_ref_cache_path(tmp.path()));

  {  // against itself: exactly 0 (the tail sums cancel term for term)
    const KlCompactCache cache(file, plan, 512, kCorpusId, "tok-sha");
    CHECK(cache.k() == 32);
    CHECK(cache.header()["reference"] == "e_style");
    CompactKlComparer comparer(cache, kDefaultKlTailMethod);
    CompactKlReference reference(comparer);
    std::vector<metrics::TokenKl> got;
    const KlRun run = run_kl(reference, *ref, plan, collect(got), &comparer);
    REQUIRE(got.size() == 2 * 23);
    CHECK(run.acc.kl().max() == 0.0);
    CHECK(run.acc.kl().min() == 0.0);
    CHECK(run.acc.kl_reverse().max() == 0.0);
    CHECK(run.acc.same_top1() == run.acc.count());
  }
  auto refused = [&](const std::function<void()>& f, const std::string& part) {
    const std::string m = message_of(f);
    INFO(m);
    CHECK(m.find(part) != std::string::npos);
    CHECK(m.find(file.string()) != std::string::npos);
  };
  refused([&] { KlCompactCache(file, plan, 512, kCorpusId, "other-tok"); }, "another tokenizer");
  refused([&] { KlCompactCache(file, plan, 512, {{"sha256", "other"}}, "tok-sha"); }, "another corpus");
  refused([&] { KlCompactCache(file, plan, 1024, kCorpusId, "tok-sha"); }, "n_vocab = 512, this run needs 1024");
  refused([&] { KlCompactCache(file, plan_kl_chunks(corpus_ids(2 * 47, 4), 2, {.ctx = 40}), 512, kCorpusId, "tok-sha"); },
          "ctx = 48, this run needs 40");
  refused([&] { KlCompactCache(file, plan_kl_chunks(corpus_ids(2 * 47, 4), 2, {.ctx = 48, .score_from = 10}), 512,
                               kCorpusId, "tok-sha"); },
          "first_scored_row = 24, this run needs 10");
  refused([&] { KlCompactCache(file, plan_kl_chunks(corpus_ids(3 * 47, 4), 2, {.ctx = 48}), 512, kCorpusId, "tok-sha"); },
          "holds 2 chunks, this run needs 3");
  refused([&] { KlCompactCache(file, plan_kl_chunks(corpus_ids(2 * 48, 4), 2, {.ctx = 48, .llama_cpp_compat = true}),
                               512, kCorpusId, "tok-sha"); },
          "chunking");
  // same geometry, other ids (a corpus file with the same sha256 cannot do this; a token file edited can)
  auto other_ids = corpus_ids(2 * 47, 4);
  other_ids[3] = 7;
  const KlChunkPlan other = plan_kl_chunks(other_ids, 2, {.ctx = 48});
  const KlCompactCache cache(file, other, 512, kCorpusId, "tok-sha");
  CompactKlComparer comparer(cache, kDefaultKlTailMethod);
  CompactKlReference reference(comparer);
  refused([&] { run_kl(reference, *ref, other, {}, &comparer); }, "other token ids");
  // not a cache
  const std::string not_cache =
      message_of([&] { KlCompactCache(test::gemma4_fixture("e_style") / "model.safetensors", plan, 512, kCorpusId, ""); });
  CHECK(not_cache.find("e_style/model.safetensors: not a quantgate reference cache") != std::string::npos);
  (void)file;
}

TEST_CASE("kl compact cache: saved during an exact run (resident and two-pass) equals the reference-only pass", "[kl]") {
  test::TempDir tmp("kl_compact_save");
  const KlChunkPlan plan = plan_kl_chunks(corpus_ids(3 * 39, 6), 2, {.ctx = 40});
  auto ref = open_model(test::gemma4_fixture("e_style"));
  auto cand = open_model(test::gemma4_fixture("e_style_w4a16"));
  const nlohmann::json id = {{"corpus", kCorpusId}, {"tokenizer_sha256", ""}};
  {
    KlCompactCacheWriter w(tmp / "alone.safetensors", plan, 512, 64, id);
    REQUIRE(write_kl_compact_cache(*ref, plan, w));
    w.finish();
  }
  std::vector<metrics::TokenKl> live, tee_tokens;
  run_kl(*ref, *cand, plan, collect(live));
  {  // resident: the tee
    KlCompactCacheWriter w(tmp / "tee.safetensors", plan, 512, 64, id);
    auto comparer = host_kl_comparer();
    LiveKlReference inner(*ref, plan, {.chunk_rows = 7, .first_logit_row = plan.first_scored_row});
    SavingKlReference saving(inner, w);
    run_kl(saving, *cand, plan, collect(tee_tokens), comparer.get());
    w.finish();
  }
  {  // two-pass: the reference-chunk hook
    KlCompactCacheWriter w(tmp / "two_pass.safetensors", plan, 512, 64, id);
    run_kl_two_pass([] { return open_model(test::gemma4_fixture("e_style")); },
                    [] { return open_model(test::gemma4_fixture("e_style_w4a16")); }, plan,
                    plan_kl_blocks(plan, 512, 2.5 * 19 * 512 * 4 / (1024.0 * 1024.0 * 1024.0)), {},
                    {.on_reference_chunk = [&](std::size_t c, const float* rows) { w.add_rows(c, rows, 0, 19); }});
    w.finish();
  }
  REQUIRE(tee_tokens.size() == live.size());
  for (std::size_t i = 0; i < live.size(); ++i) CHECK(tee_tokens[i].kl == live[i].kl);  // the tee changes nothing
  const auto a = run_from_cache(tmp / "alone.safetensors", *cand, plan, kDefaultKlTailMethod);
  for (const char* name : {"tee.safetensors", "two_pass.safetensors"}) {
    const auto b = run_from_cache(tmp / name, *cand, plan, kDefaultKlTailMethod);
    REQUIRE(b.tokens.size() == a.tokens.size());
    for (std::size_t i = 0; i < a.tokens.size(); ++i) CHECK(b.tokens[i].kl == a.tokens[i].kl);
  }
  // an incomplete writer leaves no file
  {
    KlCompactCacheWriter w(tmp / "partial.safetensors", plan, 512, 64, id);
    int polls = 0;
    CHECK_FALSE(write_kl_compact_cache(*ref, plan, w, [&] { return ++polls > 1; }));
    CHECK_THROWS_AS(w.finish(), Error);
  }
  CHECK_FALSE(std::filesystem::exists(tmp / "partial.safetensors"));
  CHECK_FALSE(std::filesystem::exists(tmp / "partial.safetensors.partial.safetensors"));
}
