#pragma once
// The reference side of `quantgate kl`, saved to disk (`--ref-cache DIR`): the reference model's fp32 logits
// of every scored row of every chunk, one safetensors file per chunk, plus manifest.json. It lets the two models
// run one after the other instead of side by side (an 8B BF16 reference and its W4A16 candidate do not fit a
// 24 GB GPU together), and several candidates be compared with one reference pass. The rows are stored exactly
// (fp32: 1 MiB per scored token at a 262144 vocabulary), so a cached run gives the same numbers as a live one.
//
// manifest.json is written last: a directory without it (an interrupted first pass) is never reused.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "evals/kl_eval.h"
#include "forward/forward.h"

namespace qg {

inline constexpr const char* kKlRefCacheFormat = "quantgate.kl_ref_cache/1";

bool kl_ref_cache_exists(const std::filesystem::path& dir);  // a manifest is there

// Runs `ref` over every chunk of `plan` and writes the cache. `identity` (reference checkpoint and corpus
// identity, chunking) goes into the manifest. `progress(done, total)` after each chunk.
void write_kl_ref_cache(Forward& ref, const KlChunkPlan& plan, const std::filesystem::path& dir,
                        const nlohmann::json& identity, const std::function<void(std::size_t, std::size_t)>& progress = {});

class KlRefCache {
 public:
  // Reads and checks the manifest against the plan (ctx, scored rows, chunk count, vocabulary); throws qg::Error
  // naming the manifest on any mismatch.
  KlRefCache(const std::filesystem::path& dir, const KlChunkPlan& plan, std::int64_t n_vocab);
  const nlohmann::json& manifest() const { return manifest_; }
  // The scored rows of chunk `index` [scored_per_chunk, n_vocab]; throws naming the file when its token ids are
  // not the plan's chunk (another corpus or tokenizer) or it is missing or corrupt.
  void load(std::size_t index, const std::vector<TokenId>& chunk, std::vector<float>& rows) const;

 private:
  std::filesystem::path dir_;
  nlohmann::json manifest_;
  std::int64_t n_vocab_ = 0, n_scored_ = 0;
};

// A KlReference that reads the cache (run_kl's reference side).
class CachedKlReference final : public KlReference {
 public:
  explicit CachedKlReference(const KlRefCache& cache) : cache_(cache) {}
  void fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) override;

 private:
  const KlRefCache& cache_;
  std::vector<float> rows_;
};

}  // namespace qg
