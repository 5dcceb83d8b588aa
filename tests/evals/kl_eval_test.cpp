// The kl driver: chunking rules, corpus/token-file input errors, and end to end on the tiny fixtures
// (e_style vs itself: exactly 0; e_style vs its W4A16 quantization: equal to a brute-force computation
// from CpuForward's full logits, written here independently of metrics/kl.cpp).
#include "evals/kl_eval.h"
#include "evals/kl_ref_cache.h"
#include "evals/same_tokenizer.h"

#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include "catch.h"
#include "error_message.h"
#if __has_include(<catch2/catch_all.hpp>)
using Catch::Approx;  // Catch2 v3
#endif
#include "common/error.h"
#include "forward/cpu/cpu_forward.h"
#include "kl_fixture_inputs.h"
#include "model/fixture_util.h"
#include "test_paths.h"
#include "text/tokenizer.h"

using namespace qg;
using qg::test::message_of;

namespace {
constexpr TokenId kBos = 2;

std::vector<TokenId> iota_ids(int n) {
  std::vector<TokenId> ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), 100);
  return ids;
}

std::vector<TokenId> random_ids(int n, unsigned seed) { return test::random_fixture_ids(n, seed); }
std::unique_ptr<CpuForward> open_fixture(const std::string& name) { return test::open_cpu_fixture(name); }
// The call throws qg::Error whose message contains `part` (Catch2 v2 and v3 alike, no matchers).
#define CHECK_THAT_ERROR(call, part)        \
  do {                                      \
    const std::string m_ = message_of(call); \
    INFO(m_);                               \
    CHECK(m_.find(part) != std::string::npos); \
  } while (0)
}  // namespace

TEST_CASE("kl chunking: BOS first, non-overlapping, second half scored", "[kl]") {
  auto corpus = iota_ids(100);
  const auto plan = plan_kl_chunks(corpus, kBos, {.ctx = 10});
  REQUIRE(plan.chunks.size() == 11);  // floor(100 / 9)
  CHECK(plan.chunks[0] == std::vector<TokenId>{2, 100, 101, 102, 103, 104, 105, 106, 107, 108});
  CHECK(plan.chunks[1] == std::vector<TokenId>{2, 109, 110, 111, 112, 113, 114, 115, 116, 117});
  CHECK(plan.chunks[10].back() == 100 + 98);
  CHECK(plan.first_scored_row == 5);
  CHECK(plan.scored_per_chunk == 4);  // rows 5..8 predict ids 6..9
  CHECK(plan.tokens_unused == 1);
  CHECK(plan.corpus_tokens == 100);

  corpus.insert(corpus.begin(), kBos);  // a leading BOS in the ids is not corpus text
  CHECK(plan_kl_chunks(corpus, kBos, {.ctx = 10}).chunks == plan.chunks);
  CHECK(plan_kl_chunks(corpus, kBos, {.ctx = 10, .max_chunks = 3}).chunks.size() == 3);
  CHECK(plan_kl_chunks(corpus, kBos, {.ctx = 10, .score_from = 0}).scored_per_chunk == 9);
  CHECK(plan_kl_chunks(corpus, kBos, {.ctx = 11}).first_scored_row == 5);
  CHECK_THAT_ERROR([&] { (void)plan_kl_chunks(corpus, kBos, {.ctx = 10, .score_from = 9}); }, "no row would be scored");
  CHECK_THAT_ERROR([&] { (void)plan_kl_chunks(corpus, kBos, {.ctx = 1}); }, "at least 2");
}

TEST_CASE("kl chunking: llama.cpp compat overwrites the first token of each ctx window with BOS", "[kl]") {
  // llama.cpp: ids = [BOS, c0, c1, ...]; chunk i = ids[i*ctx, (i+1)*ctx) with ids[i*ctx] := BOS
  const auto corpus = iota_ids(100);
  const auto plan = plan_kl_chunks(corpus, kBos, {.ctx = 10, .llama_cpp_compat = true});
  REQUIRE(plan.chunks.size() == 10);  // floor(101 / 10)
  CHECK(plan.chunks[0] == std::vector<TokenId>{2, 100, 101, 102, 103, 104, 105, 106, 107, 108});
  CHECK(plan.chunks[1] == std::vector<TokenId>{2, 110, 111, 112, 113, 114, 115, 116, 117, 118});  // c9 lost
  CHECK(plan.chunks[9] == std::vector<TokenId>{2, 190, 191, 192, 193, 194, 195, 196, 197, 198});
  CHECK(plan.first_scored_row == 5);  // llama.cpp: first = n_ctx / 2, rows first .. n_ctx - 2
  CHECK(plan.scored_per_chunk == 4);
}

