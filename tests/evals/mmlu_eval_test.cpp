// [mmlu] the driver end to end on the tiny e_style fixture (vocab 512) with the tiny512 byte-level
// tokenizer (tests/fixtures/text/tiny512, ids < 512; scripts/make_tiny512_tokenizer.py) copied beside a
// copy of the checkpoint: prefix reuse, batch-size invariance, truncation, multi-token choices, recovery.
#include <cmath>
#include <memory>

#include "catch.h"
#include "common/error.h"
#include "evals/mmlu_data.h"
#include "evals/mmlu_eval.h"
#include "evals/mmlu_prompts.h"
#include "forward/cpu/cpu_forward.h"
#include "metrics/mmlu_score.h"
#include "test_paths.h"

using namespace qg;
using namespace qg::evals;

namespace {
std::filesystem::path model_with_tokenizer(const qg::test::TempDir& tmp, const std::string& fixture) {
  const auto dir = tmp / fixture;
  std::filesystem::create_directories(dir);
  for (const auto& e : std::filesystem::directory_iterator(qg::test::fixtures_dir() / "gemma4" / fixture))
    if (e.is_regular_file()) std::filesystem::copy_file(e.path(), dir / e.path().filename());
  std::filesystem::copy_file(qg::test::fixtures_dir() / "text" / "tiny512" / "tokenizer.json", dir / "tokenizer.json");
  return dir;
}

// lm-eval's loglikelihood of one choice, computed directly: whole (possibly truncated) input, one forward.
double direct_loglik(Forward& f, const MmluRequest& r, int choice, std::size_t max_len) {
  std::vector<TokenId> all = r.context_ids;
  const auto& cont = r.continuation_ids[choice];
  all.insert(all.end(), cont.begin(), cont.end());
  if (all.size() > max_len + 1) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(max_len + 1));
  all.pop_back();
  const std::int64_t first = static_cast<std::int64_t>(all.size() - cont.size());
  double ll = 0;
  f.score(TokenSpan(all), [&](const LogitsChunk& c) {
    for (std::int64_t i = 0; i < c.n_rows; ++i) {
      const std::int64_t t = c.first_position + i - first;
      if (t >= 0) ll += log_prob(c.row(i), cont[static_cast<std::size_t>(t)]);
    }
  });
  return ll;
}
}  // namespace

