#include "evals/engine_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "common/error.h"
#include "forward/open_forward.h"
#include "model/gemma4_inventory.h"

namespace qg::evals {

std::string EngineShape::name() const { return fmt::format("{}x{}", batch, tokens); }

std::vector<EngineShape> parse_engine_shapes(const std::string& text) {
  std::vector<EngineShape> shapes;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const std::size_t x = item.find('x');
    EngineShape s;
    try {
      if (x == std::string::npos) throw std::invalid_argument("no x");
      std::size_t used_b = 0, used_t = 0;
      s.batch = std::stoll(item.substr(0, x), &used_b);
      s.tokens = std::stoll(item.substr(x + 1), &used_t);
      if (used_b != x || used_t != item.size() - x - 1) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw Error(fmt::format("--shapes: '{}' is not BxT (e.g. 4x2048)", item));
    }
    if (s.batch < 1 || s.tokens < 1) throw Error(fmt::format("--shapes: '{}' needs B >= 1 and T >= 1", item));
    shapes.push_back(s);
    start = comma + 1;
  }
  return shapes;
}

double matmul_flops_per_token(const Gemma4Config& config) {
  const Gemma4Inventory inv = inventory_from_config(config);
  const auto it = inv.components.find("text.matmul");
  const double matmul = it == inv.components.end() ? 0.0 : static_cast<double>(it->second.params);
  // The head: its own matrix, or the tied embedding used as one.
  const double head = static_cast<double>(config.text.n_vocab) * static_cast<double>(config.text.d_model);
  return 2.0 * (matmul + head);
}

std::vector<TokenId> random_ids(std::int64_t n, std::int64_t n_vocab, std::uint64_t seed, TokenId first_id) {
  if (n_vocab <= first_id) throw Error(fmt::format("vocabulary of {} ids is too small for random ids", n_vocab));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> dist(first_id, n_vocab - 1);
  std::vector<TokenId> ids(static_cast<std::size_t>(n));
  for (auto& id : ids) id = static_cast<TokenId>(dist(rng));
  return ids;
}

EngineShapeResult bench_forward_shape(Forward& forward, const EngineShape& shape, double flops_per_token, int warmup,
                                      int repeats, std::uint64_t seed) {
  const std::int64_t vocab = forward.config().n_vocab;
  std::vector<std::vector<TokenId>> seqs;
  std::vector<TokenSpan> spans;
  for (std::int64_t b = 0; b < shape.batch; ++b)
    seqs.push_back(random_ids(shape.tokens, vocab, seed + static_cast<std::uint64_t>(b)));
  for (const auto& s : seqs) spans.emplace_back(s);
  std::int64_t rows = 0;
  const auto consume = [&rows](const LogitsChunk& c) { rows += c.n_rows; };
  const ScoreOptions options{.chunk_rows = 64, .logits_on_device = true};
  EngineShapeResult r{.shape = shape};
  for (int i = 0; i < warmup + repeats; ++i) {
    rows = 0;
    const auto t0 = std::chrono::steady_clock::now();
    forward.score(std::span<const TokenSpan>(spans), consume, options);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rows != shape.batch * shape.tokens)
      throw Error(fmt::format("bench-engine {}: the engine produced {} logit rows, expected {}", shape.name(), rows,
                              shape.batch * shape.tokens));
    if (i >= warmup) r.seconds.push_back(s);
  }
  std::vector<double> sorted = r.seconds;
  std::sort(sorted.begin(), sorted.end());
  r.median_seconds = sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
  r.tokens_per_second = r.median_seconds > 0 ? static_cast<double>(shape.batch * shape.tokens) / r.median_seconds : 0;
  r.effective_tflops = r.tokens_per_second * flops_per_token / 1e12;
  r.peak_device_bytes = forward_peak_device_bytes(forward);
  return r;
}

}  // namespace qg::evals
