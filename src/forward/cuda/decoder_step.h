#pragma once
// One step of the CUDA engine: embedding, per-layer inputs and every decoder layer for the step's packed
// rows, following gemma4-text.md §3-§11 op by op (the same order as forward/cpu/decoder_layer.cpp).
#include <cstdint>
#include <functional>
#include <string_view>

#include "forward/cuda/engine_state.h"
#include "forward/shared_layer_rows.h"

namespace qg::cuda {

// Sees an fp32 device activation [rows, width] (the engine splits it per sequence for the hook).
using StepEmitter = std::function<void(std::string_view name, int layer, const float* device, std::int64_t width)>;

// Rows' ids, positions, kv_start and kv_dest are on the device already. Leaves the final residual in e.x.
// With `shared`, the KV-shared layers run only its kept rows (forward/shared_layer_rows.h): from the first shared
// layer on, e.x, e.ple, positions and kv_start hold the kept rows in order (shared->compacted_row maps a step row),
// and e.step_spans is shared->spans.
void run_decoder_step(CudaForward::Impl& e, std::int64_t rows, const StepEmitter& emit,
                      const SharedLayerRows* shared = nullptr);

}  // namespace qg::cuda
