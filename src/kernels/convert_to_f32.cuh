#pragma once
// Widen checkpoint dtypes (BF16, F16, F8_E4M3, F8_E5M2, F32) to fp32 on the GPU, bit-exactly as the
// host conversions in common/float_formats.h. First GPU op: weight upcasts for the CUDA engine.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype.h"

namespace qg {

struct ConvertToF32Params {
  const void* src = nullptr;  // device pointer, `n` elements of `src_dtype`
  DType src_dtype = DType::kBF16;
  float* dst = nullptr;       // device pointer, `n` floats
  std::int64_t n = 0;
};

// Throws qg::Error for an unsupported dtype or a CUDA launch error.
void launch_convert_to_f32(const ConvertToF32Params& params, cudaStream_t stream);

}  // namespace qg
