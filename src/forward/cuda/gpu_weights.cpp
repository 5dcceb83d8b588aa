#include "forward/cuda/gpu_weights.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/cuda_check.cuh"

namespace qg::cuda {

GpuMatrix::GpuMatrix(std::string name, std::int64_t out, std::int64_t in, DeviceBuffer dense)
    : name_(std::move(name)), out_(out), in_(in), dense_(std::move(dense)) {}

GpuMatrix::GpuMatrix(std::string name, std::unique_ptr<DeviceQuantizedLinear> quantized)
    : name_(std::move(name)),
      out_(quantized->out_features()),
      in_(quantized->in_features()),
      quantized_(std::move(quantized)) {}

GpuMatrix GpuMatrix::borrow(std::string name, std::int64_t out, std::int64_t in, const __nv_bfloat16* dense) {
  GpuMatrix m;
  m.name_ = std::move(name);
  m.out_ = out;
  m.in_ = in;
  m.borrowed_ = dense;
  return m;
}

const __nv_bfloat16* GpuMatrix::bf16(__nv_bfloat16* workspace, cudaStream_t stream) const {
  if (quantized_) {
    quantized_->dequantize_to_bf16(workspace, stream);
    return workspace;
  }
  return borrowed_ != nullptr ? borrowed_ : dense_.as<const __nv_bfloat16>();
}

std::uint64_t GpuMatrix::device_bytes() const {
  return quantized_ ? quantized_->device_bytes() : static_cast<std::uint64_t>(dense_.bytes());
}

std::int64_t qkv_rows(const GpuLayerWeights& w) { return w.q_proj.out() + w.k_proj.out() + w.v_proj.out(); }

namespace {
std::int64_t gate_up_elements(const GpuMatrix& gate, const GpuMatrix& up) {
  return gate.out() * gate.in() + up.out() * up.in();
}
}  // namespace

namespace {

// Moves dense matrices of the same input width into one buffer of their rows, in order, and makes each a view of
// its rows (the bytes counted stay the same: the buffer replaces them). Quantized or mixed sets are left alone.
void fuse_rows(std::initializer_list<GpuMatrix*> parts, DeviceBuffer& into, const char* what,
               std::uint64_t& device_bytes) {
  const std::int64_t in = (*parts.begin())->in();
  std::int64_t rows = 0;
  for (const GpuMatrix* m : parts) {
    if (!m->empty() && (m->quantized() || m->in() != in)) return;
    rows += m->out();
  }
  into = DeviceBuffer(static_cast<std::size_t>(rows * in) * 2, what);
  auto* dst = into.as<__nv_bfloat16>();
  for (GpuMatrix* m : parts) {
    if (m->empty()) continue;
    const std::size_t bytes = static_cast<std::size_t>(m->out() * in) * 2;
    QG_CUDA_CHECK(cudaMemcpy(dst, m->bf16(nullptr, nullptr), bytes, cudaMemcpyDeviceToDevice));
    device_bytes -= m->device_bytes();
    *m = GpuMatrix::borrow(m->name(), m->out(), in, dst);
    dst += m->out() * in;
  }
  device_bytes += into.bytes();
}

constexpr std::int64_t kSlabElements = std::int64_t{1} << 24;  // host conversion slab: 16M values (32 MiB bf16)

class CheckpointSource final : public WeightSource {
 public:
  explicit CheckpointSource(const Gemma4Weights& w) : w_(w) {}

  const BoundWeight& bound(const WeightSpec& spec) const {
    auto it = w_.by_name.find(spec.name);
    if (it == w_.by_name.end()) throw Error("not bound (not implied by the config)", {.tensor = spec.name});
    return w_.weights[it->second];
  }

