#pragma once
// The CUDA engine's memory budget, computed before anything runs (issue 6 item 4): weights, the
// dequantization workspace, the K/V cache, per-step activations, the logits chunk and cuBLAS's workspace.
// Host-only arithmetic, shared by the engine (which sizes its buffers from the same widths, so the plan
// is what gets allocated) and by its tests in CI. When the plan does not fit the free memory, the error
// says what needs how much and which flag value would make it fit.
#include <cstdint>
#include <string>
#include <string_view>

#include "model/gemma4_config.h"

namespace qg {

// How GEMM inputs (normed activations, attention output, gated activations) reach the bf16 GEMMs.
//   kAccurate: split into hi = bf16(x) and lo = bf16(x - hi), two GEMMs accumulated in fp32: x is carried to
//              2^-17 relative, so the engine follows the fp32 reference closely (KL ~1e-6 on the fixtures)
//              at twice the GEMM work. The default for quality measurements (kl, mmlu).
//   kFast:     x rounded to bf16 once (2^-9), one GEMM: what bf16 inference engines do; on the tiny fixtures
//              it moves the logits by KL ~2e-4 from the fp32 reference.
enum class GemmInputPrecision { kAccurate, kFast };
std::string_view precision_name(GemmInputPrecision p);            // "accurate" / "fast"
GemmInputPrecision parse_precision(const std::string& text);     // throws qg::Error naming the value

// The knobs a user can turn (CLI: --max-batch-tokens, --max-context, --logits-rows, --precision).
struct EngineLimits {
  std::int64_t max_batch_tokens = 2048;  // rows per step: packed tokens of one or more sequences
  std::int64_t max_context = 32768;      // K/V cache capacity in tokens (all sequences in flight together)
  std::int64_t logits_rows = 512;        // rows of fp32 logits [rows, n_vocab] produced at a time (one head GEMM)
  GemmInputPrecision precision = GemmInputPrecision::kAccurate;
};

// Per-row widths (elements) of the step buffers; the engine allocates exactly these.
struct StepWidths {
  std::int64_t residual = 0;   // fp32 x [H]
  std::int64_t gemm_in = 0;    // bf16 GEMM input: normed h, attention output, gated activation
  std::int64_t gemm_lo = 0;    // bf16 low halves of the GEMM input (accurate precision only)
  std::int64_t gemm_f32 = 0;   // fp32 staging of the GEMM input before the split (accurate precision only)
  std::int64_t q = 0;          // fp32 [n_heads * d_head], the widest layer
  std::int64_t kv = 0;         // fp32 [n_kv_heads * d_head], k and v each
  std::int64_t out1 = 0;       // fp32 GEMM output: o_proj, gate, down, PLE context
  std::int64_t out2 = 0;       // fp32 GEMM output: up
  std::int64_t ple = 0;        // fp32 per-layer inputs [n_layers * d_ple] (0 without PLE)
  std::int64_t moe_f32 = 0;    // fp32 MoE buffers: router input, router logits, gate_up, expert out, mixture
  std::int64_t moe_bf16 = 0;   // bf16 MoE buffers: expert input, gathered rows, gated activation
  std::int64_t q_f16 = 0;      // fp16 queries of attention by GEMMs (fast precision only)
  std::int64_t row_meta_bytes = 28;  // ids, positions (int32), kv_start, kv_dest (int64), kept-row index (int32)
  std::uint64_t bytes_per_row() const;
};
StepWidths step_widths(const Gemma4TextConfig& config, GemmInputPrecision precision);

// K and V of every layer that computes its own (KV-shared layers read their source's): fp32 in accurate
// precision, fp16 in fast (K/V are RMS-normalized before caching, so fp16's range is ample).
std::uint64_t kv_bytes_per_token(const Gemma4TextConfig& config, GemmInputPrecision precision);
int kv_element_bytes(GemmInputPrecision precision);  // 4 or 2

// Fast precision runs attention as GEMMs over blocks of query rows whose fp32 scores + fp16 probabilities take
// at most this much (forward/cuda/gemm_attention.h); accurate precision needs none.
inline constexpr std::uint64_t kAttentionScoreBytes = std::uint64_t{128} << 20;

struct MemoryPlan {
  std::uint64_t weights = 0;            // as stored on the GPU (bf16 dense, packed quantized, fp32 vectors)
  std::uint64_t dequant_workspace = 0;  // bf16 [out, in] of the largest quantized matrix
  std::uint64_t kv_cache = 0;
  std::uint64_t activations = 0;
  std::uint64_t logits = 0;
  std::uint64_t cublas_workspace = 0;
  std::uint64_t attention_scores = 0;  // fast precision: one block of scores of attention by GEMMs
  EngineLimits limits;

  std::uint64_t total() const;
  std::string breakdown() const;  // one line: "weights 9.07 GiB + KV ... = total"
};

MemoryPlan plan_memory(const Gemma4TextConfig& config, std::uint64_t weight_bytes, std::uint64_t dequant_workspace,
                       const EngineLimits& limits, std::uint64_t cublas_workspace);

// Throws qg::Error (exit 2) when plan.total() exceeds free_bytes: needed vs free bytes, the breakdown, and the
// largest --max-batch-tokens / --max-context values that would fit, or that the weights alone do not fit.
// `what` names the model and device ("gemma-4-e4b on cuda:0").
void check_plan_fits(const MemoryPlan& plan, const Gemma4TextConfig& config, std::uint64_t free_bytes,
                     const std::string& what);

// The step size when the user left --max-batch-tokens unset. Bigger steps run faster (fewer steps to launch and
// synchronize, fuller GEMM waves; measured on an H200, synthetic E4B, fast precision, same run: 48,713 tokens/s at
// 4 x 2048 with 2048-row steps, 50,167 with 4096, 50,962 with 8192) for activation memory (+1.1 GiB at 8192).
// Returns the largest of 8192 and 4096 above limits.max_batch_tokens whose extra memory over the plan at
// limits.max_batch_tokens is at most a quarter of what that plan leaves of `usable` (the rest stays for a second
// model, a KL comparer's rows, other processes); else limits.max_batch_tokens.
std::int64_t grown_batch_tokens(const Gemma4TextConfig& config, std::uint64_t weight_bytes,
                                std::uint64_t dequant_workspace, const EngineLimits& limits,
                                std::uint64_t cublas_workspace, std::uint64_t usable);

std::string format_bytes(std::uint64_t bytes);  // "1.25 GiB", "310.0 MiB"

}  // namespace qg