TEST_CASE("MMLU driver: tiny model, prefix reuse, batch invariance, truncation, recovery", "[mmlu]") {
  qg::test::TempDir tmp("mmlu_eval");
  const auto cand_dir = model_with_tokenizer(tmp, "e_style");
  const auto tok = text::Tokenizer::load(cand_dir);
  const auto data = load_mmlu(qg::test::shared_datasets_dir() / "mmlu", {"abstract_algebra", "world_religions"}, 4);
  MmluTokenization info;
  const auto reqs = build_mmlu_requests(data, tok, {0, false, false}, &info);
  REQUIRE(reqs.size() == 8);
  REQUIRE(info.single_token_choices);  // " A".." D" are single tokens in tiny512
  for (const auto& r : reqs)
    for (TokenId id : r.context_ids) REQUIRE(id < 512);

  auto f = CpuForward::open(cand_dir, {.n_threads = 2});
  MmluEvalStats st;
  const auto a = run_mmlu(*f, reqs, {.batch_size = 16}, &st);
  CHECK(st.questions == 8);
  CHECK(st.truncated == 0);
  CHECK(st.prefix_tokens_reused > 0);
  CHECK(st.max_len == 256);

  SECTION("batch size does not change a bit; prefix reuse matches whole-sequence scoring") {
    const auto b = run_mmlu(*f, reqs, {.batch_size = 1});
    const auto c = run_mmlu(*f, reqs, {.batch_size = 3, .reuse_prefix = false});
    const auto d = run_mmlu(*f, reqs, {.batch_size = 5});
    const auto e = run_mmlu(*f, reqs, {.batch_size = 7});
    for (std::size_t q = 0; q < reqs.size(); ++q) {
      CHECK(a[q].subject == reqs[q].subject);
      CHECK(a[q].gold == reqs[q].gold);
      for (int k = 0; k < 4; ++k) {
        CHECK(std::isfinite(a[q].loglik[k]));
        CHECK(a[q].loglik[k] < 0);
        CHECK(a[q].loglik[k] == b[q].loglik[k]);  // bit-identical at batch 16, 1, 5 and 7
        CHECK(a[q].loglik[k] == d[q].loglik[k]);
        CHECK(a[q].loglik[k] == e[q].loglik[k]);
        // Without the reused prefix the prefix rows are recomputed in another GEMM: fp32 rounding, not bits.
        CHECK(a[q].loglik[k] == Approx(c[q].loglik[k]).margin(1e-4));
      }
      CHECK(a[q].pred == b[q].pred);
    }
    for (int k = 0; k < 4; ++k) CHECK(a[5].loglik[k] == Approx(direct_loglik(*f, reqs[5], k, 256)).margin(1e-4));
  }

  SECTION("left truncation to --max-len, counted, as lm-eval's [-(max_len+1):][:-1]") {
    MmluEvalStats ts;
    const auto t = run_mmlu(*f, reqs, {.max_len = 24, .batch_size = 4}, &ts);
    CHECK(ts.truncated == 8);
    CHECK(ts.truncated_tokens > 0);
    for (std::size_t q : {0u, 7u})
      for (int k = 0; k < 4; ++k) CHECK(t[q].loglik[k] == Approx(direct_loglik(*f, reqs[q], k, 24)).margin(1e-4));
    CHECK_THROWS_AS(run_mmlu(*f, reqs, {.max_len = 100000}), qg::Error);
  }

  SECTION("multi-token continuations are scored in full") {
    auto multi = std::vector<MmluRequest>(reqs.begin(), reqs.begin() + 3);
    for (auto& r : multi)
      for (int k = 0; k < 4; ++k) r.continuation_ids[k] = {static_cast<TokenId>(100 + k), r.continuation_ids[k][0]};
    MmluEvalStats ms;
    const auto m = run_mmlu(*f, multi, {.batch_size = 5}, &ms);
    CHECK_FALSE(ms.single_token_choices);
    CHECK(ms.sequences == 12);
    for (std::size_t q = 0; q < multi.size(); ++q)
      for (int k = 0; k < 4; ++k) CHECK(m[q].loglik[k] == Approx(direct_loglik(*f, multi[q], k, 256)).margin(1e-4));
    const auto m1 = run_mmlu(*f, multi, {.batch_size = 1});
    for (std::size_t q = 0; q < multi.size(); ++q)
      for (int k = 0; k < 4; ++k) CHECK(m[q].loglik[k] == m1[q].loglik[k]);
  }

  SECTION("ref = cand gives recovery exactly 1; the W4A16 candidate gives a finite recovery") {
    auto ref = CpuForward::open(cand_dir, {.n_threads = 2});
    const auto r = run_mmlu(*ref, reqs);
    std::unique_ptr<bool[]> rc(new bool[8]), cc(new bool[8]);
    for (std::size_t i = 0; i < 8; ++i) rc[i] = r[i].correct, cc[i] = a[i].correct;
    const std::span<const bool> rs(rc.get(), 8), cs(cc.get(), 8);
    std::size_t right = 0;
    for (std::size_t i = 0; i < 8; ++i) right += rc[i];
    if (right > 0) {
      const auto rec = metrics::mmlu_recovery(rs, cs, 200, 1);
      CHECK(rec.recovery == 1.0);
      CHECK(rec.ci_low == 1.0);
      CHECK(rec.ci_high == 1.0);
    }
    const auto acc = metrics::aggregate_mmlu(a, {{"abstract_algebra", "stem"}, {"world_religions", "humanities"}});
    CHECK(acc.overall.n == 8);
    CHECK(acc.groups.size() == 2);
  }
}

TEST_CASE("MMLU driver: should_stop ends the run after whole subjects, with a prefix of the questions", "[mmlu]") {
  qg::test::TempDir tmp("mmlu_stop");
  const auto dir = model_with_tokenizer(tmp, "e_style");
  const auto tok = text::Tokenizer::load(dir);
  const auto data = load_mmlu(qg::test::shared_datasets_dir() / "mmlu", {"abstract_algebra", "anatomy", "world_religions"}, 2);
  const auto reqs = build_mmlu_requests(data, tok, {0, false, false}, nullptr);
  REQUIRE(reqs.size() == 6);
  auto f = CpuForward::open(dir, {.n_threads = 2});
  const auto all = run_mmlu(*f, reqs);
  int polls = 0;
  MmluEvalOptions o;
  o.should_stop = [&] { return ++polls > 2; };  // two subjects run, the third is not started
  const auto part = run_mmlu(*f, reqs, o);
  REQUIRE(part.size() == 4);
  for (std::size_t q = 0; q < part.size(); ++q) {
    CHECK(part[q].subject == all[q].subject);
    CHECK(part[q].loglik == all[q].loglik);
  }
}
