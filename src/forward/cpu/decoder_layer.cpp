#include "forward/cpu/decoder_layer.h"

#include "common/check.h"
#include "forward/cpu/attention.h"
#include "forward/cpu/linear.h"
#include "forward/cpu/mlp.h"
#include "forward/cpu/moe.h"
#include "forward/cpu/norms.h"
#include "forward/cpu/ple.h"
#include "forward/forward.h"

namespace qg::cpu {

namespace {

Matrix normed(const Matrix& x, const F32Weight& w, double eps) {
  Matrix y(x.rows(), x.cols());
  rms_norm(x.data(), x.rows(), x.cols(), w.vector(), eps, y.data());
  return y;
}

void norm_in_place(Matrix& x, const F32Weight& w, double eps) {
  rms_norm(x.data(), x.rows(), x.cols(), w.vector(), eps, x.data());
}

// Self-attention of §7: returns post_attention_layernorm(o_proj(attention)), writing this layer's own
// K/V (if it has them) into the sequence's cache first.
Matrix attention_block(int i, const LayerWeights& w, const LayerContext& ctx, SequenceState& s) {
  const Gemma4TextConfig& c = ctx.config;
  const Gemma4LayerConfig& l = c.layers[static_cast<std::size_t>(i)];
  const std::int64_t n = s.x.rows(), d = l.d_head, p0 = s.first_position;
  const double eps = c.rms_norm_eps;
  const Matrix h = normed(s.x, w.input_norm, eps);

  Matrix q = linear(h, w.q_proj.matrix(), ctx.pool);
  rms_norm(q.data(), n * l.n_heads, d, w.q_norm.vector(), eps,
           q.data());  // per head, one weight for all heads
  apply_rope(q.data(), l.n_heads, ctx.rope);

  if (!l.kv_shared) {
    Matrix k = linear(h, w.k_proj.matrix(), ctx.pool);
    // attention_k_eq_v (full layers): V is the RAW k_proj output, taken before k_norm and RoPE.
    Matrix v = l.k_eq_v ? k : linear(h, w.v_proj.matrix(), ctx.pool);
    rms_norm(k.data(), n * l.n_kv_heads, d, w.k_norm.vector(), eps, k.data());
    apply_rope(k.data(), l.n_kv_heads, ctx.rope);
    rms_norm(v.data(), n * l.n_kv_heads, d, nullptr, eps,
             v.data());  // v_norm has no weight; V is never roped
    Matrix& kc = s.k[static_cast<std::size_t>(i)];
    Matrix& vc = s.v[static_cast<std::size_t>(i)];
    QG_CHECK(kc.rows() == p0 && vc.rows() == p0, "layer {}: cache holds {} positions, expected {}", i,
             kc.rows(), p0);
    kc.conservativeResize(p0 + n, k.cols());
    vc.conservativeResize(p0 + n, v.cols());
    kc.bottomRows(n) = k;
    vc.bottomRows(n) = v;
  }
  // KV-shared layers use the source layer's final K/V (already normed and roped) as they are.
  const auto src = static_cast<std::size_t>(l.kv_source);
  AttentionShape shape{l.n_heads, l.n_kv_heads, d, l.type == LayerType::kSliding ? c.sliding_window : 0};
  Matrix o(n, l.n_heads * d);
  attention(q, s.k[src].topRows(p0 + n), s.v[src].topRows(p0 + n), p0, shape, o, ctx.pool);
  Matrix out = linear(o, w.o_proj.matrix(), ctx.pool);
  norm_in_place(out, w.post_attention_norm, eps);
  return out;
}

// The feed-forward part of §9-§11 for the residual r: post_feedforward_layernorm(MLP [+ MoE]).
Matrix ffn_block(const LayerWeights& w, const LayerContext& ctx, const Matrix& r) {
  const Gemma4TextConfig& c = ctx.config;
  const double eps = c.rms_norm_eps;
  Matrix f = dense_mlp(normed(r, w.pre_ffn_norm, eps), w.gate_proj.matrix(), w.up_proj.matrix(),
                       w.down_proj.matrix(), ctx.pool);
  if (c.enable_moe_block) {
    // Both branches read the same residual r: the dense MLP through pre_feedforward_layernorm, the
    // router through its weightless norm, the experts through pre_feedforward_layernorm_2.
    norm_in_place(f, w.post_ffn_norm_1, eps);
    const Routing routing = route(r, w.router_scale.vector(), w.router_proj.matrix(),
                                  w.router_per_expert_scale.vector(), c.top_k_experts, eps, ctx.pool);
    Matrix e = experts(normed(r, w.pre_ffn_norm_2, eps), routing, w.experts_gate_up.data.data(),
                       w.experts_down.data.data(), c.n_experts, c.d_expert, ctx.pool);
    norm_in_place(e, w.post_ffn_norm_2, eps);
    f += e;
  }
  norm_in_place(f, w.post_ffn_norm, eps);
  return f;
}

}  // namespace

void decoder_layer(int i, const LayerWeights& w, const LayerContext& ctx, SequenceState& s) {
  const Gemma4TextConfig& c = ctx.config;
  auto emit = [&](std::string_view name, const Matrix& m) {
    if (ctx.emit) ctx.emit(name, m);
  };
  const Matrix attn = attention_block(i, w, ctx, s);
  emit(activation::kAttentionOutput, attn);
  s.x += attn;

  const Matrix f = ffn_block(w, ctx, s.x);
  emit(activation::kFfnOutput, f);
  s.x += f;

  if (c.has_ple())
    ple_branch(s.x, s.ple.middleCols(static_cast<Eigen::Index>(i) * c.d_ple, c.d_ple), w.ple_gate.matrix(),
               w.ple_projection.matrix(), w.post_ple_norm.vector(), c.rms_norm_eps, ctx.pool);
  s.x *= w.layer_scalar;  // the whole residual stream, after the PLE add
  emit(activation::kLayerOutput, s.x);
}

}  // namespace qg::cpu
