#pragma once
// The forward-pass flags shared by score, kl and mmlu: --device, --threads (CPU engine) and the CUDA engine's
// memory knobs (--max-batch-tokens, --max-context, --logits-rows; see forward/memory_plan.h).
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "forward/open_forward.h"

namespace qg::cli {

struct EngineArgs {
  ForwardOptions forward;
  CLI::Option* max_context = nullptr;  // to tell a default from a given value
};

inline void add_engine_options(CLI::App* cmd, EngineArgs& a) {
  cmd->add_option("--device", a.forward.device, "cpu, cuda or cuda:N (the CUDA engine)")->capture_default_str();
  cmd->add_option("--threads", a.forward.threads, "CPU engine threads (0: all)");
  // Not given: 2048, raised to 4096 or 8192 when the GPU has memory to spare (faster; grown_batch_tokens).
  a.forward.auto_batch_tokens = true;
  cmd->add_option("--max-batch-tokens", a.forward.limits.max_batch_tokens,
                  "CUDA: tokens per step (activation memory grows with it); default 2048, or 4096 / 8192 when the GPU "
                  "has memory to spare")
      ->each([&a](const std::string&) { a.forward.auto_batch_tokens = false; });
  a.max_context = cmd->add_option("--max-context", a.forward.limits.max_context,
                                  "CUDA: K/V cache capacity in tokens (longest sequence, or all in flight)")
                      ->capture_default_str();
  cmd->add_option("--logits-rows", a.forward.limits.logits_rows, "CUDA: fp32 logit rows computed at a time")
      ->capture_default_str();
  cmd->add_option("--precision", a.forward.precision,
                  "CUDA GEMM inputs: accurate (bf16 hi+lo halves, ~fp32; default) or fast (bf16, 2x less GEMM work)")
      ->check(CLI::IsMember({"accurate", "fast"}))
      ->capture_default_str();
}

}  // namespace qg::cli
