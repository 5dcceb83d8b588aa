#include "forward/cuda/decoder_step.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "forward/cpu/embedding.h"
#include "forward/forward.h"
#include "kernels/attention_input_kernels.cuh"
#include "kernels/attention_kernels.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/elementwise_kernels.cuh"
#include "kernels/embedding_kernels.cuh"
#include "kernels/moe_kernels.cuh"
#include "kernels/norm_kernels.cuh"
#include "kernels/rope_kernels.cuh"

namespace qg::cuda {

namespace {

using bf16 = __nv_bfloat16;

struct Step {
  CudaForward::Impl& e;
  std::int64_t m;
  const StepEmitter& emit;
  const Gemma4TextConfig& c = e.config.text;
  const float eps = static_cast<float>(e.config.text.rms_norm_eps);
  cudaStream_t s = e.stream;

  void mark(const char* phase) const { e.profile.mark(phase, s); }

  // Fast precision: the last residual update already wrote the next GEMM input into gemm_in (add_rms_norm_then).
  bool input_ready = false;

  // A GEMM input: bf16 values, plus their low halves in accurate precision (see memory_plan.h).
  struct Input {
    const bf16* hi;
    const bf16* lo;  // nullptr in fast precision
  };

  // y[rows, out] = x · Wᵀ (+ the low halves' product, accumulated in fp32 by cuBLAS with beta = 1).
  void gemm(const Input& x, const GpuMatrix& w, float* y, std::int64_t rows) const {
    const bf16* wb = w.bf16(e.ws(), s);
    e.gemm->bf16(x.hi, wb, y, rows, w.out(), w.in());
    if (x.lo != nullptr) e.gemm->bf16(x.lo, wb, y, rows, w.out(), w.in(), 1.0f, 1.0f);
  }
  void gemm(const Input& x, const GpuMatrix& w, float* y) const { gemm(x, w, y, m); }

  // fp32 values [n] (already in place, e.g. the staging buffer) -> the step's GEMM input buffers.
  Input input_from_f32(const float* x, std::int64_t n) const {
    bf16* hi = e.gemm_in.as<bf16>();
    if (!e.accurate()) {
      f32_to_bf16(x, n, hi, s);
      return {hi, nullptr};
    }
    split_to_bf16(x, n, hi, e.gemm_lo.as<bf16>(), s);
    return {hi, e.gemm_lo.as<bf16>()};
  }
  // rms_norm(x; w) over rows of `width` as a GEMM input.
  Input normed_input(const float* x, const DeviceBuffer& w, std::int64_t width) const {
    if (!e.accurate()) {
      rms_norm_to_bf16(x, w.as<float>(), m, width, eps, e.gemm_in.as<bf16>(), s);
      return {e.gemm_in.as<bf16>(), nullptr};
    }
    float* staged = e.gemm_f32.as<float>();
    QG_CUDA_CHECK(cudaMemcpyAsync(staged, x, static_cast<std::size_t>(m * width) * 4, cudaMemcpyDeviceToDevice, s));
    rms_norm_in_place(staged, w.as<float>(), m, width, eps, s);
    return input_from_f32(staged, m * width);
  }
  // gelu_tanh(gate) * up over [rows, width] (strided) as a GEMM input.
  Input gated_input(const float* gate, std::int64_t gate_stride, const float* up, std::int64_t up_stride,
                    std::int64_t width) const {
    if (!e.accurate()) {
      gelu_tanh_mul_to_bf16(gate, gate_stride, up, up_stride, m, width, e.gemm_in.as<bf16>(), width, s);
      return {e.gemm_in.as<bf16>(), nullptr};
    }
    float* staged = e.gemm_f32.as<float>();
    gelu_tanh_mul_to_f32(gate, gate_stride, up, up_stride, m, width, staged, width, s);
    return input_from_f32(staged, m * width);
  }

  // The GEMM input a block starts from: rms_norm(x; w), unless the previous residual update already wrote it.
  Input block_input(const DeviceBuffer& w) {
    if (input_ready) {
      input_ready = false;
      return {e.gemm_in.as<bf16>(), nullptr};
    }
    return normed_input(e.x.as<float>(), w, c.d_model);
  }

