// Host side of DeviceQuantizedLinear (kernels/dequant_kernels.cuh): validation, uploads, and the kernel's
// parameters. Plain C++20 because QuantizedLinear's headers are; the kernel lives in dequant_kernels.cu.
#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "common/error.h"
#include "kernels/dequant_kernels.cuh"
#include "kernels/dequant_launch.cuh"

namespace qg::cuda {

namespace {

DeviceBuffer upload_view(const TensorView& v, const std::string& what) {
  if (v.device != Device::kHost) throw Error(fmt::format("{}: expected a host tensor view", what), {.tensor = what});
  return upload_bytes(v.data, v.nbytes(), what);
}

bool is_grouped(const QuantArgs& a) {
  return a.strategy == QuantStrategy::kGroup || a.strategy == QuantStrategy::kTensorGroup;
}

}  // namespace

// Accepts exactly what bind_quantized_linear accepts (the kernel reads every index it is given, so a
// malformed layer must be refused here rather than read out of bounds on the device).
DeviceQuantizedLinear::DeviceQuantizedLinear(const QuantizedLinear& l)
    : module_(l.module), format_(l.format), args_(l.args), out_(l.out_features), in_(l.in_features) {
  auto fail = [&](const std::string& what) {
    throw Error(fmt::format("GPU dequantization of {} ({}): {}", module_, format_, what), {.file = l.file, .tensor = module_});
  };
  if (out_ <= 0 || in_ <= 0) fail(fmt::format("bad shape [{}, {}]", out_, in_));
  const bool nvfp4 = format_ == "nvfp4-pack-quantized";
  const bool packed = format_ == "pack-quantized";
  const bool eight_bit = format_ == "naive-quantized" || format_ == "int-quantized" || format_ == "float-quantized";
  if (!nvfp4 && !packed && !eight_bit) fail("format not supported");
  const bool grouped = is_grouped(args_);
  if (!grouped && args_.strategy != QuantStrategy::kTensor && args_.strategy != QuantStrategy::kChannel)
    fail(fmt::format("strategy {} not supported", strategy_name(args_.strategy)));
  if (nvfp4 && (args_.type != QuantType::kFloat || args_.num_bits != 4 || args_.strategy != QuantStrategy::kTensorGroup))
    fail("nvfp4 needs float 4-bit tensor_group weights");
  if (grouped && (!args_.group_size || *args_.group_size <= 0)) fail("grouped strategy without a positive group size");
  n_groups_ = l.n_groups();
  const bool per_tensor = args_.strategy == QuantStrategy::kTensor;

  weight_dtype_ = l.weight.dtype;
  weight_shape_ = l.weight.shape;
  scale_dtype_ = l.scale.dtype;
  scale_shape_ = l.scale.shape;
  if (weight_shape_.size() != 2 || weight_shape_[0] != out_) fail(fmt::format("weight shape {}", shape_str(weight_shape_)));
  if (packed) {
    if (args_.type != QuantType::kInt || (args_.num_bits != 4 && args_.num_bits != 8))
      fail(fmt::format("int {} bits (int 4 and 8 are supported)", args_.num_bits));
    const int per = 32 / args_.num_bits;
    if (weight_dtype_ != DType::kI32 || weight_shape_[1] != (in_ + per - 1) / per)
      fail(fmt::format("weight_packed {} {} is not I32 [out, ceil(in / {})]", dtype_name(weight_dtype_), shape_str(weight_shape_), per));
  } else if (nvfp4) {
    if (weight_dtype_ != DType::kU8 || weight_shape_[1] != (in_ + 1) / 2)
      fail(fmt::format("weight_packed {} {} is not U8 [out, ceil(in / 2)]", dtype_name(weight_dtype_), shape_str(weight_shape_)));
    if (!l.global_scale || l.global_scale->dtype != DType::kF32 || l.global_scale->numel() != 1)
      fail("weight_global_scale is not F32 [1]");
  } else {
    const DType want = args_.type == QuantType::kFloat ? DType::kF8E4M3 : DType::kI8;
    if (args_.num_bits != 8 || weight_dtype_ != want || weight_shape_[1] != in_)
      fail(fmt::format("weight {} {} is not 8-bit {} [out, in]", dtype_name(weight_dtype_), shape_str(weight_shape_), dtype_name(want)));
  }
  if (nvfp4 ? scale_dtype_ != DType::kF8E4M3 : (scale_dtype_ != DType::kBF16 && scale_dtype_ != DType::kF16))
    fail(fmt::format("weight_scale dtype {} not supported", dtype_name(scale_dtype_)));
  if (l.scale.numel() != (per_tensor ? 1 : out_ * n_groups_)) fail(fmt::format("weight_scale shape {}", shape_str(scale_shape_)));
  if (l.zero_point) {
    zero_point_dtype_ = l.zero_point->dtype;
    zero_point_shape_ = l.zero_point->shape;
    if (nvfp4 || args_.type == QuantType::kFloat) fail("asymmetric float weights are not supported");
    if (zero_point_dtype_ == DType::kI8) {
      if (l.zero_point->numel() != (per_tensor ? 1 : out_ * n_groups_)) fail("I8 weight_zero_point has the wrong size");
    } else if (zero_point_dtype_ == DType::kI32 && packed && !per_tensor) {
      const int per = 32 / args_.num_bits;
      if (l.zero_point->numel() != (out_ + per - 1) / per * n_groups_) fail("packed weight_zero_point has the wrong size");
    } else {
      fail(fmt::format("weight_zero_point {} {} not supported", dtype_name(zero_point_dtype_), shape_str(zero_point_shape_)));
    }
  }
  if (l.g_idx) {
    if (l.g_idx->dtype != DType::kI32 || l.g_idx->numel() != in_) fail("weight_g_idx is not I32 [in]");
    std::vector<std::int32_t> g(static_cast<std::size_t>(in_));
    std::memcpy(g.data(), l.g_idx->data, g.size() * 4);  // the mmapped view may be unaligned
    for (const std::int32_t gi : g)
      if (gi < 0 || gi >= n_groups_) fail(fmt::format("weight_g_idx entry {} outside [0, {})", gi, n_groups_));
  }
  // Without g_idx a group index is c / group_size < ceil(in / group_size): always in range.

  weight_ = upload_view(l.weight, module_ + (packed || nvfp4 ? ".weight_packed" : ".weight"));
  scale_ = upload_view(l.scale, module_ + ".weight_scale");
  if (l.zero_point) zero_point_ = upload_view(*l.zero_point, module_ + ".weight_zero_point");
  if (l.g_idx) g_idx_ = upload_view(*l.g_idx, module_ + ".weight_g_idx");
  if (nvfp4) {
    global_scale_dtype_ = DType::kF32;
    global_scale_ = upload_view(*l.global_scale, module_ + ".weight_global_scale");
  }
}

std::uint64_t DeviceQuantizedLinear::device_bytes() const {
  return weight_.bytes() + scale_.bytes() + zero_point_.bytes() + g_idx_.bytes() + global_scale_.bytes();
}

void DeviceQuantizedLinear::dequantize_to_bf16(__nv_bfloat16* out, cudaStream_t stream) const {
  using namespace dequant_detail;
  if (out == nullptr) throw Error(fmt::format("dequantize {}: null output", module_));
  const bool nvfp4 = format_ == "nvfp4-pack-quantized";
  DequantParams p;
  p.format = nvfp4 ? Format::kNvfp4 : format_ == "pack-quantized" ? Format::kPacked : Format::kEightBit;
  p.zero_kind = zero_point_.empty() ? ZeroKind::kNone : zero_point_dtype_ == DType::kI8 ? ZeroKind::kI8 : ZeroKind::kPackedI32;
  p.words = weight_.as<const std::int32_t>();
  p.bytes = weight_.as<const std::uint8_t>();
  p.weight_is_fp8 = weight_dtype_ == DType::kF8E4M3;
  p.scale16 = scale_.as<const std::uint16_t>();
  p.scale8 = scale_.as<const std::uint8_t>();
  p.scale_is_f16 = scale_dtype_ == DType::kF16;
  p.zero_i8 = zero_point_.as<const std::int8_t>();
  p.zero_words = zero_point_.as<const std::int32_t>();
  p.g_idx = nvfp4 ? nullptr : g_idx_.as<const std::int32_t>();  // the CPU's nvfp4 path ignores g_idx
  p.global_scale = global_scale_.as<const float>();
  p.out = out_;
  p.in = in_;
  p.n_groups = n_groups_;
  p.group_size = args_.group_size.value_or(1);
  p.row_stride = weight_shape_[1];
  p.num_bits = args_.num_bits;
  p.per_tensor = args_.strategy == QuantStrategy::kTensor;
  p.grouped = is_grouped(args_);
  p.out_f16 = !nvfp4 && scale_dtype_ == DType::kF16;
  launch_dequantize(p, reinterpret_cast<std::uint16_t*>(out), stream);
}

}  // namespace qg::cuda
