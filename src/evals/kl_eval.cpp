#include "evals/kl_eval.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "checkpoint/json_file.h"
#include "common/error.h"
#include "common/sha256.h"
#include "text/tokenizer.h"

namespace qg {

namespace {
std::string read_whole_file(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(fmt::format("cannot open the {}: no such file or not readable", what), {.file = path.string()});
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

std::string load_corpus_text(const std::filesystem::path& path, const std::string& text_field) {
  const std::string raw = read_whole_file(path, "corpus");
  std::string text;
  if (path.extension() == ".jsonl") {
    std::istringstream lines(raw);
    std::string line;
    int line_no = 0, n_records = 0;
    while (std::getline(lines, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json record;
      try {
        record = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw Error(fmt::format("line {}: not valid JSON ({})", line_no, e.what()), {.file = path.string()});
      }
      if (!record.is_object() || !record.contains(text_field) || !record[text_field].is_string())
        throw Error(fmt::format("line {}: no string field \"{}\"", line_no, text_field),
                    {.file = path.string(), .hint = "each JSONL record needs {\"" + text_field + "\": \"...\"}"});
      if (n_records++ > 0) text += "\n\n";
      text += record[text_field].get<std::string>();
    }
  } else {
    text = raw;
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw Error("the corpus is empty (no text to score)", {.file = path.string()});
  return text;
}

std::vector<TokenId> load_token_file(const std::filesystem::path& path) {
  const std::string raw = read_whole_file(path, "token file");
  std::vector<TokenId> ids;
  if (path.extension() == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(raw);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("not valid JSON ({})", e.what()), {.file = path.string()});
    }
    if (!j.is_array()) throw Error("expected a JSON array of token ids", {.file = path.string()});
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number_integer() || j[i].get<std::int64_t>() < 0 || j[i].get<std::int64_t>() > INT32_MAX)
        throw Error(fmt::format("entry {} ({}) is not a token id", i, j[i].dump()), {.file = path.string()});
      ids.push_back(j[i].get<TokenId>());
    }
  } else {
    std::size_t pos = 0;
    while (pos < raw.size()) {
      const std::size_t start = raw.find_first_not_of(" \t\r\n,", pos);
      if (start == std::string::npos) break;
      std::size_t end = raw.find_first_of(" \t\r\n,", start);
      if (end == std::string::npos) end = raw.size();
      TokenId id = 0;
      const auto [p, ec] = std::from_chars(raw.data() + start, raw.data() + end, id);
      if (ec != std::errc() || p != raw.data() + end || id < 0)
        throw Error(fmt::format("entry {} ('{}') is not a token id", ids.size(), raw.substr(start, end - start)),
                    {.file = path.string(), .hint = "integers separated by spaces, newlines or commas"});
      ids.push_back(id);
      pos = end;
    }
  }
  if (ids.empty()) throw Error("the token file holds no ids (empty corpus)", {.file = path.string()});
  return ids;
}

KlCorpus load_kl_corpus(const KlCorpusSpec& spec, TokenId bos) {
  KlCorpus c;
  if (!spec.tokens_file.empty()) {
    c.ids = load_token_file(spec.tokens_file);
    c.identity = {{"tokens_file", spec.tokens_file.string()}, {"sha256", sha256_file_hex(spec.tokens_file)}};
    return c;
  }
  const auto tok = text::Tokenizer::load(spec.tokenizer);
  if (tok.bos_rule().bos_id && *tok.bos_rule().bos_id != bos)
    throw Error(fmt::format("the tokenizer's BOS id {} is not the model's bos_token_id {}", *tok.bos_rule().bos_id, bos),
                {.file = tok.json_path().string(), .hint = "use the reference checkpoint's own tokenizer"});
  const std::string text = load_corpus_text(spec.corpus, spec.text_field);
  c.ids = tok.encode(text, false, spec.corpus.string());
  c.identity = {{"path", spec.corpus.string()},        {"bytes", text.size()},
                {"sha256", sha256_file_hex(spec.corpus)}, {"tokenizer", tok.json_path().string()},
                {"tokenizer_sha256", sha256_file_hex(tok.json_path())}, {"bos_rule", tok.bos_rule().source}};
  return c;
}

std::int64_t parse_score_from(const std::string& text) {
  if (text == "half") return -1;
  std::int64_t n = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < 0)
    throw Error(fmt::format("--score-from '{}': expected 'half' or a row number >= 0", text));
  return n;
}