  // x = (x + rms_norm(y; w)) * scale, ending a block (scale: the layer scalar when it ends the layer). In the fast
  // precision the same pass writes what reads x next into gemm_in (`next`, normed by next_w), see block_input.
  void residual_add(const float* y, const DeviceBuffer& w, float scale, NextInput next, const DeviceBuffer* next_w) {
    const std::int64_t H = c.d_model;
    if (e.accurate()) {
      add_rms_norm(e.x.as<float>(), y, w.as<float>(), m, H, eps, s);
      if (scale != 1.0f) scale_in_place(e.x.as<float>(), m * H, scale, s);
      return;
    }
    add_rms_norm_then(e.x.as<float>(), y, w.as<float>(), m, H, eps, scale, next,
                      next_w != nullptr ? next_w->as<float>() : nullptr, e.gemm_in.as<bf16>(), s);
    input_ready = next != NextInput::kNone;
  }
  // What the layer's last residual update writes for layer i + 1: its normed input (none after the last layer).
  NextInput after_layer(int i) const { return i + 1 < c.n_layers ? NextInput::kNormed : NextInput::kNone; }
  const DeviceBuffer* next_norm(int i) const {
    return i + 1 < c.n_layers ? &e.w.layers[static_cast<std::size_t>(i + 1)].input_norm : nullptr;
  }

  // The [q; k; v] weight rows as one bf16 matrix for one GEMM (fast precision): fused at load for dense weights,
  // dequantized side by side into the workspace for quantized ones; nullptr when neither applies (mixed storage, a
  // workspace or an output buffer too small), and the three GEMMs run.
  const bf16* merged_qkv_weights(const GpuLayerWeights& w) const {
    const std::int64_t rows = qkv_rows(w), in = w.q_proj.in();
    if (rows > e.widths.out1) return nullptr;  // its output goes to out1
    if (!w.qkv.empty()) return w.qkv.as<bf16>();
    for (const GpuMatrix* part : {&w.q_proj, &w.k_proj, &w.v_proj})
      if (!part->empty() && !part->quantized()) return nullptr;
    if (rows * in > e.w.max_quantized_elements) return nullptr;
    bf16* at = e.ws();
    for (const GpuMatrix* part : {&w.q_proj, &w.k_proj, &w.v_proj})
      if (!part->empty()) {
        part->bf16(at, s);
        at += part->out() * in;
      }
    return e.ws();
  }

  // The [gate; up] weight rows as one bf16 matrix (fast precision with the fused kernels), like
  // merged_qkv_weights: fused at load when dense, dequantized side by side when both are quantized; else nullptr.
  const bf16* merged_gate_up_weights(const GpuLayerWeights& w) const {
    if (e.accurate() || !e.options.fused_kernels) return nullptr;
    if (w.gate_proj.out() > e.widths.out1) return nullptr;  // bf16 [rows, 2 d_ff] goes to out1 (fp32 [rows, out1])
    if (!w.gate_up.empty()) return w.gate_up.as<bf16>();
    if (!w.gate_proj.quantized() || !w.up_proj.quantized()) return nullptr;
    const std::int64_t in = w.gate_proj.in();
    if ((w.gate_proj.out() + w.up_proj.out()) * in > e.w.max_quantized_elements) return nullptr;
    w.gate_proj.bf16(e.ws(), s);
    w.up_proj.bf16(e.ws() + w.gate_proj.out() * in, s);
    return e.ws();
  }

  // For the hook: rms_norm(src; w) into a scratch buffer, as the CPU reports the normed branch output.
  void emit_normed(std::string_view name, int layer, const float* src, const DeviceBuffer& w, std::int64_t width) {
    if (!emit) return;
    float* tmp = e.hook_tmp.as<float>();
    QG_CUDA_CHECK(cudaMemcpyAsync(tmp, src, static_cast<std::size_t>(m * width) * 4, cudaMemcpyDeviceToDevice, s));
    rms_norm_in_place(tmp, w.as<float>(), m, width, eps, s);
    emit(name, layer, tmp, width);
  }

