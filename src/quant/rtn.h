#pragma once
// Data-free round-to-nearest quantization, bit-identical to llm-compressor's QuantizationModifier with
// the memoryless min-max observer (quant-formats.md section 3): every op in f32 then rounded to the
// weight's 16-bit dtype, divisors (qmax - qmin) / 2 (7.5 / 127.5) for symmetric and qmax - qmin for
// asymmetric scales, the quotient rounded to 16 bits before clamp and round-half-even, the zero-scale
// rule (eps of the dtype).
#include <cstdint>
#include <vector>

#include "quant/quant_config.h"
#include "tensor/tensor_view.h"

namespace qg {

struct RtnResult {
  std::int64_t out_features = 0;
  std::int64_t in_features = 0;
  std::int64_t n_groups = 1;           // scale columns (1 for channel; tensor strategy has one scale)
  std::vector<std::int32_t> codes;     // signed q [out, in]
  std::vector<std::uint16_t> scales;   // 16-bit patterns in the weight's dtype: [out, n_groups], or [1] (tensor)
  std::vector<std::int32_t> zeros;     // signed zero points, same layout as scales (asymmetric only)
};

// `weight`: BF16 or F16 [out, in]. `args`: int, 4 or 8 bits, tensor / channel / group strategy.
// Throws qg::Error (naming the tensor) for fp32 weights, other schemes or a group size that does not
// divide in_features.
RtnResult rtn_quantize(const TensorView& weight, const QuantArgs& args);

}  // namespace qg
