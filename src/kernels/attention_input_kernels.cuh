#pragma once
// The fast precision's attention inputs in one pass (issue 11): per head, RMSNorm (q_norm / k_norm, or v_norm's
// weightless norm), RoPE, and the fp16 rounding the attention reads, straight into the fp16 query buffer or the
// K/V cache row. Before, the same values took up to four kernels (rms_norm_in_place, apply_rope, then
// f32_to_f16 or scatter_rows_to_f16), each a pass over fp32 queries 8-16 KB a row wide.
// The arithmetic and the reduction order are those kernels' (a warp per head row, lane j summing the squares of
// channels j, j + 32, ... in double, the rms_rows.cuh maths; rope_kernels.cu's angle, cosf/sinf and rounded
// products; round-to-nearest-even fp16), so the results are the same bits: tests/kernels/attention_input_test.cpp
// compares them with memcmp. Needs d a multiple of 64 (each lane then holds both channels of its RoPE pairs).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

struct AttentionInputArgs {
  const float* x = nullptr;            // [rows, heads, d] fp32: a q/k/v projection's output (not modified)
  std::int64_t x_row_stride = 0;       // floats from one row of x to the next; 0: heads * d (a merged [q|k|v] GEMM
                                       // output is wider)
  std::int64_t rows = 0;
  int heads = 0, d = 0;                // d in {64, 128, 256, 512}
  const float* norm_w = nullptr;       // [d] RMSNorm weight, nullptr: weightless (v_norm)
  float eps = 1e-6f;
  const std::int32_t* positions = nullptr;  // [rows]; nullptr: no RoPE (V)
  const float* inv_freq = nullptr;          // [d / 2], with positions
  const std::int64_t* dest_row = nullptr;   // [rows]: row of `out` for row r (the cache slot; < 0: dropped);
                                            // nullptr: row r
  __half* out = nullptr;                    // [*, heads, d] fp16
};

bool attention_input_supported(int d);
void prepare_attention_input(const AttentionInputArgs& args, cudaStream_t stream);

}  // namespace qg::cuda
