#pragma once
// One quantized Linear as stored by compressed-tensors: zero-copy views of its packed tensors, the
// scheme that applies, and dequantization bit-identical to compressed-tensors (quant-formats.md
// sections 2-6). Layers stay packed in memory (mmapped) until a forward pass dequantizes them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "quant/quant_config.h"
#include "tensor/tensor_view.h"

namespace qg {

struct QuantizedLinear {
  std::string module;  // e.g. "model.layers.0.mlp.down_proj"
  std::string file;    // the file holding the packed weight, for errors
  std::string format;  // pack-quantized | naive-quantized | int-quantized | float-quantized | nvfp4-pack-quantized
  QuantArgs args;
  std::int64_t out_features = 0;
  std::int64_t in_features = 0;
  TensorView weight;  // weight_packed (pack/nvfp4 formats) or weight (naive/int/float formats)
  TensorView scale;   // weight_scale
  std::optional<TensorView> zero_point;    // weight_zero_point (asymmetric)
  std::optional<TensorView> g_idx;         // weight_g_idx (actorder "group")
  std::optional<TensorView> global_scale;  // weight_global_scale (nvfp4)

  std::int64_t n_groups() const;  // scale columns
  DType output_dtype() const;     // dequantized values are in this dtype (the scale's, BF16 for nvfp4)
  std::uint64_t stored_bytes() const;
};

// Binds the tensors of `module` (a Linear that `scheme` quantizes) from the checkpoint and validates
// every dtype and shape against the scheme; throws qg::Error naming the file and tensor otherwise.
QuantizedLinear bind_quantized_linear(const Checkpoint& checkpoint, const std::string& module, const QuantScheme& scheme);

// Dequantized weight [out, in], each value rounded exactly as compressed-tensors rounds it (to the
// output dtype), then widened to fp32.
std::vector<float> dequantize_f32(const QuantizedLinear& layer);
// The same values as raw 16-bit patterns of output_dtype() (BF16 or F16).
std::vector<std::uint16_t> dequantize_16bit(const QuantizedLinear& layer);

// Tensor names (relative to the module) a quantized Linear consists of, for binding and inspect.
inline constexpr const char* kQuantizedSuffixes[] = {"weight_packed", "weight_scale", "weight_shape", "weight_zero_point",
                                                     "weight_g_idx",  "weight_global_scale", "input_global_scale",
                                                     "input_scale",   "input_zero_point"};

}  // namespace qg