KlChunkPlan plan_kl_chunks(std::span<const TokenId> corpus, TokenId bos, const KlChunking& c) {
  if (c.ctx < 2) throw Error(fmt::format("--ctx {}: a chunk needs at least 2 tokens", c.ctx));
  if (!corpus.empty() && corpus.front() == bos) corpus = corpus.subspan(1);
  if (corpus.empty()) throw Error("the corpus has no tokens (empty corpus)");
  KlChunkPlan plan;
  plan.ctx = c.ctx;
  plan.first_scored_row = c.score_from < 0 ? c.ctx / 2 : c.score_from;
  if (plan.first_scored_row >= c.ctx - 1)
    throw Error(fmt::format("--score-from {}: no row would be scored with --ctx {} (row j predicts token j+1; "
                            "the last scored row is ctx-2 = {})",
                            plan.first_scored_row, c.ctx, c.ctx - 2));
  plan.scored_per_chunk = c.ctx - 1 - plan.first_scored_row;
  plan.corpus_tokens = static_cast<std::int64_t>(corpus.size());
  const auto n = plan.corpus_tokens;
  // corpus ids consumed per chunk: ctx - 1 (BOS added) or ctx (llama.cpp: BOS + ids, then BOS overwrites)
  const std::int64_t stride = c.llama_cpp_compat ? c.ctx : c.ctx - 1;
  const std::int64_t available = c.llama_cpp_compat ? n + 1 : n;  // llama.cpp's ids include its BOS
  std::int64_t n_chunks = available / stride;
  if (n_chunks == 0)
    throw Error(fmt::format("the corpus has {} tokens, fewer than one chunk of --ctx {} needs ({}){}", n, c.ctx,
                            c.llama_cpp_compat ? c.ctx - 1 : c.ctx - 1,
                            c.llama_cpp_compat ? " with --llama-cpp-compat" : ""),
                {.hint = fmt::format("use a longer corpus or --ctx {} or less", std::max<std::int64_t>(2, n + 1))});
  if (c.max_chunks > 0) n_chunks = std::min(n_chunks, c.max_chunks);
  for (std::int64_t i = 0; i < n_chunks; ++i) {
    std::vector<TokenId> chunk;
    chunk.reserve(static_cast<std::size_t>(c.ctx));
    chunk.push_back(bos);
    if (c.llama_cpp_compat) {
      // llama.cpp's stream is [BOS, corpus...]; chunk i starts at i*ctx there, i.e. corpus[i*ctx - 1], and
      // its first id is overwritten by BOS, so the chunk is BOS + corpus[i*ctx, i*ctx + ctx - 1).
      const auto begin = corpus.begin() + i * c.ctx;
      chunk.insert(chunk.end(), begin, begin + (c.ctx - 1));
    } else {
      const auto begin = corpus.begin() + i * stride;
      chunk.insert(chunk.end(), begin, begin + stride);
    }
    plan.chunks.push_back(std::move(chunk));
  }
  const std::int64_t used = c.llama_cpp_compat ? n_chunks * (c.ctx - 1) : n_chunks * stride;
  plan.tokens_unused = n - used;
  plan.rule = fmt::format(
      "{}: {} chunks of {} tokens (BOS first{}), scoring rows [{}, {}) of each ({} tokens a chunk)",
      c.llama_cpp_compat ? "llama.cpp-compatible" : "non-overlapping", n_chunks, c.ctx,
      c.llama_cpp_compat ? ", overwriting one corpus token" : "", plan.first_scored_row, c.ctx - 1,
      plan.scored_per_chunk);
  return plan;
}