TEST_CASE("kl input errors: short or empty corpus, bad token files, vocab mismatch", "[kl]") {
  const auto short_corpus = iota_ids(5);
  CHECK_THAT_ERROR([&] { (void)plan_kl_chunks(short_corpus, kBos, {.ctx = 10}); }, "5 tokens, fewer than one chunk of --ctx 10");
  CHECK_THAT_ERROR([&] { (void)plan_kl_chunks(std::vector<TokenId>{kBos}, kBos, {.ctx = 10}); }, "empty corpus");

  test::TempDir dir("kl_inputs");
  { std::ofstream(dir / "ids.json") << "[2, 17, 5]"; }
  { std::ofstream(dir / "ids.txt") << "2 17,\n5\n"; }
  { std::ofstream(dir / "bad.txt") << "2 x7 5"; }
  { std::ofstream(dir / "empty.txt") << " \n"; }
  { std::ofstream(dir / "c.jsonl") << "{\"text\": \"one\"}\n\n{\"text\": \"two\"}\n"; }
  { std::ofstream(dir / "nofield.jsonl") << "{\"text\": \"one\"}\n{\"body\": \"two\"}\n"; }
  CHECK(load_token_file(dir / "ids.json") == std::vector<TokenId>{2, 17, 5});
  CHECK(load_token_file(dir / "ids.txt") == std::vector<TokenId>{2, 17, 5});
  CHECK_THAT_ERROR([&] { (void)load_token_file(dir / "bad.txt"); }, "entry 1 ('x7')");
  CHECK_THAT_ERROR([&] { (void)load_token_file(dir / "empty.txt"); }, "empty corpus");
  CHECK(load_corpus_text(dir / "c.jsonl") == "one\n\ntwo");
  CHECK_THAT_ERROR([&] { (void)load_corpus_text(dir / "nofield.jsonl"); }, "line 2: no string field \"text\"");
  CHECK_THAT_ERROR([&] { (void)load_corpus_text(dir / "empty.txt"); }, "corpus is empty");
  CHECK_THAT_ERROR([&] { (void)load_corpus_text(dir / "missing.txt"); }, "missing.txt");

  CHECK(parse_score_from("half") == -1);
  CHECK(parse_score_from("17") == 17);
  for (const char* bad : {"", "-1", "1x", "quarter"}) CHECK_THAT_ERROR([&] { (void)parse_score_from(bad); }, "--score-from");
  // text corpora: the tokenizer's BOS must be the model's (llama3_like's is id 0, the fixtures' is 2)
  { std::ofstream(dir / "c.txt") << "some text"; }
  CHECK_THAT_ERROR([&] { (void)load_kl_corpus({.corpus = dir / "c.txt", .tokenizer = test::fixtures_dir() / "text" / "llama3_like"}, kBos); },
                   "BOS id 0 is not the model's bos_token_id 2");
  const auto corpus = load_kl_corpus({.corpus = dir / "c.txt", .tokenizer = test::fixtures_dir() / "text" / "bytes512"}, kBos);
  CHECK(corpus.ids.size() >= 2);
  CHECK(corpus.ids.front() != kBos);
  CHECK(corpus.identity["sha256"] == "b94f6f125c79e3a5ffaa826f584c10d52ada669e6762051b826b55776d05aed2");
  CHECK(load_kl_corpus({.tokens_file = dir / "ids.json"}, kBos).ids == std::vector<TokenId>{2, 17, 5});

  Gemma4TextConfig a, b;
  a.n_vocab = 512;
  b.n_vocab = 1024;
  const auto msg = message_of([&] { check_kl_pair(a, b, "/m/bf16", "/m/other"); });
  for (const char* part : {"vocab mismatch", "/m/bf16", "/m/other", "512", "1024"})
    CHECK(msg.find(part) != std::string::npos);
  CHECK_NOTHROW(check_kl_pair(a, a, "x", "y"));
}

TEST_CASE("kl driver: a model against itself gives exactly 0 and 100% top-1", "[kl]") {
  auto ref = open_fixture("e_style");
  auto cand = open_fixture("e_style");
  const auto plan = plan_kl_chunks(random_ids(2 * 63 + 7, 1), kBos, {.ctx = 64});
  REQUIRE(plan.chunks.size() == 2);
  const auto run = run_kl(*ref, *cand, plan, {.chunk_rows = 7});  // ragged callback chunks
  REQUIRE(run.acc.count() == 2 * 31);
  CHECK(run.acc.kl().max() == 0.0);
  CHECK(run.acc.kl().min() == 0.0);
  CHECK(run.acc.kl_reverse().max() == 0.0);
  CHECK(run.acc.same_top1() == run.acc.count());
  CHECK_FALSE(run.partial);
  const auto s = metrics::summarize_kl(run.acc, {.block_len = 31, .n_resamples = 100});
  CHECK(s.kl_mean.value == 0.0);
  CHECK(s.ppl_ratio.value == 1.0);
  CHECK(s.same_top1.value == 1.0);
}

