#include "kernels/attention_input_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"
#include "kernels/rms_rows.cuh"

#if defined(__USE_FAST_MATH__)
#error "built with --use_fast_math: cosf/sinf would become approximations the tests do not allow"
#endif

namespace qg::cuda {

namespace {

constexpr int kWarps = 8, kThreads = kWarps * 32;

// One warp per (row, head); lane l holds channels l + 32 k, k < kPerLane. RoPE pairs channel j < d/2 with
// j + d/2, i.e. register k with k + kPerLane / 2 of the same lane.
template <int kPerLane>
__global__ void __launch_bounds__(kThreads) attention_input_kernel(AttentionInputArgs a) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t items = a.rows * a.heads;
  for (std::int64_t item = static_cast<std::int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); item < items;
       item += static_cast<std::int64_t>(gridDim.x) * kWarps) {  // warp-uniform loop
    const std::int64_t r = item / a.heads;
    const int h = static_cast<int>(item - r * a.heads);
    const float* src = a.x + r * a.x_row_stride + static_cast<std::int64_t>(h) * a.d;
    float v[kPerLane];
    double sum_sq = 0.0;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      v[k] = src[lane + 32 * k];
      const double dv = static_cast<double>(v[k]);
      sum_sq = __fma_rn(dv, dv, sum_sq);  // rms_rows_warp_kernel's order: j = lane, lane + 32, ...
    }
    const float inv_rms = detail::inv_rms_from_sum(detail::warp_sum(sum_sq), a.d, a.eps);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) v[k] = detail::apply_rms(v[k], inv_rms, a.norm_w, lane + 32 * k);
    if (a.positions != nullptr) {
      const auto p = static_cast<float>(a.positions[r]);  // exact for positions < 2^24
#pragma unroll
      for (int k = 0; k < kPerLane / 2; ++k) {
        const float angle = __fmul_rn(p, a.inv_freq[lane + 32 * k]);
        const float c = cosf(angle), s = sinf(angle);
        const float x0 = v[k], x1 = v[k + kPerLane / 2];
        v[k] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        v[k + kPerLane / 2] = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s));
      }
    }
    const std::int64_t dest = a.dest_row != nullptr ? a.dest_row[r] : r;
    if (dest < 0) continue;  // as scatter_rows_to_f16: a row without a slot is dropped
    __half* dst = a.out + (dest * a.heads + h) * a.d;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) dst[lane + 32 * k] = __ushort_as_half(::qg::f32_to_f16(v[k]));
  }
}

}  // namespace

bool attention_input_supported(int d) { return d == 64 || d == 128 || d == 256 || d == 512; }

void prepare_attention_input(const AttentionInputArgs& a, cudaStream_t stream) {
  if (a.rows < 0 || a.heads < 1 || !attention_input_supported(a.d))
    throw Error(fmt::format("prepare_attention_input: rows={} heads={} d={} (d must be 64, 128, 256 or 512)", a.rows,
                            a.heads, a.d));
  if (a.rows == 0) return;
  if (a.x == nullptr || a.out == nullptr || (a.positions != nullptr && a.inv_freq == nullptr))
    throw Error("prepare_attention_input: null pointer");
  if (a.x_row_stride != 0 && a.x_row_stride < a.heads * static_cast<std::int64_t>(a.d))
    throw Error(fmt::format("prepare_attention_input: row stride {} below heads * d = {}", a.x_row_stride,
                            a.heads * static_cast<std::int64_t>(a.d)));
  AttentionInputArgs k = a;
  if (k.x_row_stride == 0) k.x_row_stride = a.heads * static_cast<std::int64_t>(a.d);
  const std::int64_t blocks = std::min<std::int64_t>((a.rows * a.heads + kWarps - 1) / kWarps, 1 << 20);
  const auto grid = static_cast<unsigned>(blocks);
  switch (a.d) {
    case 64: attention_input_kernel<2><<<grid, kThreads, 0, stream>>>(k); break;
    case 128: attention_input_kernel<4><<<grid, kThreads, 0, stream>>>(k); break;
    case 256: attention_input_kernel<8><<<grid, kThreads, 0, stream>>>(k); break;
    default: attention_input_kernel<16><<<grid, kThreads, 0, stream>>>(k); break;
  }
  check_launch("prepare_attention_input");
}

}  // namespace qg::cuda
