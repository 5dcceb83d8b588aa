// The exact two-pass mode (evals/kl_two_pass.h): bit-identical to the resident mode for every block size, models
// reopened per block, a buffer smaller than one chunk refused, Ctrl-C semantics kept.
#include "evals/kl_two_pass.h"


#include "catch.h"
#include "common/error.h"
#include "kl_fixture_inputs.h"
#include "test_paths.h"

using namespace qg;

namespace {
std::vector<TokenId> corpus_ids(int n) { return test::random_fixture_ids(n, 5); }
std::unique_ptr<Forward> open_fixture(const std::string& name) { return test::open_cpu_fixture(name); }
struct Collected {
  std::vector<metrics::TokenKl> tokens;
  std::vector<std::pair<std::int64_t, std::int64_t>> where;
};
KlRunOptions collect(Collected& c) {
  KlRunOptions o{.chunk_rows = 13};  // ragged callback chunks
  o.on_token = [&c](std::int64_t chunk, std::int64_t row, TokenId, const metrics::TokenKl& t) {
    c.tokens.push_back(t);
    c.where.emplace_back(chunk, row);
  };
  return o;
}
bool same_bits(const metrics::TokenKl& a, const metrics::TokenKl& b) {
  return a.kl == b.kl && a.kl_reverse == b.kl_reverse && a.nll_ref == b.nll_ref && a.nll_cand == b.nll_cand &&
         a.p_ref == b.p_ref && a.p_cand == b.p_cand && a.top1_ref == b.top1_ref && a.top1_cand == b.top1_cand;
}
}  // namespace

TEST_CASE("kl two-pass: bit-identical to the resident mode for every block size", "[kl]") {
  const KlChunkPlan plan = plan_kl_chunks(corpus_ids(5 * 39 + 3), 2, {.ctx = 40});
  REQUIRE(plan.chunks.size() == 5);
  auto ref = open_fixture("e_style");
  auto cand = open_fixture("e_style_w4a16");
  Collected resident;
  const KlRun want = run_kl(*ref, *cand, plan, collect(resident));
  REQUIRE(resident.tokens.size() == 5 * 19);
  const std::uint64_t chunk_bytes = 19 * 512 * 4;
  const double gib = 1024.0 * 1024.0 * 1024.0;
  for (const std::int64_t per_block : {1, 2, 3, 5}) {
    // a budget a little over per_block chunks
    const KlBlockPlan blocks = plan_kl_blocks(plan, 512, (static_cast<double>(per_block * chunk_bytes) + 100) / gib);
    REQUIRE(blocks.chunks_per_block == per_block);
    CHECK(blocks.n_blocks == (5 + per_block - 1) / per_block);
    int ref_opens = 0, cand_opens = 0;
    std::vector<std::string> phases;
    std::vector<std::size_t> saved;
    Collected got;
    const KlRun run = run_kl_two_pass([&] { ++ref_opens; return open_fixture("e_style"); },
                                      [&] { ++cand_opens; return open_fixture("e_style_w4a16"); }, plan, blocks,
                                      collect(got),
                                      {.on_reference_chunk = [&](std::size_t c, const float*) { saved.push_back(c); },
                                       .on_phase = [&](const std::string& s) { phases.push_back(s); }});
    INFO("chunks per block " << per_block);
    CHECK(ref_opens == blocks.n_blocks);
    CHECK(cand_opens == blocks.n_blocks);
    CHECK(phases.size() == static_cast<std::size_t>(2 * blocks.n_blocks));
    CHECK(saved == std::vector<std::size_t>{0, 1, 2, 3, 4});
    REQUIRE(got.tokens.size() == resident.tokens.size());
    CHECK(got.where == resident.where);
    for (std::size_t i = 0; i < got.tokens.size(); ++i) CHECK(same_bits(got.tokens[i], resident.tokens[i]));
    // the running stats too: same accumulation order
    CHECK(run.acc.kl().mean() == want.acc.kl().mean());
    CHECK(run.acc.kl().variance() == want.acc.kl().variance());
    CHECK(run.acc.nll_diff().mean() == want.acc.nll_diff().mean());
    CHECK(run.acc.same_top1() == want.acc.same_top1());
    CHECK(run.progress.chunks_done == 5);
    CHECK_FALSE(run.partial);
  }
}

TEST_CASE("kl two-pass: block plan errors and Ctrl-C", "[kl]") {
  const KlChunkPlan plan = plan_kl_chunks(corpus_ids(4 * 39), 2, {.ctx = 40});
  try {
    (void)plan_kl_blocks(plan, 512, 1e-6);  // 1 KiB < one chunk's 38 KiB
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("--ref-buffer-gb 1e-06 holds less than one chunk's reference rows (19 scored rows x 512 logits") !=
          std::string::npos);
    CHECK(m.find("use --ref-buffer-gb 0.0001 or more") != std::string::npos);
  }
  CHECK_THROWS_AS(plan_kl_blocks(plan, 512, 0), Error);
  CHECK_THROWS_AS(plan_kl_blocks(plan, 512, -1), Error);
  CHECK(plan_kl_blocks(plan, 512, 100).n_blocks == 1);  // a big buffer: one block of every chunk
  CHECK(plan_kl_blocks(plan, 512, 100).chunks_per_block == 4);

  // Stop polled before every chunk of either pass: stopping at the 4th poll (chunks 0 and 1 reference, chunk 0
  // compared, chunk 1 not) leaves one chunk done.
  const KlBlockPlan blocks = plan_kl_blocks(plan, 512, 2.5 * 19 * 512 * 4 / (1024.0 * 1024.0 * 1024.0));
  REQUIRE(blocks.chunks_per_block == 2);
  int polls = 0;
  KlRunOptions o;
  o.should_stop = [&] { return ++polls > 3; };
  const KlRun run = run_kl_two_pass([] { return open_fixture("e_style"); }, [] { return open_fixture("e_style_w4a16"); },
                                    plan, blocks, o);
  CHECK(run.partial);
  CHECK(run.progress.chunks_done == 1);
  CHECK(run.acc.count() == 19);
  // stopped during the second block's reference pass: the first block's two chunks are reported
  polls = 0;
  o.should_stop = [&] { return ++polls > 5; };
  const KlRun run2 = run_kl_two_pass([] { return open_fixture("e_style"); }, [] { return open_fixture("e_style_w4a16"); },
                                     plan, blocks, o);
  CHECK(run2.partial);
  CHECK(run2.progress.chunks_done == 2);
}
