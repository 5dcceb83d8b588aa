// run_kl_overlapped on two CUDA engines with GPU comparers: each engine on its own stream from its own thread,
// the reference's rows copied on its stream and compared on the candidate's, one chunk or a group of chunks per
// forward call. Equal to run_kl bit for bit.
#include "evals/kl_overlap.h"

#include "catch.h"
#include "evals/kl_device_comparer.h"
#include "forward/cuda/cuda_forward.h"
#include "forward/engine_options.h"
#include "model/fixture_util.h"
#include "test_paths.h"

using namespace qg;

TEST_CASE("kl overlapped on the CUDA engine: bit-identical to run_kl with the GPU comparer", "[gpu]") {
  std::vector<TokenId> corpus(7 * 127 + 5);
  for (std::size_t i = 0; i < corpus.size(); ++i) corpus[i] = static_cast<TokenId>(3 + (i * 131 + i / 7) % 500);
  const KlChunkPlan plan = plan_kl_chunks(corpus, 2, KlChunking{.ctx = 128});
  REQUIRE(plan.chunks.size() == 7);
  // Steps of 96 rows (a chunk over two steps), logits 16 rows at a time, fast precision (the benchmark's).
  const auto options = test::engine_options(96, GemmInputPrecision::kFast, 1024, 16);
  auto ref = CudaForward::open(test::gemma4_fixture("e_style"), options);
  auto cand = CudaForward::open(test::gemma4_fixture("e_style_w4a16"), options);
  auto record = [](std::vector<metrics::TokenKl>& out) {
    KlRunOptions o{.chunk_rows = 32};
    o.on_token = [&out](std::int64_t, std::int64_t, TokenId, const metrics::TokenKl& t) { out.push_back(t); };
    return o;
  };
  std::vector<metrics::TokenKl> seq, ovl;
  const auto one = device_kl_comparer();
  (void)run_kl(*ref, *cand, plan, record(seq), one.get());
  const auto even = device_kl_comparer(), odd = device_kl_comparer();
  // One chunk a call, or three (384 rows over four 96-row steps, the last group one chunk).
  const std::size_t per_call = GENERATE(1, 3);
  CAPTURE(per_call);
  const KlRun run = run_kl_overlapped(*ref, *cand, plan, record(ovl), *even, *odd, per_call);
  REQUIRE(seq.size() == 7 * 63);
  REQUIRE(ovl.size() == seq.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < seq.size(); ++i)
    differ += ovl[i].kl != seq[i].kl || ovl[i].kl_reverse != seq[i].kl_reverse || ovl[i].nll_ref != seq[i].nll_ref ||
              ovl[i].nll_cand != seq[i].nll_cand || ovl[i].top1_ref != seq[i].top1_ref ||
              ovl[i].top1_cand != seq[i].top1_cand;
  CHECK(differ == 0);
  CHECK(run.acc.kl().mean() > 0);
  CHECK(run.progress.chunks_done == 7);
}
