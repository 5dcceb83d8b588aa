#include "kernels/kl_compact_ref_kernels.cuh"

#include <fmt/format.h>

#include <cmath>
#include <cub/device/device_segmented_sort.cuh>

#include "common/error.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/kl_block_reduce.cuh"

namespace qg::cuda {

namespace {

constexpr int kThreads = 256;

std::size_t align_up(std::size_t x) { return (x + 255) / 256 * 256; }

struct Layout {  // the workspace: sort keys/values in and out, segment offsets, CUB's temp storage
  std::size_t keys_in, keys_out, vals_in, vals_out, offsets, temp, temp_bytes, total;
};
Layout layout(std::int64_t rows, std::int64_t n_vocab) {
  const auto items = static_cast<std::size_t>(rows * n_vocab);
  Layout l{};
  std::size_t temp_bytes = 0;
  QG_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairsDescending(
      nullptr, temp_bytes, static_cast<const float*>(nullptr), static_cast<float*>(nullptr),
      static_cast<const std::int32_t*>(nullptr), static_cast<std::int32_t*>(nullptr), static_cast<std::int64_t>(items),
      rows, static_cast<const std::int64_t*>(nullptr), static_cast<const std::int64_t*>(nullptr)));
  l.keys_in = 0;
  l.keys_out = l.keys_in + align_up(items * 4);
  l.vals_in = l.keys_out + align_up(items * 4);
  l.vals_out = l.vals_in + align_up(items * 4);
  l.offsets = l.vals_out + align_up(items * 4);
  l.temp = l.offsets + align_up(static_cast<std::size_t>(rows + 1) * 8);
  l.temp_bytes = temp_bytes;
  l.total = l.temp + align_up(temp_bytes);
  return l;
}

__global__ void pack_kernel(const float* __restrict__ rows, std::int64_t stride, std::int64_t n_rows, std::int64_t n_vocab,
                            float* __restrict__ keys, std::int32_t* __restrict__ vals, std::int64_t* __restrict__ offsets) {
  const std::int64_t items = n_rows * n_vocab;
  for (std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; t < items;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = t / n_vocab, i = t % n_vocab;
    keys[t] = rows[r * stride + i] + 0.0f;  // -0.0 -> +0.0: ties as the host's ==
    vals[t] = static_cast<std::int32_t>(i);
    if (i == 0) offsets[r] = r * n_vocab;
    if (t == items - 1) offsets[n_rows] = items;
  }
}

// The shared block reductions (kernels/kl_block_reduce.cuh) at this file's block size.
template <typename T, typename Op>
__device__ T block_reduce(T v, T* shared, Op op) {
  return kl_detail::block_reduce<kThreads>(v, shared, op);
}

__global__ void __launch_bounds__(kThreads)
    stats_kernel(const float* __restrict__ rows, std::int64_t stride, const std::int32_t* __restrict__ next,
                 std::int64_t k, std::int64_t n_vocab, const std::int32_t* __restrict__ sorted_ids,
                 std::int32_t* __restrict__ topk_ids, float* __restrict__ topk_logits, double* __restrict__ stats,
                 std::int32_t* __restrict__ top1) {
  __shared__ double s_sum[kThreads];
  __shared__ int s_bad[kThreads];
  const std::int64_t r = blockIdx.x;
  const float* x = rows + r * stride;
  const std::int32_t* ids = sorted_ids + r * n_vocab;
  for (std::int64_t j = threadIdx.x; j < k; j += kThreads) {
    topk_ids[r * k + j] = ids[j];
    topk_logits[r * k + j] = x[ids[j]];  // the original value (a -0.0 stays -0.0, as on the host)
  }
  // the max is the first sorted entry; the host's argmax is the lowest id among equal maxima: the stable sort's first
  const std::int32_t arg = ids[0];
  const double max = x[arg];
  const float lk = x[ids[k - 1]] + 0.0f;
  const std::int32_t idk = ids[k - 1];
  auto add = [](double a, double b) { return a + b; };
  int bad = 0;
  double sum = 0;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
    bad |= !isfinite(x[i]);
    sum += exp(static_cast<double>(x[i]) - max);
  }
  bad = block_reduce(bad, s_bad, [](int a, int b) { return a | b; });
  sum = block_reduce(sum, s_sum, add);
  const double lse = max + log(sum);
  double neg_entropy = 0, tail_plogp = 0, p_tail = 0;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
    const double lp = static_cast<double>(x[i]) - lse;
    const double plogp = exp(lp) * lp;
    neg_entropy += plogp;
    const float xi = x[i] + 0.0f;
    // ranked after the K-th (logit desc, id asc): in the tail
    if (k < n_vocab && (lk > xi || (lk == xi && idk < static_cast<std::int32_t>(i)))) {
      tail_plogp += plogp;
      p_tail += exp(lp);
    }
  }
  neg_entropy = block_reduce(neg_entropy, s_sum, add);
  tail_plogp = block_reduce(tail_plogp, s_sum, add);
  p_tail = block_reduce(p_tail, s_sum, add);
  if (threadIdx.x == 0) {
    double* s = stats + r * 6;
    const double nan = bad ? NAN : 0.0;
    s[0] = lse + nan;
    s[1] = neg_entropy + nan;
    s[2] = tail_plogp + nan;
    s[3] = p_tail + nan;
    s[4] = lse - static_cast<double>(x[next[r]]) + nan;
    s[5] = exp(-s[4]);
    top1[r] = arg;
  }
}

}  // namespace

