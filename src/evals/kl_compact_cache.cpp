#include "evals/kl_compact_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "checkpoint/safetensors_writer.h"
#include "common/error.h"
#include "common/sha256.h"

namespace qg {

namespace {
std::string tensor_name(std::size_t chunk, const char* what) { return fmt::format("c{:05}.{}", chunk, what); }
// "non-overlapping" or "llama.cpp-compatible": the rule without its chunk count (--max-chunks may use fewer).
std::string chunking_kind(const KlChunkPlan& plan) { return plan.rule.substr(0, plan.rule.find(':')); }
}  // namespace

bool is_compact_ref_cache_path(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) || path.extension() == ".safetensors";
}

std::string tokenizer_sha256_of(const std::filesystem::path& checkpoint_dir) {
  const auto path = checkpoint_dir / "tokenizer.json";
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? sha256_file_hex(path) : std::string();
}

// ---------------------------------------------------------------------------------------------------- writer

KlCompactCacheWriter::KlCompactCacheWriter(std::filesystem::path file, const KlChunkPlan& plan, std::int64_t n_vocab,
                                           std::int64_t k, nlohmann::json identity)
    : file_(std::move(file)), plan_(plan), n_vocab_(n_vocab), k_(std::min(k, n_vocab)),
      n_scored_(plan.scored_per_chunk), identity_(std::move(identity)) {
  if (k < 1) throw Error(fmt::format("--ref-cache-topk {}: expected K >= 1", k));
  const auto dir = file_.has_parent_path() ? file_.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(dir);
  nlohmann::json h = identity_;
  h["format"] = kKlCompactCacheFormat;
  h["version"] = kKlCompactCacheVersion;
  h["n_vocab"] = n_vocab_;
  h["k"] = k_;
  h["ctx"] = plan.ctx;
  h["first_scored_row"] = plan.first_scored_row;
  h["scored_per_chunk"] = n_scored_;
  h["n_chunks"] = plan.chunks.size();
  h["chunking"] = chunking_kind(plan);
  h["chunking_rule"] = plan.rule;
  h["stats_columns"] = {"lse", "neg_entropy", "tail_plogp", "p_tail", "nll", "p_next"};
  h["logits"] = "fp32 after the final softcap; log p = logit - lse";
  SafetensorsWriterOptions wo;
  wo.metadata = {{"quantgate", h.dump()}};
  wo.max_shard_bytes = UINT64_MAX;
  wo.basename = file_.filename().string() + ".partial";  // renamed to `file` by finish()
  writer_ = std::make_unique<SafetensorsWriter>(dir, wo);
  const auto rows = static_cast<std::size_t>(n_scored_);
  ids_.resize(rows * static_cast<std::size_t>(k_));
  logits_.resize(rows * static_cast<std::size_t>(k_));
  stats_.resize(rows * metrics::kCompactScalarCount);
  top1_.resize(rows);
}

KlCompactCacheWriter::~KlCompactCacheWriter() = default;

void KlCompactCacheWriter::add_rows(std::size_t index, const float* rows, std::int64_t row, std::int64_t n) {
  if (index != chunk_ || row != rows_done_ || row + n > n_scored_)
    throw Error(fmt::format("reference cache writer: got rows {}..{} of chunk {}, expected row {} of chunk {}", row,
                            row + n - 1, index, rows_done_, chunk_));
  const auto& tokens = plan_.chunks[index];
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r = row + i;
    const auto kk = static_cast<std::size_t>(k_), ri = static_cast<std::size_t>(r);
    metrics::CompactRefScalars s;
    try {
      s = metrics::compact_ref_row(
          std::span<const float>(rows + i * n_vocab_, static_cast<std::size_t>(n_vocab_)),
          tokens[static_cast<std::size_t>(plan_.first_scored_row + r + 1)],
          std::span<std::int32_t>(ids_).subspan(ri * kk, kk), std::span<float>(logits_).subspan(ri * kk, kk), scratch_);
    } catch (const Error& e) {
      throw Error(fmt::format("chunk {}, row {}: {}", index, plan_.first_scored_row + r, e.message()));
    }
    const double v[metrics::kCompactScalarCount] = {s.lse, s.neg_entropy, s.tail_plogp, s.p_tail, s.nll, s.p_next};
    std::copy(v, v + metrics::kCompactScalarCount, stats_.begin() + static_cast<std::ptrdiff_t>(ri * metrics::kCompactScalarCount));
    top1_[ri] = s.top1;
    p_tail_.add(s.p_tail);
  }
  rows_done_ += n;
  if (rows_done_ == n_scored_) flush_chunk();
}

