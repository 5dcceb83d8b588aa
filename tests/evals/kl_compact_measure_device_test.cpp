// The GPU side of the compact reference cache's measurement and of `kl --save-ref-cache FILE --cand DIR` on one GPU,
// on the tiny fixture pair (e_style vs e_style_w4a16, CUDA engine):
//  - bench-engine --kl-compact-k (measure_kl_compact): the exact and compact per-token KLs it pairs are, token by
//    token and bit for bit, those of the existing exact path (run_kl with the device comparer) and of the existing
//    cache path (write_kl_compact_cache_device, then the device compact comparer), and its cache file is the
//    reference-only pass's, byte for byte. Bit for bit because the same kernels see the same logits: the engine
//    gives the same bits run to run and computes the head in --logits-rows blocks whatever the consumer's
//    chunk_rows, and every compaction/KL kernel works on one row per block.
//  - DeviceSavingKlReference (the logits stay on the GPU while the cache is written): the exact comparison is
//    unchanged and the file equals the reference-only pass's, byte for byte, although it hands the rows to the
//    writer in other groups (7 rows at a time here, 64 in the reference-only pass).
#include <fstream>
#include <iterator>
#include <random>

#include "catch.h"
#include "common/error.h"
#include "evals/kl_compact_device_comparer.h"
#include "evals/kl_compact_device_writer.h"
#include "evals/kl_compact_measure.h"
#include "evals/kl_device_comparer.h"
#include "forward/cuda/cuda_forward.h"
#include "model/fixture_util.h"
#include "test_paths.h"

using namespace qg;

namespace {
std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
KlChunkPlan fixture_plan() {
  std::mt19937 rng(12);
  std::uniform_int_distribution<TokenId> id(3, 511);
  std::vector<TokenId> ids(3 * 63);
  for (auto& x : ids) x = id(rng);
  return plan_kl_chunks(ids, 2, {.ctx = 64});
}
const nlohmann::json kIdentity = {{"corpus", {{"sha256", "corpus-sha"}}}, {"tokenizer_sha256", ""}};
constexpr std::int64_t kK = 64;  // of 512 ids: a real tail

// The existing cache path: the reference alone into `file` on the GPU.
void write_alone(Forward& ref, const KlChunkPlan& plan, const std::filesystem::path& file) {
  KlCompactCacheWriter w(file, plan, ref.config().n_vocab, kK, kIdentity);
  REQUIRE(write_kl_compact_cache_device(ref, plan, w));
  w.finish();
}
// The existing exact path with the device comparer.
std::vector<KlTokenValue> exact_tokens(Forward& ref, Forward& cand, const KlChunkPlan& plan, std::int64_t chunk_rows) {
  std::vector<KlTokenValue> out;
  KlRunOptions o{.chunk_rows = chunk_rows};
  record_token_kls(o, out);
  run_kl(ref, cand, plan, o, device_kl_comparer().get());
  return out;
}
void check_same(const std::vector<KlTokenValue>& got, const std::vector<KlTokenValue>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("token " << i);
    CHECK(got[i].chunk == want[i].chunk);
    CHECK(got[i].row == want[i].row);
    CHECK(got[i].next == want[i].next);
    CHECK(got[i].kl == want[i].kl);
  }
}
}  // namespace

TEST_CASE("kl compact measure on the GPU pairs the exact path's and the cache path's per-token KLs", "[gpu]") {
  test::TempDir tmp("kl_compact_measure_gpu");
  const KlChunkPlan plan = fixture_plan();
  auto ref = CudaForward::open(test::gemma4_fixture("e_style"));
  auto cand = CudaForward::open(test::gemma4_fixture("e_style_w4a16"));
  const std::int64_t chunk_rows = 512;  // what bench-engine passes (--logits-rows)
  const KlCompactMeasurement m = measure_kl_compact(*ref, *cand, plan, {.chunk_rows = chunk_rows},
                                                    {.k = kK, .cache_file = tmp / "measured.safetensors", .identity = kIdentity});
  CHECK(m.written_on_device);
  CHECK(m.compared_on_device);

  const auto exact = exact_tokens(*ref, *cand, plan, chunk_rows);
  REQUIRE(exact.size() == 3 * 31);
  check_same(m.exact_tokens, exact);

  write_alone(*ref, plan, tmp / "alone.safetensors");
  CHECK(file_bytes(tmp / "alone.safetensors") == file_bytes(tmp / "measured.safetensors"));
  std::vector<KlTokenValue> compact;
  {
    const KlCompactCache cache(tmp / "alone.safetensors", plan, 512, kIdentity["corpus"], "");
    const auto comparer = device_compact_kl_comparer(cache, kDefaultKlTailMethod);
    CompactKlReference reference(*comparer);
    KlRunOptions o{.chunk_rows = chunk_rows};
    record_token_kls(o, compact);
    run_kl(reference, *cand, plan, o, comparer.get());
  }
  check_same(m.compact_tokens, compact);

  double max_err = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) max_err = std::max(max_err, std::abs(compact[i].kl - exact[i].kl));
  CHECK(m.error.n_tokens == exact.size());
  CHECK(m.error.max_abs_token_error == max_err);
  CHECK(max_err > 0);
  CHECK(m.error.bounds_contain_exact);
  WARN("GPU, e_style vs e_style_w4a16, K 64, chain-rule: mean KL exact " << m.error.exact_mean << " compact "
       << m.error.compact_mean << ", max |token error| " << max_err << ", max p_tail " << m.error.p_tail_max
       << "; write " << m.write_seconds << " s, compare " << m.compare_seconds << " s, exact " << m.exact_seconds << " s");
}

TEST_CASE("kl --save-ref-cache with --cand on one GPU: rows compacted on the GPU, same file, same KL", "[gpu]") {
  test::TempDir tmp("kl_compact_tee_gpu");
  const KlChunkPlan plan = fixture_plan();
  auto ref = CudaForward::open(test::gemma4_fixture("e_style"));
  auto cand = CudaForward::open(test::gemma4_fixture("e_style_w4a16"));
  const auto exact = exact_tokens(*ref, *cand, plan, 512);
  write_alone(*ref, plan, tmp / "alone.safetensors");

  std::vector<KlTokenValue> got;
  {
    KlCompactCacheWriter w(tmp / "tee.safetensors", plan, 512, kK, kIdentity);
    const auto comparer = device_kl_comparer();
    LiveKlReference live(*ref, plan, {.chunk_rows = 7, .first_logit_row = plan.first_scored_row, .logits_on_device = true});
    DeviceSavingKlReference tee(live, plan, w);
    KlRunOptions o{.chunk_rows = 512};
    record_token_kls(o, got);
    const KlRun run = run_kl(tee, *cand, plan, o, comparer.get());
    CHECK_FALSE(run.partial);
    w.finish();
  }
  check_same(got, exact);  // the tee changes nothing in the exact comparison
  CHECK(file_bytes(tmp / "tee.safetensors") == file_bytes(tmp / "alone.safetensors"));

  // a comparer that wants host rows is refused (the rows would have to come down)
  KlCompactCacheWriter w(tmp / "refused.safetensors", plan, 512, kK, kIdentity);
  LiveKlReference live(*ref, plan, {.chunk_rows = 64, .first_logit_row = plan.first_scored_row});
  DeviceSavingKlReference tee(live, plan, w);
  const auto host = host_kl_comparer();
  host->begin_chunk(plan.scored_per_chunk, 512);
  CHECK_THROWS_AS(tee.fill(0, plan.chunks[0], *host), Error);
}