TEST_CASE("kl driver: e_style vs its W4A16 quantization equals brute force from full logits", "[kl]") {
  auto ref = open_fixture("e_style");
  auto cand = open_fixture("e_style_w4a16");
  const auto plan = plan_kl_chunks(random_ids(3 * 63, 2), kBos, {.ctx = 64});
  REQUIRE(plan.chunks.size() == 3);
  struct Tok {
    std::int64_t chunk, row;
    TokenId next;
    metrics::TokenKl t;
  };
  std::vector<Tok> got;
  const auto run = run_kl(*ref, *cand, plan,
                          {.chunk_rows = 64, .on_token = [&](std::int64_t c, std::int64_t r, TokenId n,
                                                             const metrics::TokenKl& t) { got.push_back({c, r, n, t}); }});
  REQUIRE(got.size() == 3 * 31);
  // brute force: every row of both models, then the definitions in long double
  const std::int64_t n_vocab = 512;
  long double sum_kl = 0;
  std::size_t k = 0;
  for (std::size_t ci = 0; ci < plan.chunks.size(); ++ci) {
    std::vector<float> lr, lc;
    ref->score(TokenSpan(plan.chunks[ci]), [&](const LogitsChunk& c) { lr.insert(lr.end(), c.logits.begin(), c.logits.end()); });
    cand->score(TokenSpan(plan.chunks[ci]), [&](const LogitsChunk& c) { lc.insert(lc.end(), c.logits.begin(), c.logits.end()); });
    for (std::int64_t row = 32; row < 63; ++row, ++k) {
      const float* r = lr.data() + row * n_vocab;
      const float* c = lc.data() + row * n_vocab;
      long double zr = 0, zc = 0;
      for (int i = 0; i < n_vocab; ++i) zr += std::exp(static_cast<long double>(r[i])), zc += std::exp(static_cast<long double>(c[i]));
      long double kl = 0;
      int top_r = 0, top_c = 0;
      for (int i = 0; i < n_vocab; ++i) {
        const long double p = std::exp(static_cast<long double>(r[i])) / zr, q = std::exp(static_cast<long double>(c[i])) / zc;
        kl += p * std::log(p / q);
        if (r[i] > r[top_r]) top_r = i;
        if (c[i] > c[top_c]) top_c = i;
      }
      const TokenId next = plan.chunks[ci][static_cast<std::size_t>(row + 1)];
      const auto& g = got[k];
      INFO("chunk " << ci << " row " << row);
      CHECK(g.chunk == static_cast<std::int64_t>(ci));
      CHECK(g.row == row);
      CHECK(g.next == next);
      CHECK(g.t.kl == Approx(static_cast<double>(kl)).epsilon(1e-9).margin(1e-15));
      CHECK(g.t.nll_ref == Approx(static_cast<double>(std::log(zr) - r[next])).epsilon(1e-12));
      CHECK(g.t.nll_cand == Approx(static_cast<double>(std::log(zc) - c[next])).epsilon(1e-12));
      CHECK(g.t.top1_ref == top_r);
      CHECK(g.t.top1_cand == top_c);
      sum_kl += kl;
    }
  }
  const double mean = run.acc.kl().mean();
  CHECK(mean > 0);
  CHECK(std::isfinite(mean));
  CHECK(mean == Approx(static_cast<double>(sum_kl / k)).epsilon(1e-10));
  CHECK(run.acc.same_top1() <= run.acc.count());
  const auto s = metrics::summarize_kl(run.acc, {.block_len = 31, .n_resamples = 200});
  CHECK(s.kl_mean_ci.lo <= s.kl_mean.value);
  CHECK(s.kl_mean_ci.hi >= s.kl_mean.value);
  WARN("e_style_w4a16 vs e_style, random ids: mean KL " << s.kl_mean.value << " +- " << s.kl_mean.error
                                                         << ", same top-1 " << s.same_top1.value);
}