void check_kl_pair(const Gemma4TextConfig& ref, const Gemma4TextConfig& cand, const std::string& ref_name,
                   const std::string& cand_name) {
  if (ref.n_vocab != cand.n_vocab)
    throw Error(fmt::format("vocab mismatch: the reference {} has {} ids, the candidate {} has {}; KL compares "
                            "distributions over the same ids",
                            ref_name, ref.n_vocab, cand_name, cand.n_vocab),
                {.hint = "compare a quantized checkpoint with the checkpoint it was made from"});
}

namespace {
class HostComparer final : public KlRowComparer {
 public:
  bool logits_on_device() const override { return false; }
  void begin_chunk(std::int64_t n_scored, std::int64_t n_vocab) override {
    n_vocab_ = n_vocab;
    rows_.resize(static_cast<std::size_t>(n_scored * n_vocab));
  }
  void keep_reference(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::int64_t n) override {
    keep_reference_host(lc.logits.data() + r0 * n_vocab_, row, n);
  }
  void keep_reference_host(const float* rows, std::int64_t row, std::int64_t n) override {
    std::copy(rows, rows + n * n_vocab_, rows_.begin() + row * n_vocab_);
  }
  void compare(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::span<const TokenId> next,
               std::vector<metrics::TokenKl>& out) override {
    out.resize(next.size());
    for (std::size_t i = 0; i < next.size(); ++i) {
      const auto k = static_cast<std::int64_t>(i);
      out[i] = metrics::token_kl_ref(std::span<const float>(rows_).subspan(static_cast<std::size_t>((row + k) * n_vocab_),
                                                                           static_cast<std::size_t>(n_vocab_)),
                                     lc.row(r0 + k), next[i]);
    }
  }

 private:
  std::int64_t n_vocab_ = 0;
  std::vector<float> rows_;  // one chunk's scored reference rows
};
}  // namespace

std::unique_ptr<KlRowComparer> host_kl_comparer() { return std::make_unique<HostComparer>(); }

std::int64_t scored_rows(const KlChunkPlan& plan, const LogitsChunk& lc, std::int64_t* r0, std::int64_t* row) {
  const std::int64_t first = plan.first_scored_row;
  const std::int64_t lo = std::max<std::int64_t>(first, lc.first_position);
  const std::int64_t hi = std::min<std::int64_t>(first + plan.scored_per_chunk, lc.first_position + lc.n_rows);
  *r0 = lo - lc.first_position;
  *row = lo - first;
  return std::max<std::int64_t>(0, hi - lo);  // the last row predicts nothing
}

void LiveKlReference::fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) {
  (void)chunk;  // plan_.chunks[index]
  keep_reference_rows(ref_, plan_, index, 1, comparer, options_);
}

void keep_reference_rows(Forward& ref, const KlChunkPlan& plan, std::size_t first, std::size_t count,
                         KlRowComparer& comparer, const ScoreOptions& options) {
  std::vector<TokenSpan> batch;
  for (std::size_t ci = first; ci < first + count; ++ci) {
    check_tokens(ref.config(), plan.chunks[ci], 0, fmt::format("chunk {}", ci));
    batch.emplace_back(plan.chunks[ci]);
  }
  ref.score(batch, [&](const LogitsChunk& lc) {
    std::int64_t r0 = 0, row = 0;
    const std::int64_t n = scored_rows(plan, lc, &r0, &row);
    if (n > 0) comparer.keep_reference(lc, r0, static_cast<std::int64_t>(lc.sequence) * plan.scored_per_chunk + row, n);
  }, options);
}

namespace {
ScoreOptions kl_score_options(const KlChunkPlan& plan, const KlRunOptions& options, const KlRowComparer& comparer) {
  return ScoreOptions{.chunk_rows = options.chunk_rows,
                      .first_logit_row = plan.first_scored_row,
                      .logits_on_device = comparer.logits_on_device()};
}
}  // namespace

KlRun run_kl(Forward& ref, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
             KlRowComparer* comparer) {
  check_kl_pair(ref.config(), cand.config(), "model", "model");
  std::unique_ptr<KlRowComparer> host;
  if (comparer == nullptr) comparer = (host = host_kl_comparer()).get();
  LiveKlReference live(ref, plan, kl_score_options(plan, options, *comparer));
  return run_kl(live, cand, plan, options, comparer);
}