void KlCompactCacheWriter::add_compact_rows(std::size_t index, std::int64_t row, std::int64_t n, const std::int32_t* ids,
                                            const float* logits, const double* stats, const std::int32_t* top1) {
  if (index != chunk_ || row != rows_done_ || row + n > n_scored_)
    throw Error(fmt::format("reference cache writer: got rows {}..{} of chunk {}, expected row {} of chunk {}", row,
                            row + n - 1, index, rows_done_, chunk_));
  const auto kk = static_cast<std::size_t>(k_), c = static_cast<std::size_t>(metrics::kCompactScalarCount);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto ri = static_cast<std::size_t>(row + i), ii = static_cast<std::size_t>(i);
    for (std::size_t j = 0; j < c; ++j)
      if (!std::isfinite(stats[ii * c + j]) && j != 5)
        throw Error(fmt::format("chunk {}, row {}: the reference produced an inf/NaN logit", index,
                                plan_.first_scored_row + row + i));
    std::copy_n(ids + ii * kk, kk, ids_.begin() + static_cast<std::ptrdiff_t>(ri * kk));
    std::copy_n(logits + ii * kk, kk, logits_.begin() + static_cast<std::ptrdiff_t>(ri * kk));
    std::copy_n(stats + ii * c, c, stats_.begin() + static_cast<std::ptrdiff_t>(ri * c));
    top1_[ri] = top1[ii];
    p_tail_.add(stats[ii * c + 3]);
  }
  rows_done_ += n;
  if (rows_done_ == n_scored_) flush_chunk();
}

void KlCompactCacheWriter::flush_chunk() {
  const auto& tokens = plan_.chunks[chunk_];
  const std::vector<std::int32_t> ids(tokens.begin(), tokens.end());
  writer_->add(tensor_name(chunk_, "ids"), DType::kI32, {plan_.ctx}, std::as_bytes(std::span<const std::int32_t>(ids)));
  writer_->add(tensor_name(chunk_, "topk_ids"), DType::kI32, {n_scored_, k_}, std::as_bytes(std::span<const std::int32_t>(ids_)));
  writer_->add(tensor_name(chunk_, "topk_logits"), DType::kF32, {n_scored_, k_}, std::as_bytes(std::span<const float>(logits_)));
  writer_->add(tensor_name(chunk_, "stats"), DType::kF64, {n_scored_, metrics::kCompactScalarCount},
               std::as_bytes(std::span<const double>(stats_)));
  writer_->add(tensor_name(chunk_, "top1"), DType::kI32, {n_scored_}, std::as_bytes(std::span<const std::int32_t>(top1_)));
  ++chunk_;
  rows_done_ = 0;
}

std::uint64_t KlCompactCacheWriter::finish() {
  if (chunk_ != plan_.chunks.size())
    throw Error(fmt::format("reference cache writer: {} of {} chunks written", chunk_, plan_.chunks.size()),
                {.file = file_.string()});
  const auto files = writer_->finish();
  std::filesystem::rename(files.front(), file_);
  return std::filesystem::file_size(file_);
}

bool write_kl_compact_cache(Forward& ref, const KlChunkPlan& plan, KlCompactCacheWriter& writer,
                            const std::function<bool()>& should_stop,
                            const std::function<void(std::size_t, std::size_t)>& progress) {
  const std::int64_t n_vocab = ref.config().n_vocab;
  const ScoreOptions options{.chunk_rows = 64, .first_logit_row = plan.first_scored_row};
  for (std::size_t ci = 0; ci < plan.chunks.size(); ++ci) {
    if (should_stop && should_stop()) return false;
    const auto& chunk = plan.chunks[ci];
    check_tokens(ref.config(), chunk, 0, fmt::format("chunk {}", ci));
    ref.score(TokenSpan(chunk), [&](const LogitsChunk& lc) {
      std::int64_t r0 = 0, row = 0;
      const std::int64_t n = scored_rows(plan, lc, &r0, &row);
      if (n > 0) writer.add_rows(ci, lc.logits.data() + r0 * n_vocab, row, n);
    }, options);
    if (progress) progress(ci + 1, plan.chunks.size());
  }
  return true;
}

namespace {
// Forwards everything to the real comparer and hands the reference rows to the writer on the way.
class TeeComparer final : public ForwardingKlRowComparer {
 public:
  TeeComparer(KlRowComparer& inner, KlCompactCacheWriter& writer, std::size_t chunk)
      : ForwardingKlRowComparer(inner), writer_(writer), chunk_(chunk) {}
  void keep_reference(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::int64_t n) override {
    if (lc.logits.empty())
      throw Error("--save-ref-cache with --cand needs host logits (the comparison runs on the host then)");
    writer_.add_rows(chunk_, lc.logits.data() + r0 * lc.n_vocab, row, n);
    inner_.keep_reference(lc, r0, row, n);
  }
  void keep_reference_host(const float* rows, std::int64_t row, std::int64_t n) override {
    writer_.add_rows(chunk_, rows, row, n);
    inner_.keep_reference_host(rows, row, n);
  }

