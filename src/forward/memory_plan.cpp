#include "forward/memory_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"

namespace qg {

std::string_view precision_name(GemmInputPrecision p) {
  return p == GemmInputPrecision::kAccurate ? "accurate" : "fast";
}

GemmInputPrecision parse_precision(const std::string& text) {
  if (text == "accurate") return GemmInputPrecision::kAccurate;
  if (text == "fast") return GemmInputPrecision::kFast;
  throw Error(fmt::format("--precision {}: expected accurate or fast", text));
}

std::uint64_t StepWidths::bytes_per_row() const {
  const std::int64_t f32 = residual + gemm_f32 + q + 2 * kv + out1 + out2 + ple + moe_f32;
  const std::int64_t b16 = gemm_in + gemm_lo + moe_bf16 + q_f16;
  return static_cast<std::uint64_t>(4 * f32 + 2 * b16 + row_meta_bytes);
}

StepWidths step_widths(const Gemma4TextConfig& c, GemmInputPrecision precision) {
  const bool split = precision == GemmInputPrecision::kAccurate;
  StepWidths w;
  std::int64_t q = 0, kv = 0, ff = 0;
  for (const Gemma4LayerConfig& l : c.layers) {
    q = std::max(q, l.n_heads * l.d_head);
    kv = std::max(kv, l.n_kv_heads * l.d_head);
    ff = std::max(ff, l.d_ff);
  }
  const std::int64_t ple = c.has_ple() ? c.n_layers * c.d_ple : 0;
  w.residual = c.d_model;
  w.gemm_in = std::max({c.d_model, q, ff, c.d_ple});
  w.gemm_lo = split ? w.gemm_in : 0;
  w.gemm_f32 = split ? w.gemm_in : 0;
  w.q = q;
  w.q_f16 = split ? 0 : q;
  w.kv = kv;
  w.out1 = std::max({c.d_model, ff, ple, c.d_ple});
  w.out2 = std::max(ff, c.d_ple);  // also the PLE gate output [P]
  w.ple = ple;
  if (c.enable_moe_block) {
    // router input z [H], router logits [E], top-k ids + weights [2k], per-expert row lists + weights [2k],
    // gate_up [2I], expert out [H], mixture [H] (4-byte elements all)
    w.moe_f32 = c.d_model + c.n_experts + 4 * c.top_k_experts + 2 * c.d_expert + 2 * c.d_model;
    // expert input u [H], gathered rows [H], gated activation [I]; accurate: their low halves too, and the
    // gated activation in fp32 before its split
    w.moe_bf16 = (split ? 2 : 1) * (2 * c.d_model + c.d_expert);
    if (split) w.moe_f32 += c.d_expert;
  }
  return w;
}

int kv_element_bytes(GemmInputPrecision precision) { return precision == GemmInputPrecision::kAccurate ? 4 : 2; }

std::uint64_t kv_bytes_per_token(const Gemma4TextConfig& c, GemmInputPrecision precision) {
  std::uint64_t bytes = 0;
  for (const Gemma4LayerConfig& l : c.layers)
    if (!l.kv_shared)  // K and V
      bytes += static_cast<std::uint64_t>(2 * l.n_kv_heads * l.d_head * kv_element_bytes(precision));
  return bytes;
}

std::uint64_t MemoryPlan::total() const {
  return weights + dequant_workspace + kv_cache + activations + logits + cublas_workspace + attention_scores;
}

std::string format_bytes(std::uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  return fmt::format("{:.1f} KiB", b / 1024.0);
}

std::string MemoryPlan::breakdown() const {
  return fmt::format(
      "weights {} + dequant workspace {} + KV cache {} ({} tokens) + activations {} ({} tokens a step, {}) + "
      "logits {} ({} rows) + cuBLAS workspace {}{} = {}",
      format_bytes(weights), format_bytes(dequant_workspace), format_bytes(kv_cache), limits.max_context,
      format_bytes(activations), limits.max_batch_tokens, precision_name(limits.precision), format_bytes(logits),
      limits.logits_rows,
      format_bytes(cublas_workspace),
      attention_scores > 0 ? fmt::format(" + attention scores {}", format_bytes(attention_scores)) : "",
      format_bytes(total()));
}

MemoryPlan plan_memory(const Gemma4TextConfig& c, std::uint64_t weight_bytes, std::uint64_t dequant_workspace,
                       const EngineLimits& limits, std::uint64_t cublas_workspace) {
  if (limits.max_batch_tokens < 1 || limits.max_context < 1 || limits.logits_rows < 1)
    throw Error(fmt::format("engine limits must be positive (max batch tokens {}, max context {}, logits rows {})",
                            limits.max_batch_tokens, limits.max_context, limits.logits_rows));
  MemoryPlan p;
  p.limits = limits;
  p.weights = weight_bytes;
  p.dequant_workspace = dequant_workspace;
  p.kv_cache = kv_bytes_per_token(c, limits.precision) * static_cast<std::uint64_t>(limits.max_context);
  p.activations =
      step_widths(c, limits.precision).bytes_per_row() * static_cast<std::uint64_t>(limits.max_batch_tokens);
  // fp32 logits plus the bf16 final-norm rows that feed the head GEMM (accurate: their fp32 staging and low
  // halves too).
  const std::int64_t head_row = c.d_model * (limits.precision == GemmInputPrecision::kAccurate ? 2 + 2 + 4 : 2);
  p.logits = static_cast<std::uint64_t>(limits.logits_rows) * static_cast<std::uint64_t>(c.n_vocab * 4 + head_row);
  p.cublas_workspace = cublas_workspace;
  p.attention_scores = limits.precision == GemmInputPrecision::kFast ? kAttentionScoreBytes : 0;
  return p;
}

void check_plan_fits(const MemoryPlan& plan, const Gemma4TextConfig& c, std::uint64_t free_bytes,
                     const std::string& what) {
  if (plan.total() <= free_bytes) return;
  const std::string head = fmt::format("{} needs {} of GPU memory but {} is free: {}", what,
                                       format_bytes(plan.total()), format_bytes(free_bytes), plan.breakdown());
  const std::uint64_t fixed = plan.weights + plan.dequant_workspace + plan.cublas_workspace + plan.attention_scores;
  const std::uint64_t minimal = fixed + kv_bytes_per_token(c, plan.limits.precision) * 512 +
                                step_widths(c, plan.limits.precision).bytes_per_row() * 128 +
                                static_cast<std::uint64_t>(c.n_vocab * 4 + c.d_model * 2);
  if (minimal > free_bytes)
    throw Error(head, {.hint = fmt::format("the weights alone need {}: use a GPU with more memory, free it from "
                                           "other processes, or use --device cpu",
                                           format_bytes(fixed))});
  // Halve the step size, then the context, until it fits: the flags a user would reach for first.
  EngineLimits l = plan.limits;
  auto total = [&](const EngineLimits& x) {
    return plan_memory(c, plan.weights, plan.dequant_workspace, x, plan.cublas_workspace).total();
  };
  while (total(l) > free_bytes && l.max_batch_tokens > 128) l.max_batch_tokens /= 2;
  std::string hint;
  if (total(l) <= free_bytes) {
    hint = fmt::format("--max-batch-tokens {} would fit ({})", l.max_batch_tokens, format_bytes(total(l)));
  } else {
    while (total(l) > free_bytes && l.max_context > 512) l.max_context /= 2;
    hint = fmt::format("--max-batch-tokens {} --max-context {} would fit ({}); longer sequences need a GPU with "
                       "more free memory",
                       l.max_batch_tokens, l.max_context, format_bytes(total(l)));
  }
  throw Error(head, {.hint = hint});
}

std::int64_t grown_batch_tokens(const Gemma4TextConfig& c, std::uint64_t weight_bytes, std::uint64_t dequant_workspace,
                                const EngineLimits& limits, std::uint64_t cublas_workspace, std::uint64_t usable) {
  auto total = [&](std::int64_t rows) {
    EngineLimits l = limits;
    l.max_batch_tokens = rows;
    return plan_memory(c, weight_bytes, dequant_workspace, l, cublas_workspace).total();
  };
  const std::uint64_t base = total(limits.max_batch_tokens);
  if (base >= usable) return limits.max_batch_tokens;  // check_plan_fits reports it
  for (const std::int64_t rows : {std::int64_t{8192}, std::int64_t{4096}})
    if (rows > limits.max_batch_tokens && total(rows) - base <= (usable - base) / 4) return rows;
  return limits.max_batch_tokens;
}

}  // namespace qg