std::size_t compact_ref_rows_workspace_bytes(std::int64_t rows, std::int64_t n_vocab) {
  if (rows < 1 || n_vocab < 1) throw Error(fmt::format("compact_ref_rows: {} rows of {}", rows, n_vocab));
  return layout(rows, n_vocab).total;
}

void compact_ref_rows(const float* rows, std::int64_t stride, const std::int32_t* next, std::int64_t n_rows,
                      std::int64_t k, std::int64_t n_vocab, void* workspace, std::size_t workspace_bytes,
                      std::int32_t* topk_ids, float* topk_logits, double* stats, std::int32_t* top1, cudaStream_t stream) {
  if (n_rows < 0 || n_vocab <= 0 || n_vocab > INT32_MAX || k < 1 || k > n_vocab || stride < n_vocab)
    throw Error(fmt::format("compact_ref_rows: bad shape rows={} k={} n_vocab={} stride {}", n_rows, k, n_vocab, stride));
  if (n_rows == 0) return;
  if (n_rows > 0x7fffffffLL) throw Error(fmt::format("compact_ref_rows: {} rows in one launch", n_rows));
  const Layout l = layout(n_rows, n_vocab);
  if (workspace == nullptr || workspace_bytes < l.total)
    throw Error(fmt::format("compact_ref_rows: workspace of {} bytes, {} needed", workspace_bytes, l.total));
  auto* base = static_cast<char*>(workspace);
  auto* keys_in = reinterpret_cast<float*>(base + l.keys_in);
  auto* keys_out = reinterpret_cast<float*>(base + l.keys_out);
  auto* vals_in = reinterpret_cast<std::int32_t*>(base + l.vals_in);
  auto* vals_out = reinterpret_cast<std::int32_t*>(base + l.vals_out);
  auto* offsets = reinterpret_cast<std::int64_t*>(base + l.offsets);
  pack_kernel<<<1024, kThreads, 0, stream>>>(rows, stride, n_rows, n_vocab, keys_in, vals_in, offsets);
  check_launch("compact_ref_rows (pack)");
  std::size_t temp_bytes = l.temp_bytes;
  QG_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairsDescending(
      base + l.temp, temp_bytes, keys_in, keys_out, vals_in, vals_out, n_rows * n_vocab, n_rows, offsets, offsets + 1,
      stream));
  stats_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(rows, stride, next, k, n_vocab, vals_out, topk_ids,
                                                                        topk_logits, stats, top1);
  check_launch("compact_ref_rows (stats)");
}

}  // namespace qg::cuda
