// Throughput of the fp32 CPU reference forward pass (prefill, logits for every position): tokens/s on
// the all_features fixture and on a synthetic model of a more realistic shape. A reference path, but it
// must not be pathologically slow: it scores KL references and cross-checks the CUDA engine.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "forward/cpu/cpu_forward.h"
#include "forward/synthetic_model.h"

namespace {

using qg::TokenId;

std::vector<TokenId> bench_ids(std::int64_t n, std::int64_t vocab) {
  std::vector<TokenId> ids{2};
  std::uint32_t x = 12345;
  while (static_cast<std::int64_t>(ids.size()) < n) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(static_cast<TokenId>(3 + (x >> 8) % static_cast<std::uint32_t>(vocab - 3)));
  }
  return ids;
}

// d_model 512, 4 layers (3 sliding with window 128 + 1 full), 8 heads of 64 (full: 128), 2 kv heads,
// d_ff 2048, vocab 4096, bf16 weights: written once per process under the temp dir.
class SyntheticModel {
 public:
  SyntheticModel()
      : dir_(std::filesystem::temp_directory_path() / ("qg_bench_forward_" + std::to_string(::getpid()))) {
    qg::test::write_synthetic_gemma4(
        dir_, qg::test::synthetic_gemma4_config(512, 4, 4096, 2048, 8, 2, 64, 128), qg::DType::kBF16, 1);
  }
  ~SyntheticModel() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

void run_forward(benchmark::State& state, const std::filesystem::path& model) {
  const std::int64_t n_tokens = state.range(0);
  auto forward =
      qg::CpuForward::open(model, qg::CpuForwardOptions{.n_threads = static_cast<int>(state.range(1))});
  const auto ids = bench_ids(n_tokens, forward->config().n_vocab);
  double checksum = 0;
  for (auto _ : state) {
    forward->score(qg::TokenSpan(ids), [&](const qg::LogitsChunk& c) { checksum += c.logits[0]; });
  }
  benchmark::DoNotOptimize(checksum);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n_tokens), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ForwardAllFeatures(benchmark::State& state) {
  run_forward(state, std::filesystem::path(QG_FIXTURES_DIR) / "gemma4" / "all_features");
}

void BM_ForwardSynthetic512(benchmark::State& state) {
  static SyntheticModel model;
  run_forward(state, model.dir());
}

}  // namespace

// Args: {n_tokens, n_threads (0 = all)}.
BENCHMARK(BM_ForwardAllFeatures)
    ->ArgNames({"tokens", "threads"})
    ->Args({21, 0})
    ->Args({256, 0})
    ->Args({256, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ForwardSynthetic512)
    ->ArgNames({"tokens", "threads"})
    ->Args({64, 0})
    ->Args({512, 0})
    ->Args({512, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