  void embed() {
    const std::int64_t H = c.d_model;
    mark("embed+ple");
    embed_rows(e.w.embedding.as<bf16>(), H, e.ids.as<std::int32_t>(), m, cpu::embed_scale(H, DType::kF32),
               e.x.as<float>(), s);
    if (emit) emit(activation::kEmbedding, -1, e.x.as<float>(), H);
    if (!c.has_ple()) return;
    // The projection reads the scaled embedding e (rounded to bf16 at the GEMM input, like every GEMM input).
    const std::int64_t width = c.n_layers * c.d_ple;
    gemm(input_from_f32(e.x.as<float>(), m * H), e.w.ple_model_projection, e.out1.as<float>());
    const auto ctx_scale = static_cast<float>(std::pow(static_cast<double>(H), -0.5));
    const auto combine_scale = static_cast<float>(std::pow(2.0, -0.5));
    ple_combine(e.out1.as<float>(), e.w.ple_table.as<bf16>(), e.ids.as<std::int32_t>(),
                e.w.ple_projection_norm.as<float>(), m, c.n_layers, c.d_ple, ctx_scale,
                cpu::embed_scale(c.d_ple, DType::kF32), combine_scale, eps, e.ple.as<float>(), s);
    if (emit) emit(activation::kPleInputs, -1, e.ple.as<float>(), width);
  }

