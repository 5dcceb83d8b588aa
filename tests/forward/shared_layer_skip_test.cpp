// Issue 11: rows that get no logits skip the KV-shared layers (forward/shared_layer_rows.h). The rows that do get
// logits must keep the same bits as when every row runs every layer: exact equality, no tolerance, in both
// precisions, with steps small enough that sequences are split over steps and packed together. The engine's
// shared_layer_rows_skipped() shows the cut happened (a test of equal bits alone would pass if it never did), and
// that it does not happen where it would not be exact (fast precision with attention by GEMMs, head dim 16).
#include <cstring>
#include <vector>

#include "catch.h"
#include "engine_options.h"
#include "forward/cuda/cuda_forward.h"
#include "forward_test_util.h"
#include "long_e_style_config.h"
#include "model/fixture_util.h"
#include "test_paths.h"

using namespace qg;
using namespace qg::test;

namespace {

// Logits of the rows each sequence asks for, [sequence][row * V + v] from its first asked row.
std::vector<std::vector<float>> score_from(Forward& f, const std::vector<std::vector<TokenId>>& batch,
                                          const std::vector<std::int64_t>& first) {
  std::vector<TokenSpan> spans(batch.begin(), batch.end());
  std::vector<std::vector<float>> out(batch.size());
  ScoreOptions so;
  so.chunk_rows = 16;
  so.first_logit_rows = first;
  f.score(spans, [&](const LogitsChunk& c) {
    REQUIRE(static_cast<std::int64_t>(out[c.sequence].size()) == (c.first_position - first[c.sequence]) * c.n_vocab);
    out[c.sequence].insert(out[c.sequence].end(), c.logits.begin(), c.logits.end());
  }, so);
  return out;
}

}  // namespace

TEST_CASE("cuda engine: rows without logits skip the KV-shared layers, with the same bits", "[gpu]") {
  struct Case {
    const char* what;
    bool fused_heads;
    GemmInputPrecision precision;
    bool skips;
  };
  const Case c = GENERATE(Case{"head dims 64/128, fast (fused attention)", true, GemmInputPrecision::kFast, true},
                          Case{"head dims 64/128, accurate", true, GemmInputPrecision::kAccurate, true},
                          Case{"head dims 16/32, accurate", false, GemmInputPrecision::kAccurate, true},
                          Case{"head dims 16/32, fast (attention by GEMMs: no cut)", false, GemmInputPrecision::kFast,
                               false});
  INFO(c.what);
  const CudaForwardOptions o = engine_options(256, c.precision, 2048, 64);
  auto gpu = CudaForward::synthetic(long_e_style_config(c.fused_heads), SyntheticWeights{.seed = 5}, o);
  const std::int64_t V = gpu->config().n_vocab;
  std::vector<std::vector<TokenId>> batch;
  for (int len : {300, 150, 7, 1, 130}) {
    std::vector<TokenId> s(static_cast<std::size_t>(len));
    for (int i = 0; i < len; ++i) s[static_cast<std::size_t>(i)] = i == 0 ? 2 : 3 + (i * 41 + len * 7) % 500;
    batch.push_back(s);
  }
  const auto every_row = score_all(*gpu, batch);
  CHECK(gpu->shared_layer_rows_skipped() == 0);  // every row wanted: nothing to skip

  // Unaligned first rows, a sequence split over two steps (300 rows in 256-row steps), one with no logits at all.
  const std::vector<std::int64_t> first{200, 129, 0, 1, 65};
  const auto asked = score_from(*gpu, batch, first);
  for (std::size_t b = 0; b < batch.size(); ++b) {
    INFO("sequence " << b << " of length " << batch[b].size() << " from row " << first[b]);
    const auto offset = static_cast<std::size_t>(first[b] * V);
    REQUIRE(asked[b].size() == every_row[b].size() - offset);
    CHECK(std::memcmp(asked[b].data(), every_row[b].data() + offset, asked[b].size() * sizeof(float)) == 0);
  }
  // Steps of 256 rows: [seq 0 rows 0..255], [seq 0 rows 256..299, seq 1, seq 2, seq 3] (202 rows; seq 4 does not
  // fit the rest and starts the next step), [seq 4]. Rows before each first row, cut at a multiple of 64 from the
  // span's start: 192 of seq 0's first span, 128 of seq 1, all of seq 3 (1), 64 of seq 4.
  CHECK(gpu->shared_layer_rows_skipped() == (c.skips ? 192 + 128 + 1 + 64 : 0));

  // A prefix encoded without logits runs none of its rows through the shared layers; its continuations are the
  // same bits as after a prefix whose rows all ran.
  const std::vector<TokenId> prefix(batch[0].begin(), batch[0].begin() + 190);
  const std::vector<TokenId> cont(batch[1].begin() + 1, batch[1].begin() + 40);
  auto continuation = [&](const PrefixHandle& h) {
    std::vector<float> got;
    const TokenSpan span(cont);
    gpu->score_continuations(h, std::span<const TokenSpan>(&span, 1), [&](const LogitsChunk& ch) {
      got.insert(got.end(), ch.logits.begin(), ch.logits.end());
    });
    return got;
  };
  std::int64_t prefix_rows = 0;
  const auto all_rows = continuation(gpu->encode_prefix(prefix, [&](const LogitsChunk& ch) { prefix_rows += ch.n_rows; }));
  CHECK(prefix_rows == 190);
  const std::int64_t before = gpu->shared_layer_rows_skipped();
  const auto no_logits = continuation(gpu->encode_prefix(prefix));
  CHECK((gpu->shared_layer_rows_skipped() - before) == (c.skips ? 190 : 0));
  REQUIRE(no_logits.size() == all_rows.size());
  CHECK(std::memcmp(no_logits.data(), all_rows.data(), all_rows.size() * sizeof(float)) == 0);
}