KlRun run_kl(KlReference& reference, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
             KlRowComparer* comparer) {
  std::unique_ptr<KlRowComparer> host;
  if (comparer == nullptr) comparer = (host = host_kl_comparer()).get();
  KlRun run;
  run_kl_range(reference, cand, plan, options, *comparer, 0, plan.chunks.size(), run);
  return run;
}

void run_kl_range(KlReference& reference, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
                  KlRowComparer& comparer, std::size_t begin, std::size_t end, KlRun& run) {
  run.progress.n_chunks = static_cast<std::int64_t>(plan.chunks.size());
  for (std::size_t ci = begin; ci < end && ci < plan.chunks.size(); ++ci) {
    if (options.should_stop && options.should_stop()) {
      run.partial = true;
      return;
    }
    check_tokens(cand.config(), plan.chunks[ci], 0, fmt::format("chunk {}", ci));
    comparer.begin_chunk(plan.scored_per_chunk, cand.config().n_vocab);
    reference.fill(ci, plan.chunks[ci], comparer);
    compare_kl_chunks(cand, plan, options, comparer, ci, 1, run);
  }
}

void compare_kl_chunks(Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options, KlRowComparer& comparer,
                       std::size_t first_chunk, std::size_t count, KlRun& run) {
  const std::int64_t first = plan.first_scored_row;
  std::vector<TokenSpan> batch;
  for (std::size_t ci = first_chunk; ci < first_chunk + count; ++ci) {
    check_tokens(cand.config(), plan.chunks[ci], 0, fmt::format("chunk {}", ci));
    batch.emplace_back(plan.chunks[ci]);
  }
  run.progress.n_chunks = static_cast<std::int64_t>(plan.chunks.size());
  std::vector<metrics::TokenKl> results;
  std::vector<metrics::KlAccumulator> chunk_acc(count);  // merged in chunk order: the sums of one chunk per call
  cand.score(batch, [&](const LogitsChunk& lc) {
    const auto m0 = std::chrono::steady_clock::now();
    std::int64_t r0 = 0, row = 0;
    const std::int64_t n = scored_rows(plan, lc, &r0, &row);
    if (n == 0) return;
    const std::size_t ci = first_chunk + lc.sequence;
    const auto& chunk = plan.chunks[ci];
    const std::int64_t pos0 = first + row;
    comparer.compare(lc, r0, static_cast<std::int64_t>(lc.sequence) * plan.scored_per_chunk + row,
                     TokenSpan(chunk).subspan(static_cast<std::size_t>(pos0 + 1), static_cast<std::size_t>(n)), results);
    for (std::int64_t i = 0; i < n; ++i) {
      const metrics::TokenKl& t = results[static_cast<std::size_t>(i)];
      const std::int64_t pos = pos0 + i;
      if (!std::isfinite(t.kl) || !std::isfinite(t.kl_reverse) || !std::isfinite(t.nll_ref) ||
          !std::isfinite(t.nll_cand))
        throw Error(fmt::format("chunk {}, row {}: non-finite KL/NLL (KL {}, NLL ref {}, NLL cand {}): a model "
                                "produced inf/NaN logits",
                                ci, pos, t.kl, t.nll_ref, t.nll_cand));
      chunk_acc[lc.sequence].add(t);
      if (options.on_token)
        options.on_token(static_cast<std::int64_t>(ci), pos, chunk[static_cast<std::size_t>(pos + 1)], t);
    }
    run.metric_seconds += seconds_since(m0);
  }, kl_score_options(plan, options, comparer));
  for (std::size_t g = 0; g < count; ++g) {
    run.acc.merge(chunk_acc[g]);
    run.progress.chunks_done = static_cast<std::int64_t>(first_chunk + g) + 1;
    run.progress.tokens_scored = run.acc.count();
    run.progress.seconds = seconds_since(run.start);
    run.progress.forward_seconds = run.progress.seconds - run.metric_seconds;
    if (options.on_chunk) options.on_chunk(run.progress);
  }
}

}  // namespace qg
