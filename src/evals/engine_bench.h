#pragma once
// `quantgate bench-engine` (issue 11): how fast our forward pass scores tokens, measured the way the
// transformers baseline (scripts/bench_transformers.py) measures itself, so the two can be put side by side:
// B sequences of T random ids, every logit row produced, one warm-up call then the median of timed calls.
// Timings are wall clock around calls that return only after the GPU finished (the engines synchronize before
// handing out the last logits), so no asynchronous work escapes the timer.
#include <cstdint>
#include <string>
#include <vector>

#include "forward/forward.h"
#include "model/gemma4_config.h"

namespace qg::evals {

struct EngineShape {
  std::int64_t batch = 1, tokens = 2048;  // B sequences of T tokens
  std::string name() const;               // "4x2048"
};
// "1x2048,4x2048" -> shapes; throws qg::Error naming the bad item.
std::vector<EngineShape> parse_engine_shapes(const std::string& text);

// Matmul FLOPs per token: 2 x (every Linear of the text decoder, KV-shared layers' unused k/v excluded, plus
// the head). The convention of issue 11's baseline (9.29 GFLOP for E4B); attention's S x S work is not
// counted (so "effective TFLOP/s" understates long sequences a little, for both engines alike).
double matmul_flops_per_token(const Gemma4Config& config);

struct EngineShapeResult {
  EngineShape shape;
  std::vector<double> seconds;  // each timed call
  double median_seconds = 0;
  double tokens_per_second = 0;  // B*T / median
  double effective_tflops = 0;   // tokens/s x matmul_flops_per_token
  std::uint64_t peak_device_bytes = 0;  // GPU engines: memory in use at the peak (0: not measured)
};

// Random ids in [first_id, n_vocab) from a seeded generator: the same for every engine given the same seed.
std::vector<TokenId> random_ids(std::int64_t n, std::int64_t n_vocab, std::uint64_t seed, TokenId first_id = 3);

// Scores `shape` (logits of every row, handed over on the device when the engine can) `warmup` times untimed,
// then `repeats` times timed.
EngineShapeResult bench_forward_shape(Forward& forward, const EngineShape& shape, double flops_per_token,
                                      int warmup, int repeats, std::uint64_t seed);

}  // namespace qg::evals
