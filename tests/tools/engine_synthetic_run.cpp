// Runs the CUDA engine on a synthetic model: a real config's shapes (e.g. tests/fixtures/configs/
// gemma4_e4b.json) with random weights generated on the GPU, BF16 or W4A16, one sequence of N tokens, and
// reports the memory plan, peak device memory and time. Issue 6's memory check (E4B W4A16 at 1 x 32768 under
// 16 GB) is this program's output; it is a measurement tool, not a test.
//
// Usage: qg_engine_synthetic CONFIG.json [bf16|w4a16] [N_TOKENS=32768] [MAX_BATCH_TOKENS=2048] [accurate|fast]
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/error.h"
#include "forward/cuda/cuda_forward.h"

using namespace qg;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONFIG.json [bf16|w4a16] [N_TOKENS=32768] [MAX_BATCH_TOKENS=2048] [accurate|fast]\n",
                 argv[0]);
    return 2;
  }
  try {
    const std::string mode = argc > 2 ? argv[2] : "bf16";
    const std::int64_t n = argc > 3 ? std::stoll(argv[3]) : 32768;
    const std::int64_t batch = argc > 4 ? std::stoll(argv[4]) : 2048;
    if (mode != "bf16" && mode != "w4a16") throw Error("mode must be bf16 or w4a16");
    Gemma4Config config = read_gemma4_config(argv[1]);
    CudaForwardOptions options;
    options.limits.max_context = n;
    options.limits.max_batch_tokens = batch;
    options.limits.precision = parse_precision(argc > 5 ? argv[5] : "accurate");
    std::size_t free0 = 0, total = 0;
    cudaSetDevice(0);
    cudaFree(nullptr);  // create the context so its own memory is not counted as ours
    cudaMemGetInfo(&free0, &total);
    const auto t_load = std::chrono::steady_clock::now();
    auto engine = CudaForward::synthetic(config, SyntheticWeights{.seed = 1, .w4a16 = mode == "w4a16"}, options);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();

    std::vector<TokenId> ids(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = static_cast<TokenId>(i == 0 ? 2 : 3 + (i * 7919) % 262000);
    std::int64_t rows = 0;
    const auto t0 = std::chrono::steady_clock::now();
    // Every row's logits are produced (in --logits-rows chunks) and handed over on the GPU, as KL consumes them.
    engine->score(TokenSpan(ids), [&](const LogitsChunk& c) { rows += c.n_rows; },
                  ScoreOptions{.chunk_rows = 64, .logits_on_device = true});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gib = 1024.0 * 1024 * 1024;
    std::printf("device: %s\n", engine->device_name().c_str());
    std::printf("model: %s, %s synthetic weights, 1 x %lld tokens, %lld tokens per step, %s precision\n", argv[1],
                mode.c_str(), static_cast<long long>(n), static_cast<long long>(batch),
                std::string(precision_name(options.limits.precision)).c_str());
    std::printf("plan: %s\n", engine->plan().breakdown().c_str());
    std::printf("weights on GPU: %.2f GiB (load %.1f s)\n", static_cast<double>(engine->plan().weights) / gib, load_s);
    std::printf("peak device memory in use: %.2f GiB of %.2f GiB (CUDA context excluded: %.2f GiB)\n",
                static_cast<double>(engine->peak_used_bytes()) / gib, static_cast<double>(total) / gib,
                static_cast<double>(engine->peak_used_bytes() - (total - free0)) / gib);
    std::printf("forward: %lld logit rows in %.2f s = %.0f tokens/s\n", static_cast<long long>(rows), s,
                static_cast<double>(n) / s);
    return rows == n ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.message().c_str());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return 2;
  }
}
