// run_kl_overlapped (the reference one chunk ahead on a second thread) on the CPU engine: every token's result
// and the accumulated statistics equal run_kl's bit for bit, and errors or a stop on either side end the run
// without a hang. The GPU pair (device comparers, two streams): kl_overlap_device_test.cpp.
#include "evals/kl_overlap.h"

#include <atomic>

#include "catch.h"
#include "error_message.h"
#include "common/error.h"
#include "kl_fixture_inputs.h"

using namespace qg;
using qg::test::message_of;

namespace {
constexpr TokenId kBos = 2;

using test::random_fixture_ids;
std::unique_ptr<CpuForward> open_fixture(const std::string& name) { return test::open_cpu_fixture(name, 1); }

struct Token {
  std::int64_t chunk, row;
  TokenId next;
  metrics::TokenKl t;
};

KlRunOptions recording(std::vector<Token>& out) {
  KlRunOptions o{.chunk_rows = 16};
  o.on_token = [&out](std::int64_t c, std::int64_t r, TokenId n, const metrics::TokenKl& t) { out.push_back({c, r, n, t}); };
  return o;
}

// A model that throws on its `fail_at`-th score call (0-based) and otherwise is `inner`.
class FailingForward final : public Forward {
 public:
  FailingForward(Forward& inner, int fail_at) : inner_(inner), fail_at_(fail_at) {}
  const Gemma4TextConfig& config() const override { return inner_.config(); }
  std::string device() const override { return inner_.device(); }
  void score(std::span<const TokenSpan> batch, const LogitsConsumer& consume, const ScoreOptions& options) override {
    if (calls_++ == fail_at_) throw Error("synthetic engine failure");
    inner_.score(batch, consume, options);
  }
  PrefixHandle encode_prefix(TokenSpan, const LogitsConsumer&, const ScoreOptions&) override {
    throw Error("not used");
  }
  void score_continuations(const PrefixHandle&, std::span<const TokenSpan>, const LogitsConsumer&,
                           const ScoreOptions&) override {
    throw Error("not used");
  }
  int calls() const { return calls_.load(); }

 private:
  Forward& inner_;
  int fail_at_;
  std::atomic<int> calls_{0};
};
}  // namespace

TEST_CASE("kl overlapped: the same per-token results and statistics as run_kl, bit for bit", "[kl]") {
  auto ref = open_fixture("e_style");
  auto cand = open_fixture("e_style_w4a16");
  const auto plan = plan_kl_chunks(random_fixture_ids(5 * 63 + 11, 7), kBos, {.ctx = 64});
  REQUIRE(plan.chunks.size() == 5);  // odd: the last chunk uses the even comparer again
  std::vector<Token> seq, ovl;
  const KlRun a = run_kl(*ref, *cand, plan, recording(seq));
  const auto even = host_kl_comparer(), odd = host_kl_comparer();
  // 1 chunk a call, or groups of 2 or 3 (a short last group: 5 = 2 + 2 + 1 = 3 + 2).
  const std::size_t per_call = GENERATE(1, 2, 3);
  CAPTURE(per_call);
  int chunk_reports = 0;
  KlRunOptions o = recording(ovl);
  o.on_chunk = [&](const KlProgress& p) { CHECK(p.chunks_done == ++chunk_reports); };
  const KlRun b = run_kl_overlapped(*ref, *cand, plan, o, *even, *odd, per_call);
  REQUIRE(seq.size() == 5 * 31);
  REQUIRE(ovl.size() == seq.size());
  for (std::size_t i = 0; i < seq.size(); ++i) {
    INFO("token " << i);
    CHECK(ovl[i].chunk == seq[i].chunk);
    CHECK(ovl[i].row == seq[i].row);
    CHECK(ovl[i].next == seq[i].next);
    CHECK(ovl[i].t.kl == seq[i].t.kl);
    CHECK(ovl[i].t.kl_reverse == seq[i].t.kl_reverse);
    CHECK(ovl[i].t.nll_ref == seq[i].t.nll_ref);
    CHECK(ovl[i].t.nll_cand == seq[i].t.nll_cand);
    CHECK(ovl[i].t.top1_ref == seq[i].t.top1_ref);
    CHECK(ovl[i].t.top1_cand == seq[i].t.top1_cand);
  }
  CHECK(chunk_reports == 5);
  CHECK(b.acc.count() == a.acc.count());
  CHECK(b.acc.kl().mean() == a.acc.kl().mean());
  CHECK(b.acc.kl().max() == a.acc.kl().max());
  CHECK(b.acc.same_top1() == a.acc.same_top1());
  CHECK(b.progress.chunks_done == 5);
  CHECK(b.acc.kl().mean() > 0);  // two different models: a mix-up of chunks or comparers would show
  CHECK_FALSE(b.partial);
}

TEST_CASE("kl overlapped: a reference or candidate error is rethrown, a stop ends the run", "[kl]") {
  auto ref = open_fixture("e_style");
  auto cand = open_fixture("e_style_w4a16");
  const auto plan = plan_kl_chunks(random_fixture_ids(6 * 63, 8), kBos, {.ctx = 64});
  REQUIRE(plan.chunks.size() == 6);
  const auto even = host_kl_comparer(), odd = host_kl_comparer();
  SECTION("the reference fails on chunk 3: chunks 0-2 were compared, then its error") {
    FailingForward failing(*ref, 3);
    std::vector<Token> got;
    CHECK(message_of([&] { (void)run_kl_overlapped(failing, *cand, plan, recording(got), *even, *odd); }) ==
          "synthetic engine failure");
    CHECK(got.size() == 3 * 31);
  }
  SECTION("the candidate fails on chunk 1: the reference thread stops (at most 2 chunks ahead)") {
    FailingForward failing(*cand, 1);
    FailingForward counting(*ref, -1);
    std::vector<Token> got;
    CHECK(message_of([&] { (void)run_kl_overlapped(counting, failing, plan, recording(got), *even, *odd); }) ==
          "synthetic engine failure");
    CHECK(got.size() == 31);
    CHECK(counting.calls() <= 3);
  }
  SECTION("groups of two, the reference fails on its second call: chunks 0-1 were compared") {
    FailingForward failing(*ref, 1);
    std::vector<Token> got;
    CHECK(message_of([&] { (void)run_kl_overlapped(failing, *cand, plan, recording(got), *even, *odd, 2); }) ==
          "synthetic engine failure");
    CHECK(got.size() == 2 * 31);
  }
  SECTION("should_stop after two chunks: a partial run of two chunks") {
    int polls = 0;
    KlRunOptions o{.chunk_rows = 16};
    o.should_stop = [&] { return ++polls > 2; };
    FailingForward counting(*ref, -1);
    const KlRun run = run_kl_overlapped(counting, *cand, plan, o, *even, *odd);
    CHECK(run.partial);
    CHECK(run.progress.chunks_done == 2);
    CHECK(run.acc.count() == 2 * 31);
    CHECK(counting.calls() <= 4);
  }
}
