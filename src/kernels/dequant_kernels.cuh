#pragma once
// Quantized Linear weights on the GPU: the packed tensors of a compressed-tensors layer are uploaded as
// stored (VRAM ~ the checkpoint's size) and dequantized on demand into a bf16 workspace [out, in] right
// before the layer's GEMM. Each value equals quant/quantized_linear.h's dequantize_16bit() for the same
// layer: bit for bit when that output dtype is BF16; when it is F16 (an F16 scale), the F16 value rounded
// to bf16, because the engine's GEMMs run in bf16 (fp16 activations overflow on Gemma's residual stream).
// Covers every format quantized_linear.cpp dequantizes: pack-quantized (int4/int8 in int32, symmetric or
// with a zero point, channel/group/tensor strategy, g_idx), naive/int-quantized int8, float-quantized fp8,
// nvfp4-pack-quantized. Host reference: dequantize_16bit itself.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <optional>
#include <string>

#include "kernels/device_buffer.h"
#include "quant/quantized_linear.h"

namespace qg::cuda {

class DeviceQuantizedLinear {
 public:
  // Copies the layer's packed tensors to the device; throws qg::Error naming the module for a format or
  // dtype combination the kernels do not cover (which bind_quantized_linear would also have rejected).
  explicit DeviceQuantizedLinear(const QuantizedLinear& layer);

  const std::string& module() const { return module_; }
  std::int64_t out_features() const { return out_; }
  std::int64_t in_features() const { return in_; }
  std::uint64_t device_bytes() const;  // what the packed tensors occupy on the GPU

  // out [out_features, in_features] bf16 (device).
  void dequantize_to_bf16(__nv_bfloat16* out, cudaStream_t stream) const;

 private:
  std::string module_, format_;
  QuantArgs args_;
  std::int64_t out_ = 0, in_ = 0, n_groups_ = 0;
  DType weight_dtype_{}, scale_dtype_{}, zero_point_dtype_{}, global_scale_dtype_{};
  Shape weight_shape_, scale_shape_, zero_point_shape_;
  DeviceBuffer weight_, scale_, zero_point_, g_idx_, global_scale_;
};

}  // namespace qg::cuda