 private:
  KlCompactCacheWriter& writer_;
  std::size_t chunk_;
};
}  // namespace

void SavingKlReference::fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) {
  TeeComparer tee(comparer, writer_, index);
  inner_.fill(index, chunk, tee);
}

// ---------------------------------------------------------------------------------------------------- reader

KlCompactCache::KlCompactCache(const std::filesystem::path& file, const KlChunkPlan& plan, std::int64_t n_vocab,
                               const nlohmann::json& corpus_identity, const std::string& tokenizer_sha256)
    : file_(file), n_vocab_(n_vocab), n_scored_(plan.scored_per_chunk), ctx_(plan.ctx) {
  const std::string path = file.string();
  const auto& meta = file_.header().metadata;
  const auto it = meta.find("quantgate");
  if (it == meta.end())
    throw Error("not a quantgate reference cache: no \"quantgate\" entry in the safetensors __metadata__",
                {.file = path, .hint = "write one with quantgate kl --save-ref-cache FILE"});
  try {
    header_ = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("the reference cache header is not valid JSON ({})", e.what()), {.file = path});
  }
  const std::string hint = "write a cache for this run with --save-ref-cache (same corpus, tokenizer and chunking)";
  auto want = [&](const char* key, const nlohmann::json& value) {
    if (!header_.contains(key) || header_[key] != value)
      throw Error(fmt::format("the reference cache was made with {} = {}, this run needs {}", key,
                              header_.contains(key) ? header_[key].dump() : "nothing", value.dump()),
                  {.file = path, .hint = hint});
  };
  want("format", kKlCompactCacheFormat);
  want("version", kKlCompactCacheVersion);
  want("n_vocab", n_vocab);
  want("ctx", plan.ctx);
  want("first_scored_row", plan.first_scored_row);
  want("scored_per_chunk", plan.scored_per_chunk);
  want("chunking", chunking_kind(plan));
  if (!header_.contains("n_chunks") || !header_["n_chunks"].is_number_unsigned() ||
      header_["n_chunks"].get<std::size_t>() < plan.chunks.size())
    throw Error(fmt::format("the reference cache holds {} chunks, this run needs {}",
                            header_.value("n_chunks", std::size_t{0}), plan.chunks.size()),
                {.file = path, .hint = hint});
  const std::string cache_corpus = header_.value("corpus", nlohmann::json::object()).value("sha256", "");
  const std::string run_corpus = corpus_identity.value("sha256", "");
  if (cache_corpus != run_corpus)
    throw Error(fmt::format("the reference cache was made from another corpus (sha256 {}, this run's {})",
                            cache_corpus, run_corpus),
                {.file = path, .hint = hint});
  const std::string cache_tok = header_.value("tokenizer_sha256", "");
  if (cache_tok != tokenizer_sha256)
    throw Error(fmt::format("the reference cache was made with another tokenizer (tokenizer.json sha256 {}, this "
                            "run's {})",
                            cache_tok.empty() ? "none" : cache_tok, tokenizer_sha256.empty() ? "none" : tokenizer_sha256),
                {.file = path, .hint = hint});
  if (!header_.contains("k") || !header_["k"].is_number_integer() || header_["k"].get<std::int64_t>() < 1 ||
      header_["k"].get<std::int64_t>() > n_vocab)
    throw Error("the reference cache header has no valid K", {.file = path});
  k_ = header_["k"].get<std::int64_t>();
}

metrics::CompactRefRow KlCompactCache::Chunk::row(std::int64_t r, std::int64_t k) const {
  const auto rr = static_cast<std::size_t>(r), kk = static_cast<std::size_t>(k);
  const double* s = stats.data() + rr * metrics::kCompactScalarCount;
  metrics::CompactRefRow row;
  row.s = {.lse = s[0], .neg_entropy = s[1], .tail_plogp = s[2], .p_tail = s[3], .nll = s[4], .p_next = s[5],
           .top1 = top1[rr]};
  row.ids = topk_ids.subspan(rr * kk, kk);
  row.logits = topk_logits.subspan(rr * kk, kk);
  return row;
}

