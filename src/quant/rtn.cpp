#include "quant/rtn.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/float_formats.h"

namespace qg {

namespace {

struct Half {
  bool f16;
  float round(float v) const { return f16 ? round_f16(v) : round_bf16(v); }
  std::uint16_t bits(float v) const { return f16 ? f32_to_f16(v) : f32_to_bf16(v); }
  // torch.finfo(dtype).eps: bf16 2^-7, fp16 2^-10 (CT >= 0.13 replaces a zero scale by it).
  float eps() const { return f16 ? 0.0009765625f : 0.0078125f; }
};

float rint_half_even(float v) { return std::nearbyint(v); }  // default FE_TONEAREST: ties to even, as torch.round

}  // namespace

RtnResult rtn_quantize(const TensorView& w, const QuantArgs& a) {
  const Error::Context ctx{.tensor = w.name};
  if (w.dtype != DType::kBF16 && w.dtype != DType::kF16)
    throw Error(fmt::format("RTN quantization needs a BF16 or F16 weight, found {} (fp32 master weights round "
                            "differently on CPU and GPU in llm-compressor)",
                            dtype_name(w.dtype)),
                ctx);
  if (w.shape.size() != 2) throw Error(fmt::format("expected a 2-D weight, found {}", shape_str(w.shape)), ctx);
  if (a.type != QuantType::kInt || (a.num_bits != 4 && a.num_bits != 8))
    throw Error("RTN supports int4 and int8 weights", ctx);
  if (a.strategy != QuantStrategy::kTensor && a.strategy != QuantStrategy::kChannel && a.strategy != QuantStrategy::kGroup)
    throw Error(fmt::format("RTN supports tensor, channel and group strategies, not {}", strategy_name(a.strategy)), ctx);

  const Half h{w.dtype == DType::kF16};
  RtnResult r;
  r.out_features = w.shape[0];
  r.in_features = w.shape[1];
  const std::int64_t out = r.out_features, in = r.in_features;
  std::int64_t group_cols = in;  // columns per scale
  if (a.strategy == QuantStrategy::kGroup) {
    group_cols = *a.group_size;
    if (in % group_cols != 0)
      throw Error(fmt::format("group size {} does not divide in_features {}", group_cols, in),
                  {.tensor = w.name, .hint = "choose another --group-size or --ignore this layer"});
    r.n_groups = in / group_cols;
  }
  const float qmin = -static_cast<float>(1 << (a.num_bits - 1));
  const float qmax = static_cast<float>((1 << (a.num_bits - 1)) - 1);
  const float bit_range = qmax - qmin;

  const std::vector<float> x = to_f32(w);  // exact widening
  r.codes.resize(static_cast<std::size_t>(out * in));

  // One observer region: rows [r0, r1), columns [c0, c1). Returns (scale, zero point).
  auto qparams = [&](std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1) {
    float lo = 0.0f, hi = 0.0f;  // min(0, min x), max(0, max x)
    for (std::int64_t i = r0; i < r1; ++i)
      for (std::int64_t c = c0; c < c1; ++c) {
        const float v = x[static_cast<std::size_t>(i * in + c)];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    float s, z = 0.0f;
    if (a.symmetric) {
      s = h.round(std::max(-lo, hi) / (bit_range / 2.0f));
    } else {
      const float d = h.round(hi - lo);
      s = h.round(d / bit_range);
      if (s != 0.0f) {
        const float t = h.round(lo / s);
        z = rint_half_even(std::clamp(h.round(qmin - t), qmin, qmax));
      }
    }
    if (s == 0.0f) s = h.eps();
    return std::pair<float, float>{s, z};
  };
  auto quantize_region = [&](std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1, float s, float z) {
    for (std::int64_t i = r0; i < r1; ++i)
      for (std::int64_t c = c0; c < c1; ++c) {
        float v = h.round(x[static_cast<std::size_t>(i * in + c)] / s);
        if (!a.symmetric) v = h.round(v + z);
        r.codes[static_cast<std::size_t>(i * in + c)] = static_cast<std::int32_t>(rint_half_even(std::clamp(v, qmin, qmax)));
      }
  };

  if (a.strategy == QuantStrategy::kTensor) {
    const auto [s, z] = qparams(0, out, 0, in);
    quantize_region(0, out, 0, in, s, z);
    r.scales = {h.bits(s)};
    if (!a.symmetric) r.zeros = {static_cast<std::int32_t>(z)};
    return r;
  }
  r.scales.resize(static_cast<std::size_t>(out * r.n_groups));
  if (!a.symmetric) r.zeros.resize(r.scales.size());
  for (std::int64_t i = 0; i < out; ++i)
    for (std::int64_t g = 0; g < r.n_groups; ++g) {
      const std::int64_t c0 = g * group_cols, c1 = c0 + group_cols;
      const auto [s, z] = qparams(i, i + 1, c0, c1);
      quantize_region(i, i + 1, c0, c1, s, z);
      r.scales[static_cast<std::size_t>(i * r.n_groups + g)] = h.bits(s);
      if (!a.symmetric) r.zeros[static_cast<std::size_t>(i * r.n_groups + g)] = static_cast<std::int32_t>(z);
    }
  return r;
}

}  // namespace qg
