// The Forward contract on the CPU reference: prefix reuse equals scoring in one go, a batch equals its
// sequences scored alone, chunking/skipping rows/threads/weight streaming change nothing, the hook
// reports every activation, and bad input is an error naming what is wrong.
#include <cmath>
#include <cstdio>
#include <fstream>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors_test_util.h"
#include "forward/cpu/cpu_forward.h"
#include "forward_test_util.h"
#include "model/fixture_util.h"
#include "synthetic_model.h"

using namespace qg;
using namespace qg::test;

namespace {

std::vector<TokenId> some_ids(std::size_t n, TokenId vocab, std::uint32_t seed) {
  std::vector<TokenId> ids{2};
  std::uint32_t x = seed;
  while (ids.size() < n) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(static_cast<TokenId>(3 + (x >> 8) % static_cast<std::uint32_t>(vocab - 3)));
  }
  return ids;
}

std::vector<float> rows_of(const std::vector<float>& logits, std::int64_t first, std::int64_t count,
                           std::int64_t width) {
  return {logits.begin() + first * width, logits.begin() + (first + count) * width};
}

template <typename Fn>
void require_error_containing(Fn&& fn, const std::string& part) {
  try {
    fn();
  } catch (const Error& e) {
    INFO("error was: " << e.what());
    CHECK(std::string(e.what()).find(part) != std::string::npos);
    return;
  }
  FAIL("expected a qg::Error containing '" << part << "'");
}

}  // namespace

// Prefix reuse: the continuation rows see the prefix's K/V, the same numbers either way. What differs is
// how many rows each GEMM has (Eigen picks GEMV, small-product or blocked GEMM paths by shape, each with
// its own fp32 summation order) and, in MoE layers, which tokens share an expert GEMM. That is fp32
// rounding noise: measured up to 1.8e-5 on O(5) logits, the size of transformers' own fp32-vs-fp64
// difference (<= 3.8e-5, see forward_golden_test.cpp). 5e-5 allows it; a wrong position, K/V row or mask
// is O(0.1) or more.
TEST_CASE("forward: a reused prefix gives the logits of scoring prefix + continuation in one go",
          "[forward]") {
  const std::string name = GENERATE("all_features", "e_style", "moe_style");
  INFO("fixture " << name);
  auto f = CpuForward::open(gemma4_fixture(name));
  const std::int64_t V = f->config().n_vocab;
  const auto full = some_ids(40, static_cast<TokenId>(V), 7);
  const std::int64_t n_prefix = 13;  // longer than the sliding window (8)
  const std::vector<TokenId> prefix(full.begin(), full.begin() + n_prefix);
  const std::vector<std::vector<TokenId>> conts = {{full.begin() + n_prefix, full.end()},
                                                   {full[n_prefix]},
                                                   {full.begin() + n_prefix, full.begin() + n_prefix + 9}};

  const auto one_go = score_one(*f, full);
  std::vector<float> prefix_logits;
  const PrefixHandle handle = f->encode_prefix(prefix, [&](const LogitsChunk& c) {
    CHECK(c.sequence == 0);
    prefix_logits.insert(prefix_logits.end(), c.logits.begin(), c.logits.end());
  });
  REQUIRE(handle->n_tokens() == n_prefix);
  CHECK(compare_rows(prefix_logits, rows_of(one_go, 0, n_prefix, V), V).max_abs <= 5e-5);

  std::vector<std::vector<float>> got(conts.size());
  std::vector<TokenSpan> spans(conts.begin(), conts.end());
  f->score_continuations(
      handle, spans,
      [&](const LogitsChunk& c) {
        CHECK(c.first_position >= n_prefix);  // absolute positions
        auto& dst = got.at(c.sequence);
        CHECK(static_cast<std::int64_t>(dst.size()) == (c.first_position - n_prefix) * V);
        dst.insert(dst.end(), c.logits.begin(), c.logits.end());
      },
      ScoreOptions{.chunk_rows = 4});
  double worst = 0;
  for (std::size_t i = 0; i < conts.size(); ++i) {
    const auto n = static_cast<std::int64_t>(conts[i].size());
    const Diff d = compare_rows(got[i], rows_of(one_go, n_prefix, n, V), V);
    worst = std::max(worst, d.max_abs);
    CHECK(d.argmax_mismatches == 0);
  }
  std::printf("forward prefix reuse %-12s max|diff| %.2e\n", name.c_str(), worst);
  CHECK(worst <= 5e-5);

  // The handle is reusable and unchanged by use.
  std::vector<float> again;
  f->score_continuations(handle, std::span<const TokenSpan>(spans.data(), 1), [&](const LogitsChunk& c) {
    again.insert(again.end(), c.logits.begin(), c.logits.end());
  });
  CHECK(again == got[0]);
}

