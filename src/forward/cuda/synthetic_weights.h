#pragma once
// A WeightSource of random values generated on the GPU, for the synthetic full-size runs of issue 6
// (VRAM and speed of the real E4B shapes without a checkpoint). With w4a16, every decoder-layer Linear is
// int4 pack-quantized (symmetric, bf16 group scales) exactly as `quantgate quantize` would store it, so the
// engine runs the same dequantize-then-GEMM path as on a real W4A16 checkpoint.
#include <memory>

#include "forward/cuda/cuda_forward.h"
#include "forward/cuda/gpu_weights.h"

namespace qg::cuda {

std::unique_ptr<WeightSource> synthetic_weight_source(const Gemma4TextConfig& config, const SyntheticWeights& w);

}  // namespace qg::cuda
