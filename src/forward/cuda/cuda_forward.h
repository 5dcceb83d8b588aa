#pragma once
// The CUDA engine: the Gemma 4 text forward pass of gemma4-text.md on one GPU, for BF16 and quantized
// checkpoints, behind the same Forward interface as the CPU reference (forward/cpu), which it is tested
// against on every fixture.
//
// How it runs (chunked prefill): the tokens of a call are packed into steps of up to --max-batch-tokens rows,
// several sequences per step without padding; each step goes through all layers, writing its K/V into a
// cache of --max-context token rows that every sequence in flight has a slot of, so a 32k-token sequence needs
// activations for one step only. Weights are bf16 (an F32/F16 checkpoint is rounded at load, with a warning);
// quantized Linears stay packed and are dequantized per GEMM into a bf16 workspace. The residual stream, norms,
// RoPE, softmax, GEMM accumulation and outputs are fp32. GEMM inputs and the K/V cache depend on --precision
// (forward/memory_plan.h): accurate (default) carries GEMM inputs as bf16 hi + lo halves (two GEMMs, ~2^-17)
// and caches K/V in fp32, following the fp32 CPU reference to KL ~1e-6 on the fixtures; fast rounds GEMM
// inputs to bf16, caches K/V in fp16 and runs attention as fp16 tensor-core GEMMs (forward/cuda/gemm_attention.h),
// like bf16 inference engines (KL ~2e-4 from the reference there).
// Logits are computed --logits-rows at a time and handed to the consumer on the host or, with
// ScoreOptions::logits_on_device, on the GPU.
//
// Memory is planned before anything is allocated (forward/memory_plan.h): a model that does not fit fails
// at open() with needed vs free bytes and the flag value that would fit.
//
// Determinism: the same call gives bit-identical logits run to run (no atomics, kernels with a fixed reduction
// order; tested), and a sequence's logits are bit-identical whatever it is batched with (issue 8): GEMMs run a
// cuBLASLt algorithm pinned per shape for --max-batch-tokens rows (forward/cuda/gemm.h), so a row's result does not
// depend on the other rows; a sequence that does not fit the rest of a step starts the next one, so it is always cut
// into the same spans and its attention GEMMs have the same shapes; every other kernel is row-wise. Engines with
// another --max-batch-tokens (or another GPU or cuBLAS) may pin other algorithms: bit-identity holds within one
// configuration, not across them.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "forward/forward.h"
#include "forward/memory_plan.h"
#include "model/gemma4_config.h"

namespace qg {

struct CudaForwardOptions {
  int device = 0;  // CUDA device index (cuda:N)
  EngineLimits limits;
  // Left free beyond the plan: the CUDA context's own growth, allocator slack, other processes' churn.
  std::uint64_t headroom_bytes = std::uint64_t{512} << 20;
  // Time each phase of a step with CUDA events (one sync per step): profile_report() says where time went.
  bool profile = false;
  // Fast precision: the fused attention kernel, one-pass attention inputs and the merged q/k/v GEMM where the head
  // dims allow them. false runs attention by GEMMs and the separate kernels instead (tests compare the two).
  bool fused_kernels = true;
  // Raise limits.max_batch_tokens to 4096 or 8192 when memory allows (grown_batch_tokens in memory_plan.h): the CLI
  // sets it when --max-batch-tokens is not given.
  bool grow_batch_tokens = false;
};

// Random weights for a synthetic model (speed and memory runs without a checkpoint).
struct SyntheticWeights {
  std::uint64_t seed = 1;
  bool w4a16 = false;          // layer Linears int4 pack-quantized, symmetric, group 128, bf16 scales
  std::int64_t group_size = 128;
};

class CudaForward final : public Forward {
 public:
  // Throws qg::Error naming the file for a bad checkpoint, the device when no GPU is usable, and the plan when
  // the model does not fit.
  static std::unique_ptr<CudaForward> open(const std::filesystem::path& model_dir,
                                           const CudaForwardOptions& options = {});
  static std::unique_ptr<CudaForward> synthetic(const Gemma4Config& config, const SyntheticWeights& weights,
                                                const CudaForwardOptions& options = {});
  ~CudaForward() override;

  const Gemma4TextConfig& config() const override;
  std::string device() const override;
  std::vector<std::string> warnings() const override;

  using Forward::score;
  void score(std::span<const TokenSpan> batch, const LogitsConsumer& consume,
             const ScoreOptions& options = {}) override;
  PrefixHandle encode_prefix(TokenSpan prefix, const LogitsConsumer& consume = {},
                             const ScoreOptions& options = {}) override;
  void score_continuations(const PrefixHandle& prefix, std::span<const TokenSpan> continuations,
                           const LogitsConsumer& consume, const ScoreOptions& options = {}) override;

  const MemoryPlan& plan() const;
  std::string device_name() const;          // "NVIDIA H100 80GB HBM3"
  std::uint64_t peak_used_bytes() const;    // max device memory in use (cudaMemGetInfo) seen after any step
  std::uint64_t allocated_bytes() const;    // what this engine holds: weights + plan buffers
  std::string profile_report() const;       // with CudaForwardOptions::profile: GPU time per phase
  // Step rows that skipped the KV-shared layers because no logits were asked of them (forward/shared_layer_rows.h),
  // summed over every call so far; 0 when the model has no such layers or their attention cannot skip rows exactly.
  std::int64_t shared_layer_rows_skipped() const;

  struct Impl;

 private:
  explicit CudaForward(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg
