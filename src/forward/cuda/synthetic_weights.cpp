#include "forward/cuda/synthetic_weights.h"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/cuda_check.cuh"
#include "kernels/synthetic_kernels.cuh"

namespace qg::cuda {

namespace {

// Values that keep a deep random network finite: matrices ~U(-a, a) with a = 1/sqrt(in), norms ~1.
class SyntheticSource final : public WeightSource {
 public:
  SyntheticSource(const Gemma4TextConfig& c, const SyntheticWeights& w) : c_(c), w_(w) {}

  DeviceBuffer bf16(const WeightSpec& spec) override {
    const std::int64_t n = shape_numel(spec.shape);
    DeviceBuffer b(static_cast<std::size_t>(n) * 2, spec.name);
    const float a = bound(spec);
    fill_uniform_bf16(b.as<__nv_bfloat16>(), n, seed(spec), -a, a, nullptr);
    QG_CUDA_CHECK(cudaDeviceSynchronize());
    return b;
  }

  DeviceBuffer f32(const WeightSpec& spec) override {
    const std::int64_t n = shape_numel(spec.shape);
    DeviceBuffer b(static_cast<std::size_t>(n) * 4, spec.name);
    const bool vector = spec.shape.size() == 1;  // norms and scales around 1; the router matrix like the others
    const float a = vector ? 0.1f : bound(spec);
    fill_uniform_f32(b.as<float>(), n, seed(spec), vector ? 1.0f - a : -a, vector ? 1.0f + a : a, nullptr);
    QG_CUDA_CHECK(cudaDeviceSynchronize());
    return b;
  }

  std::unique_ptr<DeviceQuantizedLinear> quantized(const WeightSpec& spec) override {
    // The card's recipe: every decoder-layer Linear but the router (per_layer_model_projection, the head and
    // the embeddings stay 16-bit).
    if (!w_.w4a16 || spec.layer < 0 || !is_linear_weight(spec) || spec.name.find("router") != std::string::npos)
      return nullptr;
    const std::int64_t out = spec.shape[0], in = spec.shape[1];
    if (in % w_.group_size != 0 || in % 8 != 0) return nullptr;  // a real recipe would ignore such a layer too
    // Random int4 codes (every 32-bit word = 8 codes) and bf16 scales that give values ~U(-1/sqrt(in), ..).
    std::vector<std::uint32_t> packed(static_cast<std::size_t>(out * (in / 8)));
    std::uint64_t state = seed(spec) | 1;
    for (std::uint32_t& word : packed) {  // xorshift64*: fast enough for ~4e9 codes on the host
      state ^= state >> 12;
      state ^= state << 25;
      state ^= state >> 27;
      word = static_cast<std::uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
    }
    const std::int64_t groups = in / w_.group_size;
    const std::uint16_t scale_bits = ::qg::f32_to_bf16(1.0f / (8.0f * std::sqrt(static_cast<float>(in))));
    std::vector<std::uint16_t> scales(static_cast<std::size_t>(out * groups), scale_bits);

    QuantizedLinear q;
    q.module = spec.name.substr(0, spec.name.size() - 7);  // drop ".weight"
    q.file = "synthetic";
    q.format = "pack-quantized";
    q.args.num_bits = 4;
    q.args.type = QuantType::kInt;
    q.args.symmetric = true;
    q.args.strategy = QuantStrategy::kGroup;
    q.args.group_size = w_.group_size;
    q.out_features = out;
    q.in_features = in;
    q.weight = TensorView{q.module + ".weight_packed", DType::kI32, {out, in / 8}, packed.data(), Device::kHost};
    q.scale = TensorView{q.module + ".weight_scale", DType::kBF16, {out, groups}, scales.data(), Device::kHost};
    return std::make_unique<DeviceQuantizedLinear>(q);
  }

  float scalar(const WeightSpec&) override { return 1.0f; }

 private:
  static float bound(const WeightSpec& spec) {
    if (spec.shape.size() >= 2) return 1.0f / std::sqrt(static_cast<float>(spec.shape.back()));
    return 0.1f;
  }
  std::uint64_t seed(const WeightSpec& spec) const { return w_.seed * 0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(spec.name); }

  const Gemma4TextConfig& c_;
  SyntheticWeights w_;
};

}  // namespace

std::unique_ptr<WeightSource> synthetic_weight_source(const Gemma4TextConfig& config, const SyntheticWeights& w) {
  return std::make_unique<SyntheticSource>(config, w);
}

}  // namespace qg::cuda