  void attention_block(int i) {
    const Gemma4LayerConfig& l = c.layers[static_cast<std::size_t>(i)];
    const GpuLayerWeights& w = e.w.layers[static_cast<std::size_t>(i)];
    const std::int64_t H = c.d_model, D = l.d_head, nq = l.n_heads, nkv = l.n_kv_heads;
    const float* inv_freq = (l.type == LayerType::kFull ? e.inv_freq_full : e.inv_freq_sliding).as<float>();
    const auto* pos = e.positions.as<std::int32_t>();
    mark("attn.in_norm");
    const Input h = block_input(w.input_norm);

    float* q = e.q.as<float>();
    // Fast precision, head dims 64..512: q/k/v norm, RoPE and fp16 rounding in one pass each, written straight
    // into the attention's fp16 queries and the fp16 cache (kernels/attention_input_kernels.cuh, same bits).
    const bool one_pass =
        e.gemm_attention != nullptr && e.options.fused_kernels && attention_input_supported(static_cast<int>(D));
    __half* q16 = one_pass ? e.gemm_attention->query_buffer() : nullptr;
    // ... and a layer with its own K/V runs q, k and v as one GEMM when their weights sit side by side.
    const bf16* qkv_w = one_pass && !l.kv_shared ? merged_qkv_weights(w) : nullptr;
    const float* qkv = qkv_w != nullptr ? e.out1.as<float>() : nullptr;
    mark("attn.qkv_gemm");
    if (qkv != nullptr)
      e.gemm->bf16(h.hi, qkv_w, e.out1.as<float>(), m, qkv_rows(w), H);
    else
      gemm(h, w.q_proj, q);
    mark("attn.qk_norm_rope_scatter");
    if (one_pass) {
      prepare_attention_input({.x = qkv != nullptr ? qkv : q, .x_row_stride = qkv != nullptr ? qkv_rows(w) : 0,
                               .rows = m, .heads = static_cast<int>(nq), .d = static_cast<int>(D),
                               .norm_w = w.q_norm.as<float>(), .eps = eps, .positions = pos, .inv_freq = inv_freq,
                               .out = q16},
                              s);
    } else {
      rms_norm_in_place(q, w.q_norm.as<float>(), m * nq, D, eps, s);  // per head, one weight for all heads
      apply_rope(q, m, nq, D, pos, inv_freq, s);
    }

    if (!l.kv_shared && one_pass) {
      const float* k = e.k.as<float>();
      const float* v = e.v.as<float>();
      std::int64_t stride = 0;  // of k and v: contiguous
      if (qkv != nullptr) {     // [q | k | v] columns of one GEMM's output
        stride = qkv_rows(w);
        k = qkv + nq * D;
        v = k + nkv * D;
      } else {
        mark("attn.qkv_gemm");
        gemm(h, w.k_proj, e.k.as<float>());
        if (!l.k_eq_v) gemm(h, w.v_proj, e.v.as<float>());
      }
      if (l.k_eq_v) v = k;  // V is the RAW k_proj output, before k_norm and RoPE
      mark("attn.qk_norm_rope_scatter");
      const auto* dest = e.kv_dest.as<std::int64_t>();
      DeviceBuffer& kc = e.k_cache[static_cast<std::size_t>(i)];
      DeviceBuffer& vc = e.v_cache[static_cast<std::size_t>(i)];
      prepare_attention_input({.x = k, .x_row_stride = stride, .rows = m, .heads = static_cast<int>(nkv),
                               .d = static_cast<int>(D), .norm_w = w.k_norm.as<float>(), .eps = eps, .positions = pos,
                               .inv_freq = inv_freq, .dest_row = dest, .out = kc.as<__half>()},
                              s);
      prepare_attention_input({.x = v, .x_row_stride = stride, .rows = m, .heads = static_cast<int>(nkv),
                               .d = static_cast<int>(D), .eps = eps, .dest_row = dest, .out = vc.as<__half>()},
                              s);  // v_norm: no weight, no RoPE
    } else if (!l.kv_shared) {
      float* k = e.k.as<float>();
      float* v = e.v.as<float>();
      mark("attn.qkv_gemm");
      gemm(h, w.k_proj, k);
      if (l.k_eq_v)  // V is the RAW k_proj output, taken before k_norm and RoPE
        QG_CUDA_CHECK(cudaMemcpyAsync(v, k, static_cast<std::size_t>(m * nkv * D) * 4, cudaMemcpyDeviceToDevice, s));
      else
        gemm(h, w.v_proj, v);
      mark("attn.qk_norm_rope_scatter");
      rms_norm_in_place(k, w.k_norm.as<float>(), m * nkv, D, eps, s);
      apply_rope(k, m, nkv, D, pos, inv_freq, s);
      rms_norm_in_place(v, nullptr, m * nkv, D, eps, s);  // v_norm has no weight; V is never roped
      const auto* dest = e.kv_dest.as<std::int64_t>();
      DeviceBuffer& kc = e.k_cache[static_cast<std::size_t>(i)];
      DeviceBuffer& vc = e.v_cache[static_cast<std::size_t>(i)];
      if (e.accurate()) {
        scatter_rows_to_f32(k, m, nkv * D, dest, kc.as<float>(), s);
        scatter_rows_to_f32(v, m, nkv * D, dest, vc.as<float>(), s);
      } else {
        scatter_rows_to_f16(k, m, nkv * D, dest, kc.as<__half>(), s);
        scatter_rows_to_f16(v, m, nkv * D, dest, vc.as<__half>(), s);
      }
    }
    // KV-shared layers read their source layer's cache, written earlier in this same step.
    const auto src = static_cast<std::size_t>(l.kv_source);
    if (e.gemm_attention) {  // fast precision: tensor-core GEMMs, output over the (consumed) queries
      mark("attn.kernel");
      e.gemm_attention->run(*e.gemm,
                            {.q = q, .q16 = q16, .k = e.k_cache[src].as<__half>(), .v = e.v_cache[src].as<__half>(), .rows = m,
                             .n_heads = static_cast<int>(nq), .n_kv_heads = static_cast<int>(nkv),
                             .d = static_cast<int>(D), .window = l.type == LayerType::kSliding ? c.sliding_window : 0,
                             .out = q, .out_bf16 = e.gemm_in.as<bf16>()},
                            e.step_spans, s);
      mark("attn.o_gemm");
      gemm({e.gemm_in.as<bf16>(), nullptr}, w.o_proj, e.out1.as<float>());
      mark("norm_add");
      emit_normed(activation::kAttentionOutput, i, e.out1.as<float>(), w.post_attention_norm, H);
      residual_add(e.out1.as<float>(), w.post_attention_norm, 1.0f, NextInput::kNormed, &w.pre_ffn_norm);
      return;
    }
    AttentionParams p;
    p.q = q;
    if (e.accurate()) {
      p.k_f32 = e.k_cache[src].as<float>();
      p.v_f32 = e.v_cache[src].as<float>();
    } else {
      p.k = e.k_cache[src].as<__half>();
      p.v = e.v_cache[src].as<__half>();
    }
    p.position = pos;
    p.kv_start = e.kv_start.as<std::int64_t>();
    p.rows = m;
    p.n_heads = static_cast<int>(nq);
    p.n_kv_heads = static_cast<int>(nkv);
    p.d = static_cast<int>(D);
    p.window = l.type == LayerType::kSliding ? c.sliding_window : 0;
    // The output overwrites the normed input's buffers, no longer needed.
    Input o_in{e.gemm_in.as<bf16>(), nullptr};
    if (e.accurate())
      p.out_f32 = e.gemm_f32.as<float>();
    else
      p.out = e.gemm_in.as<bf16>();
    mark("attn.kernel");
    attention(p, s);
    mark("gemm_input_convert");
    if (e.accurate()) o_in = input_from_f32(e.gemm_f32.as<float>(), m * nq * D);

    float* o = e.out1.as<float>();
    mark("attn.o_gemm");
    gemm(o_in, w.o_proj, o);
    mark("norm_add");
    emit_normed(activation::kAttentionOutput, i, o, w.post_attention_norm, H);
    residual_add(o, w.post_attention_norm, 1.0f, NextInput::kNormed, &w.pre_ffn_norm);
  }

