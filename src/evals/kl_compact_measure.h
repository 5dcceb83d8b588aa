#pragma once
// What the compact reference cache's KL costs in accuracy on a given pair (issue 7: "the error it introduces is
// measured ... on a synthetic E4B pair and printed"): `bench-engine --kl-tokens F --kl-compact-k K` runs, over the
// same chunks, the exact comparison and the two passes a user runs with the cache (`kl --save-ref-cache FILE`:
// the reference alone into the file; `kl --ref-cache FILE --cand DIR`: the candidate against it), then pairs the
// per-token KLs token by token.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evals/kl_compact_cache.h"
#include "evals/kl_eval.h"

namespace qg {

// One scored token's KL and where it is (chunk, row = logit row in the chunk, the true next id).
struct KlTokenValue {
  std::int64_t chunk = 0, row = 0;
  TokenId next = 0;
  double kl = 0;
};
// Makes `options.on_token` append every scored token to `into` (and still call the on_token it had).
void record_token_kls(KlRunOptions& options, std::vector<KlTokenValue>& into);

// The compact KL against the exact one, token by token.
struct KlCompactError {
  std::size_t n_tokens = 0;
  double exact_mean = 0, compact_mean = 0;  // plain means of the per-token values, summed in token order
  double relative_mean_error = 0;           // (compact_mean - exact_mean) / exact_mean; 0 when both are 0
  double max_abs_token_error = 0;           // max |compact - exact| over tokens
  std::int64_t worst_chunk = 0, worst_row = 0;  // where it is
  double p_tail_mean = 0, p_tail_max = 0;   // reference mass beyond the top-K
  double max_error_over_max_p_tail = 0;     // what kKlCompactMeasuredTokenError bounds (0 when p_tail_max is 0)
  double bounds_lower_mean = 0, bounds_upper_mean = 0;  // the rigorous interval of the mean KL
  bool bounds_contain_exact = false;
  // Whether this pair stays within what kl_compact_cache.h prints as the measured error.
  bool within_printed_bound = false;
};
// Throws qg::Error when the two lists are not the same tokens (chunk, row, next id) in the same order.
KlCompactError compare_token_kls(std::span<const KlTokenValue> exact, std::span<const KlTokenValue> compact,
                                 const KlCompactRunStats& stats);

struct KlCompactMeasureOptions {
  std::int64_t k = 256;
  metrics::KlTailMethod method = kDefaultKlTailMethod;
  std::filesystem::path cache_file;  // written, then read back; left in place (the caller removes it)
  nlohmann::json identity;           // the cache header's "corpus", "tokenizer_sha256", "reference"
  std::function<void(const std::string&)> on_phase;  // one line per phase (progress)
};

struct KlCompactMeasurement {
  KlRun exact;                        // the exact run, as run_kl returns it
  std::vector<KlTokenValue> exact_tokens, compact_tokens;  // same order
  KlCompactRunStats stats;            // of the run from the cache
  KlCompactError error;
  std::int64_t k = 0;
  metrics::KlTailMethod method = kDefaultKlTailMethod;
  bool written_on_device = false, compared_on_device = false;
  std::uint64_t cache_bytes = 0;
  double exact_seconds = 0;    // both models over every chunk, full rows compared (wall)
  double write_seconds = 0;    // the reference alone into the cache, file finished (wall)
  double compare_seconds = 0;  // the cache opened and the candidate compared with it (wall)
};
// Runs the three passes over every chunk of `plan` with `options` (its on_token still sees the exact run's tokens;
// should_stop is not polled): the exact comparison with open_kl_comparer's comparer; the reference into
// m.cache_file (on the GPU for a CUDA reference, as kl --save-ref-cache); the candidate against the cache (on the
// GPU for a CUDA candidate, as kl --ref-cache). Throws qg::Error as run_kl and the cache classes do.
KlCompactMeasurement measure_kl_compact(Forward& ref, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
                                        const KlCompactMeasureOptions& m);

}  // namespace qg
