#pragma once
// The `quantgate kl` driver: corpus -> token ids -> non-overlapping chunks -> both models' logits ->
// per-token KL/NLL/top-1 (metrics/kl.h) -> running stats (metrics/kl_stats.h). It streams chunk by chunk:
// the reference's scored rows of ONE chunk are held ([n_scored, n_vocab] fp32), then the candidate's rows
// are compared with them as they arrive; nothing of size [n_tokens, n_vocab] ever exists.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "forward/forward.h"
#include "metrics/kl_stats.h"

namespace qg {

// Corpus text: a plain text file (used as is), or JSONL (extension .jsonl) whose records' `text_field`
// strings are joined with "\n\n". Throws qg::Error naming the file (and line) for missing files, bad JSON,
// a record without the field, or an empty corpus.
std::string load_corpus_text(const std::filesystem::path& path, const std::string& text_field = "text");

// Token ids given directly (the tiny fixtures have no tokenizer): a JSON array of integers (extension
// .json) or integers separated by whitespace or commas. Throws qg::Error naming the file and the bad entry.
std::vector<TokenId> load_token_file(const std::filesystem::path& path);

// Where the corpus comes from: token ids (tokens_file) or text (corpus, tokenized with `tokenizer`).
struct KlCorpusSpec {
  std::filesystem::path tokens_file;  // if set, used instead of corpus
  std::filesystem::path corpus;       // text or JSONL (load_corpus_text)
  std::string text_field = "text";
  std::filesystem::path tokenizer;    // tokenizer.json or a directory with one
};
struct KlCorpus {
  std::vector<TokenId> ids;  // without BOS (text is encoded without special tokens)
  nlohmann::json identity;   // path(s), sha256, bytes, tokenizer and its sha256, BOS rule
};
// Throws qg::Error for unreadable/empty input, and when the tokenizer's BOS id is not the model's `bos`.
KlCorpus load_kl_corpus(const KlCorpusSpec& spec, TokenId bos);

// "half" -> -1 (ctx / 2); "N" -> N >= 0; anything else throws qg::Error naming --score-from.
std::int64_t parse_score_from(const std::string& text);

struct KlChunking {
  std::int64_t ctx = 2048;        // tokens per chunk, BOS included
  std::int64_t score_from = -1;   // first logit row scored in each chunk; -1: ctx / 2 (llama.cpp's rule)
  bool llama_cpp_compat = false;  // llama.cpp's chunking: see plan_kl_chunks
  std::int64_t max_chunks = 0;    // 0: all
};

struct KlChunkPlan {
  std::vector<std::vector<TokenId>> chunks;  // each exactly ctx ids, BOS first
  std::int64_t ctx = 0;
  std::int64_t first_scored_row = 0;  // rows [first_scored_row, ctx - 1) are scored: row j predicts id j + 1
  std::int64_t scored_per_chunk = 0;  // ctx - 1 - first_scored_row
  std::int64_t corpus_tokens = 0;     // ids in the corpus (BOS excluded)
  std::int64_t tokens_unused = 0;     // corpus ids in no chunk (the tail, or past --max-chunks)
  std::string rule;                   // one line, for the report
};

// `corpus` holds the document's ids WITHOUT a BOS (a leading `bos` is dropped).
//  default: chunk i = [BOS] + corpus[i*(ctx-1), (i+1)*(ctx-1)); a tail shorter than ctx-1 is not scored.
//  llama_cpp_compat (llama-perplexity --kl-divergence): the ids as llama.cpp tokenizes them (BOS first),
//    chunk i = ids[i*ctx, (i+1)*ctx) with its first id overwritten by BOS; so one corpus id per chunk is
//    lost to the BOS. ctx is what the caller sets (llama.cpp's default is 512).
// Both score rows [score_from, ctx - 1) (default ctx/2). Throws qg::Error when the corpus is shorter than
// one chunk (the message gives both counts and the --ctx that would fit), for ctx < 2 or a bad score_from.
KlChunkPlan plan_kl_chunks(std::span<const TokenId> corpus, TokenId bos, const KlChunking& chunking);

// Throws qg::Error naming both directories when the models' vocabularies differ (KL needs the same ids).
void check_kl_pair(const Gemma4TextConfig& ref, const Gemma4TextConfig& cand, const std::string& ref_name,
                   const std::string& cand_name);

struct KlProgress {
  std::int64_t chunks_done = 0, n_chunks = 0;
  std::uint64_t tokens_scored = 0;
  double seconds = 0;          // since the start
  double forward_seconds = 0;  // the reference pass plus the candidate pass minus the metric math inside
                               // the candidate's consumer
};

struct KlRunOptions {
  std::int64_t chunk_rows = 64;                     // logit rows per consumer call
  std::function<void(const KlProgress&)> on_chunk;  // after each chunk (progress lines)
  std::function<bool()> should_stop;                // polled between chunks: true ends the run early
  // Every scored token, in order: the per-token dump and brute-force tests.
  std::function<void(std::int64_t chunk, std::int64_t row, TokenId next, const metrics::TokenKl&)> on_token;
};

struct KlRun {
  metrics::KlAccumulator acc;
  KlProgress progress;
  bool partial = false;  // stopped by should_stop before the last chunk
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();  // progress.seconds counts from here
  double metric_seconds = 0;  // inside the candidate's consumer (not forward time)
};

// Where run_kl compares the two models' rows: on the host (metrics::token_kl_ref over host copies of the
// logits), or on the GPU where the engines leave them (evals/kl_device_comparer.h, chosen by
// open_kl_comparer in forward/open_forward.h). A comparer holds one chunk's reference rows.
class KlRowComparer {
 public:
  virtual ~KlRowComparer() = default;
  virtual bool logits_on_device() const = 0;  // ask the engines for device logits
  virtual void begin_chunk(std::int64_t n_scored, std::int64_t n_vocab) = 0;
  // Keeps reference rows [row, row + n) of the chunk's scored rows: rows [r0, r0 + n) of `lc`.
  virtual void keep_reference(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::int64_t n) = 0;
  // The same from host memory: rows [row, row + n), `rows` holding n * n_vocab floats (a reference cache).
  virtual void keep_reference_host(const float* rows, std::int64_t row, std::int64_t n) = 0;
  // Compares candidate rows [r0, r0 + n) of `lc` with kept reference rows [row, row + n); next[i] is the true
  // next token of row row + i. Fills out[0..n).
  virtual void compare(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::span<const TokenId> next,
                       std::vector<metrics::TokenKl>& out) = 0;
  // Returns once the rows handed to keep_reference(_host) are in place: a GPU comparer's copies run on the
  // reference engine's stream, and run_kl_overlapped compares them from another thread and stream.
  virtual void wait_reference_kept() {}
};
std::unique_ptr<KlRowComparer> host_kl_comparer();

// A comparer that hands everything to another one: decorators (the reference-cache writers' tees) override only
// what they add to.
class ForwardingKlRowComparer : public KlRowComparer {
 public:
  explicit ForwardingKlRowComparer(KlRowComparer& inner) : inner_(inner) {}
  bool logits_on_device() const override { return inner_.logits_on_device(); }
  void begin_chunk(std::int64_t n_scored, std::int64_t n_vocab) override { inner_.begin_chunk(n_scored, n_vocab); }
  void keep_reference(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::int64_t n) override {
    inner_.keep_reference(lc, r0, row, n);
  }
  void keep_reference_host(const float* rows, std::int64_t row, std::int64_t n) override {
    inner_.keep_reference_host(rows, row, n);
  }
  void compare(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::span<const TokenId> next,
               std::vector<metrics::TokenKl>& out) override {
    inner_.compare(lc, r0, row, next, out);
  }
  void wait_reference_kept() override { inner_.wait_reference_kept(); }