  // The routed experts of §11 for the residual r = e.x; adds post_feedforward_layernorm_2(mixture) to f.
  void moe(const GpuLayerWeights& w, float* f) {
    const std::int64_t H = c.d_model, E = c.n_experts, K = c.top_k_experts, I = c.d_expert;
    const std::int64_t R = e.options.limits.max_batch_tokens;
    float* base = e.moe_f32.as<float>();
    float* z = base;
    float* router_logits = z + R * H;
    auto* expert = reinterpret_cast<std::int32_t*>(router_logits + R * E);
    float* expert_w = reinterpret_cast<float*>(expert + R * K);
    auto* rows_all = reinterpret_cast<std::int32_t*>(expert_w + R * K);
    float* w_all = reinterpret_cast<float*>(rows_all + R * K);
    float* gu = w_all + R * K;
    float* y = gu + R * 2 * I;
    float* mix = y + R * H;
    float* act_f32 = mix + R * H;  // accurate only
    bf16* u = e.moe_bf16.as<bf16>();
    bf16* xb = u + R * H;
    bf16* act = xb + R * H;
    bf16* u_lo = act + R * I;  // accurate only: low halves
    bf16* xb_lo = u_lo + R * H;
    bf16* act_lo = xb_lo + R * H;
    const bool split = e.accurate();

    rms_norm_in_place(f, w.post_ffn_norm_1.as<float>(), m, H, eps, s);
    const auto root_size = static_cast<float>(std::pow(static_cast<double>(H), -0.5));
    router_input(e.x.as<float>(), w.router_scale.as<float>(), m, H, eps, root_size, z, s);
    e.gemm->f32(z, w.router_proj.as<float>(), router_logits, m, E, H);
    router_top_k(router_logits, m, static_cast<int>(E), static_cast<int>(K), w.router_per_expert_scale.as<float>(),
                 expert, expert_w, s);
    if (split) {  // expert input hi/lo, staged in the (free) router-input buffer
      QG_CUDA_CHECK(cudaMemcpyAsync(z, e.x.get(), static_cast<std::size_t>(m * H) * 4, cudaMemcpyDeviceToDevice, s));
      rms_norm_in_place(z, w.pre_ffn_norm_2.as<float>(), m, H, eps, s);
      split_to_bf16(z, m * H, u, u_lo, s);
    } else {
      rms_norm_to_bf16(e.x.as<float>(), w.pre_ffn_norm_2.as<float>(), m, H, eps, u, s);
    }

    // Group the (token, slot) pairs by expert on the host: one GEMM pair per expert that has tokens.
    std::vector<std::int32_t> ex(static_cast<std::size_t>(m * K));
    std::vector<float> ew(ex.size());
    QG_CUDA_CHECK(cudaMemcpyAsync(ex.data(), expert, ex.size() * 4, cudaMemcpyDeviceToHost, s));
    QG_CUDA_CHECK(cudaMemcpyAsync(ew.data(), expert_w, ew.size() * 4, cudaMemcpyDeviceToHost, s));
    QG_CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<std::int64_t> count(static_cast<std::size_t>(E + 1), 0);
    for (std::int32_t x : ex) {
      if (x < 0 || x >= E) throw Error(fmt::format("router chose expert {} of {}", x, E));
      ++count[static_cast<std::size_t>(x) + 1];
    }
    for (std::int64_t x = 0; x < E; ++x) count[static_cast<std::size_t>(x + 1)] += count[static_cast<std::size_t>(x)];
    std::vector<std::int32_t> rows(ex.size());
    std::vector<float> weights(ex.size());
    std::vector<std::int64_t> fill(count.begin(), count.end() - 1);
    for (std::int64_t t = 0; t < m; ++t)
      for (std::int64_t k = 0; k < K; ++k) {
        const std::size_t slot = static_cast<std::size_t>(t * K + k);
        const auto at = static_cast<std::size_t>(fill[static_cast<std::size_t>(ex[slot])]++);
        rows[at] = static_cast<std::int32_t>(t);
        weights[at] = ew[slot];
      }
    QG_CUDA_CHECK(cudaMemcpyAsync(rows_all, rows.data(), rows.size() * 4, cudaMemcpyHostToDevice, s));
    QG_CUDA_CHECK(cudaMemcpyAsync(w_all, weights.data(), weights.size() * 4, cudaMemcpyHostToDevice, s));
    QG_CUDA_CHECK(cudaMemsetAsync(mix, 0, static_cast<std::size_t>(m * H) * 4, s));
    const bf16* gate_up = w.experts_gate_up.as<bf16>();
    const bf16* down = w.experts_down.as<bf16>();
    // Experts in ascending order: each token sums its experts' outputs in the CPU reference's order.
    for (std::int64_t x = 0; x < E; ++x) {
      const std::int64_t first = count[static_cast<std::size_t>(x)], n = count[static_cast<std::size_t>(x + 1)] - first;
      if (n == 0) continue;
      const bf16* w_gate_up = gate_up + x * 2 * I * H;
      const bf16* w_down = down + x * H * I;
      gather_rows(u, H, rows_all + first, n, xb, s);
      e.gemm->bf16(xb, w_gate_up, gu, n, 2 * I, H);
      if (split) {
        gather_rows(u_lo, H, rows_all + first, n, xb_lo, s);
        e.gemm->bf16(xb_lo, w_gate_up, gu, n, 2 * I, H, 1.0f, 1.0f);
        gelu_tanh_mul_to_f32(gu, 2 * I, gu + I, 2 * I, n, I, act_f32, I, s);  // rows are [gate; up]
        split_to_bf16(act_f32, n * I, act, act_lo, s);
        e.gemm->bf16(act, w_down, y, n, H, I);
        e.gemm->bf16(act_lo, w_down, y, n, H, I, 1.0f, 1.0f);
      } else {
        gelu_tanh_mul_to_bf16(gu, 2 * I, gu + I, 2 * I, n, I, act, I, s);  // rows are [gate; up]
        e.gemm->bf16(act, w_down, y, n, H, I);
      }
      scatter_add_rows(y, H, rows_all + first, w_all + first, n, mix, s);
    }
    // The host vectors above must outlive the async copies.
    QG_CUDA_CHECK(cudaStreamSynchronize(s));
    add_rms_norm(f, mix, w.post_ffn_norm_2.as<float>(), m, H, eps, s);
  }