TEST_CASE("kl driver: text through a 512-id byte-level tokenizer, and stopping early", "[kl]") {
  const auto tok = text::Tokenizer::load(test::fixtures_dir() / "text" / "bytes512");
  REQUIRE(tok.vocab_size() == 512);
  REQUIRE(tok.bos_rule().bos_id == std::optional<TokenId>(kBos));
  const std::string text =
      "The quick brown fox jumps over the lazy dog. Quantized models should stay close to their reference, "
      "and the divergence is measured token by token over a corpus of plain text like this one.";
  const auto ids = tok.encode(text, false);
  const auto plan = plan_kl_chunks(ids, kBos, {.ctx = 32});
  REQUIRE(plan.chunks.size() >= 2);
  auto ref = open_fixture("e_style");
  auto cand = open_fixture("e_style_w4a16");
  int polls = 0;
  const auto run = run_kl(*ref, *cand, plan, {.should_stop = [&] { return ++polls > 1; }});
  CHECK(run.partial);
  CHECK(run.progress.chunks_done == 1);
  CHECK(run.acc.count() == 15);
}

TEST_CASE("kl: the candidate's tokenizer must be the reference's", "[kl]") {
  test::TempDir tmp("kl_tokenizer");
  const auto ref = tmp.path() / "ref", cand = tmp.path() / "cand";
  std::filesystem::create_directories(ref);
  std::filesystem::create_directories(cand);
  auto write = [](const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; };
  CHECK(check_same_tokenizer(ref, cand).find("tokenizer check skipped") != std::string::npos);
  write(ref / "tokenizer.json", R"({"model": {"vocab": {"a": 0, "b": 1}}, "added_tokens": []})");
  write(cand / "tokenizer.json", "{ \"added_tokens\": [],\n  \"model\": {\"vocab\": {\"a\": 0, \"b\": 1}} }");
  CHECK(check_same_tokenizer(ref, cand).empty());  // same content, other formatting and key order
  write(cand / "tokenizer.json", R"({"model": {"vocab": {"a": 1, "b": 0}}, "added_tokens": []})");
  try {
    check_same_tokenizer(ref, cand);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message().find("tokenizer differs") != std::string::npos);
    CHECK(e.message().find((cand / "tokenizer.json").string()) != std::string::npos);
  }
}

TEST_CASE("kl: a reference cache gives the live run's numbers bit for bit, and refuses another corpus", "[kl]") {
  test::TempDir tmp("kl_ref_cache");
  std::vector<TokenId> corpus(200);
  for (std::size_t i = 0; i < corpus.size(); ++i) corpus[i] = static_cast<TokenId>(3 + (i * 97) % 500);
  const KlChunkPlan plan = plan_kl_chunks(corpus, 2, KlChunking{.ctx = 48});
  auto ref = CpuForward::open(test::gemma4_fixture("e_style"), {.n_threads = 2});
  auto cand = CpuForward::open(test::gemma4_fixture("e_style_w4a16"), {.n_threads = 2});
  auto collect = [](std::vector<metrics::TokenKl>& into) {
    KlRunOptions o;
    o.on_token = [&into](std::int64_t, std::int64_t, TokenId, const metrics::TokenKl& t) { into.push_back(t); };
    return o;
  };
  std::vector<metrics::TokenKl> live, cached;
  run_kl(*ref, *cand, plan, collect(live));
  CHECK(!kl_ref_cache_exists(tmp.path()));
  write_kl_ref_cache(*ref, plan, tmp.path(), {{"reference", "e_style"}});
  REQUIRE(kl_ref_cache_exists(tmp.path()));
  const KlRefCache cache(tmp.path(), plan, ref->config().n_vocab);
  CachedKlReference reference(cache);
  run_kl(reference, *cand, plan, collect(cached), nullptr);
  REQUIRE(cached.size() == live.size());
  for (std::size_t i = 0; i < live.size(); ++i) {
    CHECK(cached[i].kl == live[i].kl);
    CHECK(cached[i].nll_ref == live[i].nll_ref);
  }
  // Another corpus with the same chunking: the chunk files' ids do not match.
  std::vector<TokenId> other = corpus;
  other[5] = 7;
  const KlChunkPlan other_plan = plan_kl_chunks(other, 2, KlChunking{.ctx = 48});
  const KlRefCache other_cache(tmp.path(), other_plan, ref->config().n_vocab);
  CachedKlReference other_reference(other_cache);
  try {
    run_kl(other_reference, *cand, other_plan, {}, nullptr);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message().find("other token ids") != std::string::npos);
    CHECK(std::string(e.what()).find("chunk_00000.safetensors") != std::string::npos);  // the file is named
  }
  // Another ctx: the manifest says so.
  CHECK_THROWS_AS(KlRefCache(tmp.path(), plan_kl_chunks(corpus, 2, KlChunking{.ctx = 40}), ref->config().n_vocab), Error);
}