  DeviceBuffer bf16(const WeightSpec& spec) override {
    const BoundWeight& b = bound(spec);
    if (b.quantized)
      throw Error("a quantized tensor where the engine needs a dense one",
                  {.tensor = b.checkpoint_name, .hint = "only nn.Linear weights can be quantized"});
    const TensorView& v = b.view;
    const std::int64_t n = v.numel();
    DeviceBuffer out(static_cast<std::size_t>(n) * 2, b.checkpoint_name);
    if (v.dtype == DType::kBF16) {  // as stored: one copy straight from the mapped file
      out.upload(v.data, static_cast<std::size_t>(n) * 2);
      return out;
    }
    // F32 / F16: round to bf16 on the host, a slab at a time (a 262144 x 2560 table never exists twice).
    ++rounded_.tensors;
    const std::string dt(dtype_name(v.dtype));
    if (rounded_.dtypes.find(dt) == std::string::npos) rounded_.dtypes += (rounded_.dtypes.empty() ? "" : ", ") + dt;
    std::vector<std::uint16_t> slab(static_cast<std::size_t>(std::min(n, kSlabElements)));
    for (std::int64_t first = 0; first < n; first += kSlabElements) {
      const std::int64_t count = std::min(kSlabElements, n - first);
      for (std::int64_t i = 0; i < count; ++i)
        slab[static_cast<std::size_t>(i)] = ::qg::f32_to_bf16(load_as_f32(v, first + i));
      QG_CHECK_CUDA_COPY(out.as<std::uint16_t>() + first, slab.data(), static_cast<std::size_t>(count) * 2);
    }
    return out;
  }

  DeviceBuffer f32(const WeightSpec& spec) override {
    const BoundWeight& b = bound(spec);
    const std::vector<float> values = weight_to_f32(b);
    return upload_bytes(values.data(), values.size() * sizeof(float), b.checkpoint_name);
  }

  std::unique_ptr<DeviceQuantizedLinear> quantized(const WeightSpec& spec) override {
    const BoundWeight& b = bound(spec);
    if (!b.quantized) return nullptr;
    return std::make_unique<DeviceQuantizedLinear>(*b.quantized);
  }

  float scalar(const WeightSpec& spec) override { return load_as_f32(bound(spec).view, 0); }

 private:
  static void QG_CHECK_CUDA_COPY(void* dst, const void* src, std::size_t bytes) {
    const cudaError_t err = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
    if (err != cudaSuccess) throw Error(fmt::format("cudaMemcpy of a weight slab failed: {}", cudaGetErrorString(err)));
  }
  const Gemma4Weights& w_;

 public:
  RoundedWeights rounded_;
};

// Loads the weights of one layer or of the model level, by name relative to the prefix.
class Loader {
 public:
  Loader(const Gemma4TextConfig& c, WeightSource& s, GpuModelWeights& m) : c_(c), s_(s), m_(m) {
    for (WeightSpec& spec : gemma4_text_weight_specs(c)) specs_.emplace(spec.name, std::move(spec));
  }
  bool has(const std::string& name) const { return specs_.count(name) != 0; }
  const WeightSpec& spec(const std::string& name) const {
    auto it = specs_.find(name);
    if (it == specs_.end()) throw Error("the config implies no such tensor", {.tensor = name});
    return it->second;
  }
  DeviceBuffer f32(const std::string& name) { return count(s_.f32(spec(name))); }
  DeviceBuffer bf16(const std::string& name) { return count(s_.bf16(spec(name))); }
  float scalar(const std::string& name) { return s_.scalar(spec(name)); }
  GpuMatrix matrix(const std::string& name) {
    const WeightSpec& sp = spec(name);
    GpuMatrix m;
    if (auto q = s_.quantized(sp)) {
      if (q->out_features() != sp.shape[0] || q->in_features() != sp.shape[1])
        throw Error(fmt::format("quantized shape [{}, {}] differs from the config's {}", q->out_features(),
                                q->in_features(), shape_str(sp.shape)),
                    {.tensor = name});
      m_.max_quantized_elements = std::max(m_.max_quantized_elements, q->out_features() * q->in_features());
      m = GpuMatrix(name, std::move(q));
    } else {
      m = GpuMatrix(name, sp.shape[0], sp.shape[1], s_.bf16(sp));
    }
    m_.device_bytes += m.device_bytes();
    return m;
  }