  void ffn_block(int i) {
    const Gemma4LayerConfig& l = c.layers[static_cast<std::size_t>(i)];
    const GpuLayerWeights& w = e.w.layers[static_cast<std::size_t>(i)];
    const std::int64_t H = c.d_model, F = l.d_ff;
    float* f = e.out1.as<float>();
    mark("ffn.in_norm");
    const Input h = block_input(w.pre_ffn_norm);
    mark("ffn.gate_up_gemm");
    Input act{};
    if (const bf16* gate_up = merged_gate_up_weights(w)) {
      // Fast precision: one GEMM writes bf16 [gate | up] (rounded like the next GEMM input would be anyway, and as
      // transformers' bf16 Linear outputs are), half the bytes of two fp32 outputs for the gelu-mul to read.
      auto* gu = reinterpret_cast<bf16*>(f);
      e.gemm->bf16_to_bf16(h.hi, gate_up, gu, m, 2 * F, H);
      mark("ffn.gelu_mul");
      gelu_tanh_mul_bf16_to_bf16(gu, 2 * F, gu + F, 2 * F, m, F, e.gemm_in.as<bf16>(), F, s);
      act = {e.gemm_in.as<bf16>(), nullptr};
    } else {
      gemm(h, w.gate_proj, f);
      gemm(h, w.up_proj, e.out2.as<float>());
      mark("ffn.gelu_mul");
      act = gated_input(f, F, e.out2.as<float>(), F, F);
    }
    mark("ffn.down_gemm");
    gemm(act, w.down_proj, f);
    if (c.enable_moe_block) {
      mark("moe");
      moe(w, f);
    }
    mark("norm_add");
    emit_normed(activation::kFfnOutput, i, f, w.post_ffn_norm, H);
    if (c.has_ple())  // the PLE gate reads bf16(x) next
      residual_add(f, w.post_ffn_norm, 1.0f, NextInput::kRaw, nullptr);
    else
      residual_add(f, w.post_ffn_norm, w.layer_scalar, after_layer(i), next_norm(i));
  }