KlCompactCache::Chunk KlCompactCache::chunk(std::size_t index, const std::vector<TokenId>& chunk) const {
  const std::string path = file_.path().string();
  auto get = [&](const char* what, DType dtype, const Shape& shape) {
    const std::string name = tensor_name(index, what);
    const TensorView v = file_.view(name);  // throws naming file and tensor when absent
    if (v.dtype != dtype || v.shape != shape)
      throw Error(fmt::format("expected {} {}, found {} {}", dtype_name(dtype), shape_str(shape), dtype_name(v.dtype),
                              shape_str(v.shape)),
                  {.file = path, .tensor = name});
    return v;
  };
  const TensorView ids = get("ids", DType::kI32, {ctx_});
  const auto* id = static_cast<const std::int32_t*>(ids.data);
  if (chunk.size() != static_cast<std::size_t>(ctx_) || !std::equal(chunk.begin(), chunk.end(), id))
    throw Error(fmt::format("chunk {} of the reference cache holds other token ids than this run's chunk {} (another "
                            "corpus, tokenizer or chunking)", index, index),
                {.file = path, .tensor = tensor_name(index, "ids")});
  Chunk c;
  const auto rows = static_cast<std::size_t>(n_scored_), kk = static_cast<std::size_t>(k_);
  c.topk_ids = {static_cast<const std::int32_t*>(get("topk_ids", DType::kI32, {n_scored_, k_}).data), rows * kk};
  c.topk_logits = {static_cast<const float*>(get("topk_logits", DType::kF32, {n_scored_, k_}).data), rows * kk};
  c.stats = {static_cast<const double*>(get("stats", DType::kF64, {n_scored_, metrics::kCompactScalarCount}).data),
             rows * metrics::kCompactScalarCount};
  c.top1 = {static_cast<const std::int32_t*>(get("top1", DType::kI32, {n_scored_}).data), rows};
  for (std::int32_t x : c.topk_ids)
    if (x < 0 || x >= n_vocab_)
      throw Error(fmt::format("top-K id {} outside the vocabulary ({})", x, n_vocab_),
                  {.file = path, .tensor = tensor_name(index, "topk_ids")});
  return c;
}

// ---------------------------------------------------------------------------------------------------- comparer

void CompactKlComparer::keep_reference(const LogitsChunk&, std::int64_t, std::int64_t, std::int64_t) {
  throw Error("internal: the compact-cache comparer takes its reference rows from the cache");
}
void CompactKlComparer::keep_reference_host(const float*, std::int64_t, std::int64_t) {
  throw Error("internal: the compact-cache comparer takes its reference rows from the cache");
}

void CompactKlComparer::compare(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::span<const TokenId> next,
                                std::vector<metrics::TokenKl>& out) {
  out.resize(next.size());
  for (std::size_t i = 0; i < next.size(); ++i) {
    const auto k = static_cast<std::int64_t>(i);
    const metrics::CompactTokenKl c =
        metrics::token_kl_compact(chunk_.row(row + k, cache_.k()), lc.row(r0 + k), next[i], method_, in_top_);
    out[i] = c.t;
    stats_.p_tail.add(c.p_tail);
    stats_.q_tail.add(c.q_tail);
    stats_.kl_lower.add(c.kl_lower);
    stats_.kl_upper.add(c.kl_upper);
  }
}

void CompactKlReference::fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) {
  if (&comparer != &comparer_) throw Error("internal: a compact-cache reference needs its own comparer");
  comparer_.select_chunk(index, chunk);
}

nlohmann::json kl_compact_approximation_json(const KlCompactCache& cache, const KlCompactRunStats& stats,
                                             metrics::KlTailMethod method) {
  return {
      {"source", cache.path().string()},
      {"method", metrics::kl_tail_method_name(method)},
      {"k", cache.k()},
      {"exact", "NLL, p, top-1 of both models, delta p; KL = exact top-K part + estimated tail"},
      {"kl_reverse", "approximate: exact top-K part + the log-sum lower bound of the tail (never above the truth)"},
      {"kl_mean_bounds", {{"lower", stats.kl_lower.mean()}, {"upper", stats.kl_upper.mean()}}},
      {"p_tail", {{"mean", stats.p_tail.mean()}, {"max", stats.p_tail.max()}}},
      {"q_tail", {{"mean", stats.q_tail.mean()}, {"max", stats.q_tail.max()}}},
      {"measured_error",
       {{"where", kKlCompactMeasuredWhere},
        {"max_token_error_over_p_tail", kKlCompactMeasuredTokenError},
        {"max_relative_mean_error", kKlCompactMeasuredMeanError},
        {"mean_error_holds_up_to_p_tail_mean", kKlCompactMeanErrorMaxTail},
        {"heavy_tail", kKlCompactMeasuredHeavyTailWhere}}},
  };
}

}  // namespace qg