TEST_CASE("forward: a ragged batch equals each sequence scored alone", "[forward]") {
  auto f = CpuForward::open(gemma4_fixture("all_features"));
  const std::vector<std::vector<TokenId>> batch = {some_ids(17, 512, 1), some_ids(1, 512, 2),
                                                   some_ids(30, 512, 3)};
  const auto together = score_all(*f, batch);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    INFO("sequence " << i);
    CHECK(together[i] == score_one(*f, batch[i]));  // same shapes per sequence: bit-identical
  }
}

// Same maths, other GEMM shapes (the head with 1 row is a GEMV, with 7 a small GEMM): measured 1.4e-6.
TEST_CASE("forward: chunk size, skipped rows, threads and weight streaming change nothing", "[forward]") {
  const std::string name = GENERATE("all_features", "moe_style");
  INFO("fixture " << name);
  const auto ids = some_ids(29, 512, 11);
  auto f = CpuForward::open(gemma4_fixture(name), CpuForwardOptions{.n_threads = 2});
  const std::int64_t V = f->config().n_vocab;
  const auto reference = score_one(*f, ids);

  // Chunks of 1, 7 and larger than the sequence: same rows (the head GEMM sees other row counts).
  for (std::int64_t chunk : {1, 7, 1000}) {
    INFO("chunk_rows " << chunk);
    CHECK(compare_rows(score_one(*f, ids, ScoreOptions{.chunk_rows = chunk}), reference, V).max_abs <= 1e-5);
  }
  // Skipped rows get no logits; the rest are unchanged.
  std::int64_t first_seen = -1, rows_seen = 0;
  f->score(
      TokenSpan(ids),
      [&](const LogitsChunk& c) {
        if (first_seen < 0) first_seen = c.first_position;
        rows_seen += c.n_rows;
      },
      ScoreOptions{.chunk_rows = 5, .first_logit_row = 20});
  CHECK(first_seen == 20);
  CHECK(rows_seen == 9);
  CHECK(compare_rows(score_one(*f, ids, ScoreOptions{.first_logit_row = 20}), rows_of(reference, 20, 9, V), V)
            .max_abs <= 1e-5);

  // Threads split GEMMs over output features only, never a reduction, and every k here fits one Eigen
  // k-block: each output element is the same dot product on 1 or 2 threads.
  auto single = CpuForward::open(gemma4_fixture(name), CpuForwardOptions{.n_threads = 1});
  CHECK(score_one(*single, ids) == reference);
  // No weight cache: every layer converted per call, the head widened slab by slab: the same fp32 values
  // through the same operations.
  auto streaming =
      CpuForward::open(gemma4_fixture(name), CpuForwardOptions{.n_threads = 2, .weight_cache_bytes = 0});
  CHECK(score_one(*streaming, ids) == reference);
}

TEST_CASE("forward: the hook reports every activation in order, with absolute positions", "[forward]") {
  auto f = CpuForward::open(gemma4_fixture("e_style"));  // PLE model: ple_inputs is reported too
  const auto& c = f->config();
  const auto ids = some_ids(9, 512, 5);
  const PrefixHandle prefix = f->encode_prefix(std::span<const TokenId>(ids.data(), 4));
  std::vector<std::string> seen;
  std::int64_t first_position = -1;
  f->set_activation_hook([&](const Activation& a) {
    seen.push_back(std::string(a.name) + "@" + std::to_string(a.layer));
    first_position = a.first_position;
    CHECK(a.value.dtype == DType::kF32);
    CHECK(a.value.shape.at(0) == 5);  // the continuation's rows only
  });
  const std::vector<TokenId> cont(ids.begin() + 4, ids.end());
  const TokenSpan span(cont);
  f->score_continuations(prefix, std::span<const TokenSpan>(&span, 1), {});
  std::vector<std::string> want = {"embedding@-1", "ple_inputs@-1"};
  for (int i = 0; i < c.n_layers; ++i)
    for (const char* n : {"attn_output", "ffn_output", "layer_output"})
      want.push_back(n + std::string("@") + std::to_string(i));
  want.push_back("final_norm@" + std::to_string(c.n_layers));
  CHECK(seen == want);
  CHECK(first_position == 4);

  f->set_activation_hook({});  // off again
  seen.clear();
  score_one(*f, ids);
  CHECK(seen.empty());
}