  void ple_branch(int i) {
    const GpuLayerWeights& w = e.w.layers[static_cast<std::size_t>(i)];
    const std::int64_t H = c.d_model, P = c.d_ple;
    float* g = e.out2.as<float>();
    mark("ple");
    Input x_in{e.gemm_in.as<bf16>(), nullptr};
    if (input_ready)
      input_ready = false;
    else
      x_in = input_from_f32(e.x.as<float>(), m * H);
    gemm(x_in, w.ple_gate, g);
    gemm(gated_input(g, P, e.ple.as<float>() + i * P, c.n_layers * P, P), w.ple_projection, e.out1.as<float>());
    mark("norm_add");
    residual_add(e.out1.as<float>(), w.post_ple_norm, w.layer_scalar, after_layer(i), next_norm(i));
  }

  // Keeps only the plan's rows for the KV-shared layers: every per-row buffer those layers read is gathered
  // through a free step buffer (out1 is wide enough for a residual or a PLE row) and copied back in order.
  void compact(const SharedLayerRows& plan) {
    mark("shared_rows");
    const auto n = static_cast<std::int64_t>(plan.keep.size());
    if (n > 0) {
      auto* staged = reinterpret_cast<std::int32_t*>(e.meta_host.as<std::byte>() + e.options.limits.max_batch_tokens * 24);
      std::copy(plan.keep.begin(), plan.keep.end(), staged);
      auto* index = e.keep_rows.as<std::int32_t>();
      QG_CUDA_CHECK(cudaMemcpyAsync(index, staged, static_cast<std::size_t>(n) * 4, cudaMemcpyHostToDevice, s));
      auto gather = [&](void* rows, std::int64_t row_bytes) {
        gather_rows_bytes(rows, row_bytes, index, n, e.out1.get(), s);
        QG_CUDA_CHECK(cudaMemcpyAsync(rows, e.out1.get(), static_cast<std::size_t>(n * row_bytes),
                                      cudaMemcpyDeviceToDevice, s));
      };
      gather(e.x.get(), c.d_model * 4);
      if (c.has_ple()) gather(e.ple.get(), c.n_layers * c.d_ple * 4);
      gather(e.positions.get(), 4);
      gather(e.kv_start.get(), 8);
      if (input_ready) gather(e.gemm_in.get(), c.d_model * 2);  // this layer's normed input, bf16
    }
    e.shared_rows_skipped += m - n;
    m = n;
    e.step_spans = plan.spans;
  }

  void run(const SharedLayerRows* shared) {
    embed();
    const std::int64_t first_shared = shared != nullptr ? c.first_kv_shared_layer() : c.n_layers;
    for (int i = 0; i < c.n_layers; ++i) {
      if (i == first_shared) {
        compact(*shared);
        if (m == 0) break;  // no row of this step gets logits
      }
      attention_block(i);
      ffn_block(i);
      if (c.has_ple()) ple_branch(i);  // the layer scalar is applied by the layer's last residual update
      if (emit) emit(activation::kLayerOutput, i, e.x.as<float>(), c.d_model);
    }
  }
};

}  // namespace

void run_decoder_step(CudaForward::Impl& e, std::int64_t rows, const StepEmitter& emit,
                      const SharedLayerRows* shared) {
  if (shared != nullptr && emit)
    throw Error("the KV-shared layers cannot skip rows while the activation hook reads every row");
  Step{e, rows, emit}.run(shared);
}

}  // namespace qg::cuda
