#include "quant/quantized_linear.h"

#include <fmt/format.h>

#include <cstring>

#include "common/error.h"
#include "common/float_formats.h"
#include "quant/pack.h"

namespace qg {

namespace {

[[noreturn]] void fail(const QuantizedLinear& l, const std::string& tensor, const std::string& what) {
  throw Error(what, {.file = l.file, .tensor = l.module + "." + tensor});
}

std::optional<TensorView> find(const Checkpoint& ck, const std::string& name) {
  if (ck.find(name) == nullptr) return std::nullopt;
  return ck.view(name);
}

std::int64_t read_int(const TensorView& v, std::int64_t i) {
  std::int64_t x = 0;
  const auto* p = static_cast<const std::byte*>(v.data);
  if (v.dtype == DType::kI64) {
    std::memcpy(&x, p + i * 8, 8);
  } else {
    std::int32_t y;
    std::memcpy(&y, p + i * 4, 4);
    x = y;
  }
  return x;
}

// fp32 -> the output dtype, rounded once (RNE), back as fp32.
float round_to(DType dtype, float v) { return dtype == DType::kF16 ? round_f16(v) : round_bf16(v); }

constexpr float kFp4Values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

}  // namespace

std::int64_t QuantizedLinear::n_groups() const {
  if (args.strategy == QuantStrategy::kGroup || args.strategy == QuantStrategy::kTensorGroup)
    return (in_features + *args.group_size - 1) / *args.group_size;
  return 1;
}

DType QuantizedLinear::output_dtype() const { return format == "nvfp4-pack-quantized" ? DType::kBF16 : scale.dtype; }

std::uint64_t QuantizedLinear::stored_bytes() const {
  std::uint64_t n = weight.nbytes() + scale.nbytes();
  for (const auto* t : {&zero_point, &g_idx, &global_scale})
    if (*t) n += (*t)->nbytes();
  return n;
}

QuantizedLinear bind_quantized_linear(const Checkpoint& ck, const std::string& module, const QuantScheme& scheme) {
  QuantizedLinear l;
  l.module = module;
  l.format = scheme.format;
  l.file = ck.dir().string();
  if (!scheme.weights)
    throw Error(fmt::format("config group '{}' quantizes no weights (activation-only schemes are not supported)", scheme.name),
                {.file = l.file, .tensor = module});
  l.args = *scheme.weights;
  const QuantArgs& a = l.args;
  const std::string p = module + ".";
  auto require = [&](const char* suffix) {
    auto v = find(ck, p + suffix);
    if (!v) fail(l, suffix, fmt::format("missing: format {} with this scheme stores it", l.format));
    return *v;
  };
  const bool packed_format = l.format == "pack-quantized" || l.format == "nvfp4-pack-quantized";
  if (l.format != "pack-quantized" && l.format != "nvfp4-pack-quantized" && l.format != "naive-quantized" &&
      l.format != "int-quantized" && l.format != "float-quantized")
    fail(l, "weight", fmt::format("format '{}' is not supported for reading", l.format));
  if (a.strategy == QuantStrategy::kBlock || a.strategy == QuantStrategy::kToken || a.strategy == QuantStrategy::kAttnHead)
    fail(l, "weight", fmt::format("weight strategy '{}' is not supported", strategy_name(a.strategy)));

  l.weight = require(packed_format ? "weight_packed" : "weight");
  if (const CheckpointTensor* t = ck.find(p + (packed_format ? "weight_packed" : "weight"))) l.file = t->file->path().string();
  l.scale = require("weight_scale");

  // Logical shape.
  if (auto ws = find(ck, p + "weight_shape")) {
    if ((ws->dtype != DType::kI64 && ws->dtype != DType::kI32) || ws->numel() != 2)
      fail(l, "weight_shape", fmt::format("expected I64 [2], found {} {}", dtype_name(ws->dtype), shape_str(ws->shape)));
    l.out_features = read_int(*ws, 0);
    l.in_features = read_int(*ws, 1);
  } else if (l.format == "pack-quantized") {
    fail(l, "weight_shape", "missing: pack-quantized layers store their unpacked shape");
  } else if (l.weight.shape.size() == 2) {
    l.out_features = l.weight.shape[0];
    l.in_features = l.weight.shape[1] * (l.format == "nvfp4-pack-quantized" ? 2 : 1);
  }
  if (l.weight.shape.size() != 2 || l.out_features <= 0 || l.in_features <= 0)
    fail(l, packed_format ? "weight_packed" : "weight", fmt::format("expected a 2-D weight, found {}", shape_str(l.weight.shape)));

  // Weight storage.
  if (l.format == "pack-quantized") {
    if (a.type != QuantType::kInt) fail(l, "weight_packed", "pack-quantized needs integer weights");
    const int per = codes_per_word(a.num_bits);
    const Shape want{l.out_features, (l.in_features + per - 1) / per};
    if (l.weight.dtype != DType::kI32 || l.weight.shape != want)
      fail(l, "weight_packed", fmt::format("expected I32 {} for weight_shape [{}, {}] at {} bits, found {} {}", shape_str(want),
                                           l.out_features, l.in_features, a.num_bits, dtype_name(l.weight.dtype),
                                           shape_str(l.weight.shape)));
  } else if (l.format == "nvfp4-pack-quantized") {
    if (a.type != QuantType::kFloat || a.num_bits != 4 || a.strategy != QuantStrategy::kTensorGroup)
      fail(l, "weight_packed", "nvfp4-pack-quantized needs float 4-bit tensor_group weights");
    const Shape want{l.out_features, (l.in_features + 1) / 2};
    if (l.weight.dtype != DType::kU8 || l.weight.shape != want)
      fail(l, "weight_packed", fmt::format("expected U8 {}, found {} {}", shape_str(want), dtype_name(l.weight.dtype),
                                           shape_str(l.weight.shape)));
    l.global_scale = require("weight_global_scale");
    if (l.global_scale->dtype != DType::kF32 || l.global_scale->numel() != 1)
      fail(l, "weight_global_scale", "expected F32 [1]");
  } else {
    const DType want = a.type == QuantType::kFloat ? DType::kF8E4M3 : DType::kI8;
    if (a.num_bits != 8) fail(l, "weight", fmt::format("{} with {} bits is not supported (8 bits is)", l.format, a.num_bits));
    if (l.weight.dtype != want)
      fail(l, "weight", fmt::format("expected {} for a {}-quantized 8-bit weight, found {}", dtype_name(want),
                                    a.type == QuantType::kFloat ? "float" : "int", dtype_name(l.weight.dtype)));
  }

  // Scales.
  if (a.strategy == QuantStrategy::kGroup || a.strategy == QuantStrategy::kTensorGroup) {
    if (l.in_features % *a.group_size != 0 && !(a.has_g_idx()))
      fail(l, "weight_scale", fmt::format("group size {} does not divide in_features {} (compressed-tensors rejects this)",
                                          *a.group_size, l.in_features));
  }
  const bool nvfp4 = l.format == "nvfp4-pack-quantized";
  if (nvfp4 ? l.scale.dtype != DType::kF8E4M3 : (l.scale.dtype != DType::kBF16 && l.scale.dtype != DType::kF16))
    fail(l, "weight_scale", fmt::format("dtype {}: expected {}", dtype_name(l.scale.dtype),
                                        nvfp4 ? "F8_E4M3" : "BF16 or F16 (the model's 16-bit dtype)"));
  const bool per_tensor = a.strategy == QuantStrategy::kTensor;
  if (per_tensor ? l.scale.numel() != 1 : l.scale.shape != Shape{l.out_features, l.n_groups()})
    fail(l, "weight_scale", fmt::format("shape {} does not fit strategy {} (expected {})", shape_str(l.scale.shape),
                                        strategy_name(a.strategy),
                                        per_tensor ? std::string("[1]") : shape_str(Shape{l.out_features, l.n_groups()})));

  // Zero points (asymmetric only).
  if (!a.symmetric) {
    if (nvfp4 || a.type == QuantType::kFloat) fail(l, "weight_zero_point", "asymmetric float weights are not supported");
    l.zero_point = require("weight_zero_point");
    const TensorView& z = *l.zero_point;
    const bool ok_packed = l.format == "pack-quantized" && !per_tensor && z.dtype == DType::kI32 &&
                           z.shape == Shape{(l.out_features + 32 / a.num_bits - 1) / (32 / a.num_bits), l.n_groups()};
    const bool ok_unpacked = z.dtype == DType::kI8 && (per_tensor ? z.numel() == 1 : z.shape == l.scale.shape);
    if (!ok_packed && !ok_unpacked)
      fail(l, "weight_zero_point", fmt::format("{} {} fits neither packed I32 [ceil(out*{}/32), groups] nor unpacked I8 {}",
                                               dtype_name(z.dtype), shape_str(z.shape), a.num_bits, shape_str(l.scale.shape)));
  }
  if (auto g = find(ck, p + "weight_g_idx")) {
    if (g->dtype != DType::kI32 || g->shape != Shape{l.in_features})
      fail(l, "weight_g_idx", fmt::format("expected I32 [{}], found {} {}", l.in_features, dtype_name(g->dtype), shape_str(g->shape)));
    for (std::int64_t c = 0; c < l.in_features; ++c) {
      const std::int64_t gi = read_int(*g, c);
      if (gi < 0 || gi >= l.n_groups())
        fail(l, "weight_g_idx", fmt::format("entry {} is {}, outside [0, {})", c, gi, l.n_groups()));
    }
    l.g_idx = g;
  }
  return l;
}

namespace {

template <typename Emit>
void dequantize_each(const QuantizedLinear& l, Emit&& emit) {
  const QuantArgs& a = l.args;
  const std::int64_t out = l.out_features, in = l.in_features, ng = l.n_groups();
  const DType od = l.output_dtype();
  const bool per_tensor = a.strategy == QuantStrategy::kTensor;
  const bool grouped = a.strategy == QuantStrategy::kGroup || a.strategy == QuantStrategy::kTensorGroup;
  auto group_of = [&](std::int64_t c) -> std::int64_t {
    if (l.g_idx) return read_int(*l.g_idx, c);
    return grouped ? c / *a.group_size : 0;
  };
  auto scale_at = [&](std::int64_t r, std::int64_t g) { return load_as_f32(l.scale, per_tensor ? 0 : r * ng + g); };

  if (l.format == "nvfp4-pack-quantized") {
    const float gs = load_as_f32(*l.global_scale, 0);
    const auto* bytes = static_cast<const std::uint8_t*>(l.weight.data);
    const std::int64_t bpr = l.weight.shape[1];
    for (std::int64_t r = 0; r < out; ++r)
      for (std::int64_t c = 0; c < in; ++c) {
        const std::uint8_t b = bytes[r * bpr + c / 2];
        const std::uint8_t nib = (c % 2 == 0) ? (b & 0xf) : (b >> 4);
        const float v = (nib & 8 ? -1.0f : 1.0f) * kFp4Values[nib & 7];
        const float s = scale_at(r, c / *a.group_size) / gs;  // f32 division, as CT's promotion
        emit(r * in + c, round_bf16(v * s));
      }
    return;
  }

  // Integer zero point of (r, g), signed.
  auto zero_at = [&](std::int64_t r, std::int64_t g) -> std::int32_t {
    if (!l.zero_point) return 0;
    const TensorView& z = *l.zero_point;
    if (z.dtype == DType::kI8) return static_cast<std::int32_t>(load_as_f32(z, per_tensor ? 0 : r * ng + g));
    return unpack_column_code(static_cast<const std::int32_t*>(z.data), ng, r, g, a.num_bits);
  };

  if (l.format == "pack-quantized") {
    const int per = 32 / a.num_bits;
    const std::int64_t wpr = (in + per - 1) / per;
    // Copy out of the (possibly unaligned) mmapped file once per layer.
    std::vector<std::int32_t> words(static_cast<std::size_t>(out * wpr));
    std::memcpy(words.data(), l.weight.data, words.size() * 4);
    for (std::int64_t r = 0; r < out; ++r)
      for (std::int64_t c = 0; c < in; ++c) {
        const std::int64_t g = group_of(c);
        const std::int32_t q = unpack_code(words.data(), wpr, r, c, a.num_bits);
        emit(r * in + c, round_to(od, static_cast<float>(q - zero_at(r, g)) * scale_at(r, g)));
      }
    return;
  }

  // naive / int / float-quantized: one stored value per element.
  for (std::int64_t r = 0; r < out; ++r)
    for (std::int64_t c = 0; c < in; ++c) {
      const std::int64_t g = group_of(c);
      const float q = load_as_f32(l.weight, r * in + c);  // exact: int8 or fp8 widened
      emit(r * in + c, round_to(od, (q - static_cast<float>(zero_at(r, g))) * scale_at(r, g)));
    }
}

}  // namespace

std::vector<float> dequantize_f32(const QuantizedLinear& l) {
  std::vector<float> out(static_cast<std::size_t>(l.out_features * l.in_features));
  dequantize_each(l, [&](std::int64_t i, float v) { out[static_cast<std::size_t>(i)] = v; });
  return out;
}

std::vector<std::uint16_t> dequantize_16bit(const QuantizedLinear& l) {
  std::vector<std::uint16_t> out(static_cast<std::size_t>(l.out_features * l.in_features));
  const bool f16 = l.output_dtype() == DType::kF16;
  dequantize_each(l, [&](std::int64_t i, float v) { out[static_cast<std::size_t>(i)] = f16 ? f32_to_f16(v) : f32_to_bf16(v); });
  return out;
}

}  // namespace qg