TEST_CASE("forward: an untied lm_head is used instead of the embedding", "[forward]") {
  TempDir dir("forward_untied");
  auto config = synthetic_gemma4_config(32, 2, 96, 48, 2, 1, 8, 4, 64);
  config["tie_word_embeddings"] = false;
  write_synthetic_gemma4(dir.path(), config, DType::kF32, 3);
  auto f = CpuForward::open(dir.path());
  std::vector<float> h;
  f->set_activation_hook([&](const Activation& a) {
    if (a.name == activation::kFinalNorm) h = to_f32(a.value);
  });
  const auto ids = some_ids(6, 96, 9);
  const auto logits = score_one(*f, ids);
  const Checkpoint ck = Checkpoint::open(dir.path());
  const auto head = to_f32(ck.view("lm_head.weight"));
  const auto embed = to_f32(ck.view("model.embed_tokens.weight"));
  double worst_head = 0, worst_embed = 0;
  for (std::int64_t r = 0; r < 6; ++r)
    for (std::int64_t v = 0; v < 96; ++v) {
      double dot_head = 0, dot_embed = 0;
      for (std::int64_t j = 0; j < 32; ++j) {
        dot_head += double(h[r * 32 + j]) * head[v * 32 + j];
        dot_embed += double(h[r * 32 + j]) * embed[v * 32 + j];
      }
      const double got = logits[r * 96 + v];
      worst_head = std::max(worst_head, std::fabs(got - 30.0 * std::tanh(dot_head / 30.0)));
      worst_embed = std::max(worst_embed, std::fabs(got - 30.0 * std::tanh(dot_embed / 30.0)));
    }
  CHECK(worst_head <= 1e-5);
  CHECK(worst_embed > 0.1);
}

TEST_CASE("forward: bad tokens and foreign prefixes are errors naming the problem", "[forward]") {
  auto f = CpuForward::open(gemma4_fixture("all_features"));
  const std::vector<TokenId> ok = {2, 5, 9};
  const std::vector<TokenId> out_of_vocab = {2, 512};
  const std::vector<TokenId> negative = {2, -1};
  const std::vector<TokenId> empty;
  const std::vector<TokenId> too_long(257, 3);  // max_position_embeddings is 256
  auto score = [&](const std::vector<TokenId>& ids) { score_one(*f, ids); };
  require_error_containing([&] { score(out_of_vocab); },
                           "sequence 0: token 512 at index 1 is outside the vocabulary [0, 512)");
  require_error_containing([&] { score(negative); }, "token -1 at index 1");
  require_error_containing([&] { score(empty); }, "sequence 0 has no tokens");
  require_error_containing([&] { score(too_long); },
                           "reaches position 256, past max_position_embeddings 256");
  score(std::vector<TokenId>(256, 3));  // exactly max_position_embeddings is fine

  // A prefix that pushes a continuation past the limit; a prefix from another Forward.
  const PrefixHandle prefix = f->encode_prefix(std::vector<TokenId>(250, 3));
  const std::vector<TokenId> seven(7, 3);
  const TokenSpan span(seven);
  require_error_containing([&] { f->score_continuations(prefix, std::span<const TokenSpan>(&span, 1), {}); },
                           "continuation 0 reaches position 256");
  auto other = CpuForward::open(gemma4_fixture("all_features"));
  const TokenSpan ok_span(ok);
  require_error_containing(
      [&] { other->score_continuations(prefix, std::span<const TokenSpan>(&ok_span, 1), {}); },
      "not encoded by this CPU forward pass");
}

TEST_CASE("forward: configs the forward pass cannot run are refused, naming config.json", "[forward]") {
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"use_bidirectional_attention", "all", "use_bidirectional_attention 'all'"},
      {"hidden_activation", "silu", "hidden_activation"},
      {"rope_parameters",
       {{"sliding_attention", {{"rope_type", "linear"}, {"rope_theta", 10000.0}}},
        {"full_attention",
         {{"rope_type", "proportional"}, {"rope_theta", 1e6}, {"partial_rotary_factor", 0.25}}}},
       "rope_type"},
      // Full layers with their own head dim but "default" RoPE: transformers would build the table for
      // head_dim, not global_head_dim.
      {"rope_parameters",
       {{"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
        {"full_attention", {{"rope_type", "default"}, {"rope_theta", 1e6}}}},
       "RoPE table is built for head_dim 16"},
  };
  for (const Case& c : cases) {
    INFO(c.key << " = " << c.value.dump());
    TempDir dir("forward_badcfg");
    copy_fixture("all_features", dir.path());
    auto config = read_json_file(dir / "config.json");
    config[c.key] = c.value;
    std::ofstream(dir / "config.json") << config.dump();
    require_error([&] { CpuForward::open(dir.path()); }, "config.json", "", c.message);
  }
}
