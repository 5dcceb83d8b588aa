#include "evals/kl_ref_cache.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>

#include "checkpoint/checkpoint.h"
#include "checkpoint/json_file.h"
#include "checkpoint/safetensors_writer.h"
#include "common/error.h"

namespace qg {

namespace {
std::string chunk_file(std::size_t index) { return fmt::format("chunk_{:05}.safetensors", index); }
std::string chunk_stem(std::size_t index) { return fmt::format("chunk_{:05}", index); }
}  // namespace

bool kl_ref_cache_exists(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::exists(dir / "manifest.json", ec);
}

void write_kl_ref_cache(Forward& ref, const KlChunkPlan& plan, const std::filesystem::path& dir,
                        const nlohmann::json& identity, const std::function<void(std::size_t, std::size_t)>& progress) {
  std::filesystem::create_directories(dir);
  const std::int64_t n_vocab = ref.config().n_vocab, n_scored = plan.scored_per_chunk;
  const ScoreOptions options{.chunk_rows = 64, .first_logit_row = plan.first_scored_row};
  for (std::size_t ci = 0; ci < plan.chunks.size(); ++ci) {
    const auto& chunk = plan.chunks[ci];
    check_tokens(ref.config(), chunk, 0, fmt::format("chunk {}", ci));
    SafetensorsWriterOptions wo;
    wo.max_shard_bytes = UINT64_MAX;
    wo.basename = chunk_stem(ci);
    SafetensorsWriter w(dir, wo);
    std::vector<std::int64_t> ids(chunk.begin(), chunk.end());
    w.add("ids", DType::kI64, {static_cast<std::int64_t>(ids.size())}, std::as_bytes(std::span<const std::int64_t>(ids)));
    // Rows stream to disk as the engine hands them out: one chunk's rows are never all in memory.
    std::int64_t written = 0;
    w.add_streamed("logits", DType::kF32, {n_scored, n_vocab}, [&](const SafetensorsWriter::Sink& sink) {
      ref.score(TokenSpan(chunk), [&](const LogitsChunk& lc) {
        std::int64_t r0 = 0, row = 0;
        const std::int64_t n = scored_rows(plan, lc, &r0, &row);
        if (n == 0) return;
        if (row != written) throw Error(fmt::format("chunk {}: reference rows out of order", ci));
        sink(std::as_bytes(lc.logits.subspan(static_cast<std::size_t>(r0 * n_vocab), static_cast<std::size_t>(n * n_vocab))));
        written += n;
      }, options);
    });
    if (written != n_scored) throw Error(fmt::format("chunk {}: {} reference rows of {}", ci, written, n_scored));
    w.finish();
    if (progress) progress(ci + 1, plan.chunks.size());
  }
  nlohmann::json m = identity;
  m["format"] = kKlRefCacheFormat;
  m["n_vocab"] = n_vocab;
  m["ctx"] = plan.ctx;
  m["first_scored_row"] = plan.first_scored_row;
  m["scored_per_chunk"] = n_scored;
  m["n_chunks"] = plan.chunks.size();
  m["logits"] = "fp32, after the final softcap, rows first_scored_row .. ctx - 2 of each chunk";
  const auto path = dir / "manifest.json";
  std::ofstream out(path);
  if (!out || !(out << m.dump(1) << "\n")) throw Error("cannot write the reference cache manifest", {.file = path.string()});
}

KlRefCache::KlRefCache(const std::filesystem::path& dir, const KlChunkPlan& plan, std::int64_t n_vocab)
    : dir_(dir), n_vocab_(n_vocab), n_scored_(plan.scored_per_chunk) {
  const auto path = (dir / "manifest.json").string();
  manifest_ = read_json_file(dir / "manifest.json");
  auto want = [&](const char* key, const nlohmann::json& value) {
    if (!manifest_.contains(key) || manifest_[key] != value)
      throw Error(fmt::format("the reference cache was made with {} = {}, this run needs {}", key,
                              manifest_.contains(key) ? manifest_[key].dump() : "nothing", value.dump()),
                  {.file = path, .hint = "use another --ref-cache directory, or delete this one to rebuild it"});
  };
  want("format", kKlRefCacheFormat);
  want("n_vocab", n_vocab);
  want("ctx", plan.ctx);
  want("first_scored_row", plan.first_scored_row);
  want("scored_per_chunk", plan.scored_per_chunk);
  if (!manifest_.contains("n_chunks") || manifest_["n_chunks"].get<std::size_t>() < plan.chunks.size())
    throw Error(fmt::format("the reference cache holds {} chunks, this run needs {}",
                            manifest_.value("n_chunks", std::size_t{0}), plan.chunks.size()),
                {.file = path});
}

void KlRefCache::load(std::size_t index, const std::vector<TokenId>& chunk, std::vector<float>& rows) const {
  const auto path = dir_ / chunk_file(index);
  const Checkpoint ck = Checkpoint::open(path);
  const TensorView ids = ck.view("ids");
  bool same = ids.dtype == DType::kI64 && ids.numel() == static_cast<std::int64_t>(chunk.size());
  for (std::size_t i = 0; same && i < chunk.size(); ++i)
    same = static_cast<TokenId>(load_as_f32(ids, static_cast<std::int64_t>(i))) == chunk[i];
  if (!same)
    throw Error(fmt::format("chunk {} of the reference cache holds other token ids than this run's chunk {} (another "
                            "corpus, tokenizer or chunking)", index, index),
                {.file = path.string(), .tensor = "ids"});
  const TensorView logits = ck.view("logits");
  if (logits.dtype != DType::kF32 || logits.shape != Shape{n_scored_, n_vocab_})
    throw Error(fmt::format("expected F32 [{}, {}], found {} {}", n_scored_, n_vocab_, dtype_name(logits.dtype),
                            shape_str(logits.shape)),
                {.file = path.string(), .tensor = "logits"});
  rows.resize(static_cast<std::size_t>(n_scored_ * n_vocab_));
  std::memcpy(rows.data(), logits.data, rows.size() * 4);
}

void CachedKlReference::fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) {
  cache_.load(index, chunk, rows_);
  comparer.keep_reference_host(rows_.data(), 0, static_cast<std::int64_t>(rows_.size()) / cache_.manifest()["n_vocab"].get<std::int64_t>());
}

}  // namespace qg