 protected:
  KlRowComparer& inner_;
};

// Where a chunk's reference rows come from: the reference model run live, or a cache (evals/kl_ref_cache.h).
class KlReference {
 public:
  virtual ~KlReference() = default;
  // Hands the scored rows of chunk `index` to the comparer (begin_chunk already called).
  virtual void fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) = 0;
};

// The reference model, run on each chunk (rows from first_scored_row on).
class LiveKlReference final : public KlReference {
 public:
  LiveKlReference(Forward& ref, const KlChunkPlan& plan, const ScoreOptions& options)
      : ref_(ref), plan_(plan), options_(options) {}
  void fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) override;

 private:
  Forward& ref_;
  const KlChunkPlan& plan_;
  ScoreOptions options_;
};

// The scored rows [r0, r0 + n) of a logits chunk and their index `row` among the chunk's scored rows.
std::int64_t scored_rows(const KlChunkPlan& plan, const LogitsChunk& lc, std::int64_t* r0, std::int64_t* row);

// Runs both models over every chunk of `plan`. Throws qg::Error for non-finite results (naming the
// chunk and row) and for ids outside the models' vocab. `comparer` defaults to the host comparer.
KlRun run_kl(Forward& ref, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options = {},
             KlRowComparer* comparer = nullptr);
// The same with the reference rows from `reference` (a cache): only the candidate runs here.
KlRun run_kl(KlReference& reference, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
             KlRowComparer* comparer);
// Continues `run` over chunks [begin, end) of `plan` (the two-pass mode, evals/kl_two_pass.h, runs one block of
// chunks at a time): chunk indices, progress and the accumulation order are those of one run over all chunks, so
// the results are bit-identical. Sets run.partial and returns when should_stop says so.
void run_kl_range(KlReference& reference, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
                  KlRowComparer& comparer, std::size_t begin, std::size_t end, KlRun& run);
// The candidate's side of run_kl_range, for chunks [first, first + count) in one forward call (one engine step when
// they fit it), after their reference rows are kept: compares the scored rows with those `comparer` holds, adds them
// to `run` and reports progress after each chunk. Chunk first + g's scored rows are the comparer's rows
// [g * scored_per_chunk, (g + 1) * scored_per_chunk). Results, on_token order and accumulation are those of `count`
// single-chunk calls (a chunk's logits do not depend on what it is batched with, forward/cuda/gemm.h).
void compare_kl_chunks(Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options, KlRowComparer& comparer,
                       std::size_t first, std::size_t count, KlRun& run);
// The reference's side: its scored rows of chunks [first, first + count), run in one call, into the comparer's rows
// as compare_kl_chunks reads them (begin_chunk already called for count * scored_per_chunk rows).
void keep_reference_rows(Forward& ref, const KlChunkPlan& plan, std::size_t first, std::size_t count,
                         KlRowComparer& comparer, const ScoreOptions& options);

}  // namespace qg