 private:
  DeviceBuffer count(DeviceBuffer b) {
    m_.device_bytes += b.bytes();
    return b;
  }
  const Gemma4TextConfig& c_;
  WeightSource& s_;
  GpuModelWeights& m_;
  std::map<std::string, WeightSpec> specs_;
};

// K is cached in fp16 (range 65504). After k_norm each element is at most sqrt(d) * |w_j| (an RMS-normalized
// vector has no element above sqrt(d)), and RoPE's rotation of a pair at most multiplies that by sqrt(2).
// Real checkpoints are orders of magnitude below the limit; refuse one that is not rather than compute inf.
void check_fp16_keys(const DeviceBuffer& k_norm, std::int64_t d_head, const std::string& name) {
  std::vector<float> w(k_norm.bytes() / 4);
  k_norm.download(w.data(), w.size() * 4);
  float max_w = 0.0f;
  for (float x : w) max_w = std::max(max_w, std::fabs(x));
  const double bound = std::sqrt(2.0 * static_cast<double>(d_head)) * max_w;
  if (!(bound < 65504.0))
    throw Error(fmt::format("k_norm weights up to {} allow keys up to {:.0f}, beyond the fp16 K cache's 65504",
                            max_w, bound),
                {.tensor = name});
}

}  // namespace

std::unique_ptr<WeightSource> checkpoint_weight_source(const Gemma4Weights& weights) {
  return std::make_unique<CheckpointSource>(weights);
}

RoundedWeights rounded_weights(const WeightSource& source) {
  const auto* c = dynamic_cast<const CheckpointSource*>(&source);
  return c != nullptr ? c->rounded_ : RoundedWeights{};
}

GpuModelWeights load_gpu_weights(const Gemma4TextConfig& c, WeightSource& source) {
  GpuModelWeights m;
  Loader load(c, source, m);
  m.embedding = load.bf16("embed_tokens.weight");
  if (c.has_ple()) {
    m.ple_table = load.bf16("embed_tokens_per_layer.weight");
    m.ple_model_projection = load.matrix("per_layer_model_projection.weight");
    m.ple_projection_norm = load.f32("per_layer_projection_norm.weight");
  }
  m.final_norm = load.f32("norm.weight");
  m.head = c.tie_word_embeddings
               ? GpuMatrix::borrow("embed_tokens.weight", c.n_vocab, c.d_model, m.embedding.as<__nv_bfloat16>())
               : load.matrix("lm_head.weight");
  m.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const Gemma4LayerConfig& l = c.layers[static_cast<std::size_t>(i)];
    GpuLayerWeights& w = m.layers[static_cast<std::size_t>(i)];
    const std::string p = fmt::format("layers.{}.", i);
    w.input_norm = load.f32(p + "input_layernorm.weight");
    w.post_attention_norm = load.f32(p + "post_attention_layernorm.weight");
    w.pre_ffn_norm = load.f32(p + "pre_feedforward_layernorm.weight");
    w.post_ffn_norm = load.f32(p + "post_feedforward_layernorm.weight");
    w.layer_scalar = load.scalar(p + "layer_scalar");
    w.q_proj = load.matrix(p + "self_attn.q_proj.weight");
    w.q_norm = load.f32(p + "self_attn.q_norm.weight");
    if (!l.kv_shared) {
      w.k_proj = load.matrix(p + "self_attn.k_proj.weight");
      if (!l.k_eq_v) w.v_proj = load.matrix(p + "self_attn.v_proj.weight");
      w.k_norm = load.f32(p + "self_attn.k_norm.weight");
      check_fp16_keys(w.k_norm, l.d_head, p + "self_attn.k_norm.weight");
    }
    if (!l.kv_shared) fuse_rows({&w.q_proj, &w.k_proj, &w.v_proj}, w.qkv, "q/k/v projection", m.device_bytes);
    w.o_proj = load.matrix(p + "self_attn.o_proj.weight");
    w.gate_proj = load.matrix(p + "mlp.gate_proj.weight");
    w.up_proj = load.matrix(p + "mlp.up_proj.weight");
    w.down_proj = load.matrix(p + "mlp.down_proj.weight");
    fuse_rows({&w.gate_proj, &w.up_proj}, w.gate_up, "gate/up projection", m.device_bytes);
    if (w.gate_proj.quantized() && w.up_proj.quantized())  // dequantized side by side (the fast precision)
      m.max_quantized_elements = std::max(m.max_quantized_elements, gate_up_elements(w.gate_proj, w.up_proj));
    if (c.enable_moe_block) {
      // The router runs in fp32 from an exact fp32 copy of its weight; experts are plain parameters
      // (never compressed-tensors Linears), kept bf16.
      w.router_proj = load.f32(p + "router.proj.weight");
      w.router_scale = load.f32(p + "router.scale");
      w.router_per_expert_scale = load.f32(p + "router.per_expert_scale");
      w.experts_gate_up = load.bf16(p + "experts.gate_up_proj");
      w.experts_down = load.bf16(p + "experts.down_proj");
      w.post_ffn_norm_1 = load.f32(p + "post_feedforward_layernorm_1.weight");
      w.pre_ffn_norm_2 = load.f32(p + "pre_feedforward_layernorm_2.weight");
      w.post_ffn_norm_2 = load.f32(p + "post_feedforward_layernorm_2.weight");
    }
    if (c.has_ple()) {
      w.ple_gate = load.matrix(p + "per_layer_input_gate.weight");
      w.ple_projection = load.matrix(p + "per_layer_projection.weight");
      w.post_ple_norm = load.f32(p + "post_per_layer_input_norm.weight");
    }
  }
  return m;
}

GpuWeightSizes gpu_weight_sizes(const Gemma4TextConfig& c, const Gemma4Weights& weights) {
  GpuWeightSizes s;
  for (const WeightSpec& spec : gemma4_text_weight_specs(c)) {
    auto it = weights.by_name.find(spec.name);
    const BoundWeight* b = it == weights.by_name.end() ? nullptr : &weights.weights[it->second];
    const auto n = static_cast<std::uint64_t>(shape_numel(spec.shape));
    const bool fp32_copy = spec.component == WeightComponent::kNorm ||
                           spec.name.find("router.proj") != std::string::npos;
    if (spec.component == WeightComponent::kLayerScalar) continue;  // a host float
    if (b != nullptr && b->quantized) {
      s.bytes += b->quantized->stored_bytes();
      s.max_quantized_elements =
          std::max(s.max_quantized_elements, b->quantized->out_features * b->quantized->in_features);
    } else {
      s.bytes += n * (fp32_copy ? 4 : 2);
    }
  }
  // A layer whose gate and up are both quantized dequantizes them side by side (load_gpu_weights).
  auto quantized = [&](const std::string& name) -> const QuantizedLinear* {
    auto it = weights.by_name.find(name);
    return it == weights.by_name.end() ? nullptr : weights.weights[it->second].quantized.get();
  };
  for (int i = 0; i < c.n_layers; ++i) {
    const auto* gate = quantized(fmt::format("layers.{}.mlp.gate_proj.weight", i));
    const auto* up = quantized(fmt::format("layers.{}.mlp.up_proj.weight", i));
    if (gate != nullptr && up != nullptr)
      s.max_quantized_elements = std::max(s.max_quantized_elements, gate->out_features * gate->in_features +
                                                                        up->out_features * up->in_features);
  }
  return s;
}

}  // namespace qg::cuda
