// One 256-thread block per candidate row; see kl_compact_kernels.cuh. The combination at the end is
// metrics::token_kl_compact's, line for line.
#include "kernels/kl_compact_kernels.cuh"

#include <fmt/format.h>

#include <cmath>

#include "common/error.h"
#include "kernels/device_buffer.h"
#include "kernels/kl_block_reduce.cuh"

namespace qg::cuda {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxVocab = 352256;  // 43 KiB of bitmap + 4 KiB static: under the 48 KiB default limit

// The shared block reductions (kernels/kl_block_reduce.cuh) at this file's block size.
using kl_detail::better;
using kl_detail::MaxArg;
template <typename T, typename Op>
__device__ T block_reduce(T v, T* shared, Op op) {
  return kl_detail::block_reduce<kThreads>(v, shared, op);
}

__global__ void __launch_bounds__(kThreads)
    compact_kl_kernel(const float* __restrict__ cand, std::int64_t cand_stride, const std::int32_t* __restrict__ topk_ids,
                      const float* __restrict__ topk_logits, const double* __restrict__ stats,
                      const std::int32_t* __restrict__ next, std::int64_t k, std::int64_t n_vocab, int method,
                      CompactKlRow* __restrict__ out) {
  extern __shared__ std::uint32_t bits[];  // (n_vocab + 31) / 32 words
  __shared__ MaxArg s_arg[kThreads];
  __shared__ double s_sum[kThreads];
  const std::int64_t row = blockIdx.x;
  const float* c = cand + row * cand_stride;
  const std::int32_t* ids = topk_ids + row * k;
  const float* lg = topk_logits + row * k;
  const double* st = stats + row * 6;
  const std::int64_t words = (n_vocab + 31) / 32;

  for (std::int64_t w = threadIdx.x; w < words; w += kThreads) bits[w] = 0;
  __syncthreads();
  for (std::int64_t j = threadIdx.x; j < k; j += kThreads) {
    const std::int32_t id = ids[j];
    atomicOr(&bits[id >> 5], 1u << (id & 31));
  }

  MaxArg mc{-INFINITY, 0};
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) mc = better(mc, MaxArg{c[i], static_cast<std::int32_t>(i)});
  mc = block_reduce(mc, s_arg, [](MaxArg a, MaxArg b) { return better(a, b); });  // also orders the bitmap writes
  const double max_c = mc.value;
  auto add = [](double a, double b) { return a + b; };
  double sc = 0;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) sc += exp(static_cast<double>(c[i]) - max_c);
  sc = block_reduce(sc, s_sum, add);
  const double lse_c = max_c + log(sc);
  const double lse_r = st[0], tail_plogp = st[2], p_tail = st[3];

  // the candidate's tail: ids outside the reference's top-K
  double q_tail = 0, s_tail = 0, min_lq = INFINITY;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
    if ((bits[i >> 5] >> (i & 31)) & 1u) continue;
    const double lq = static_cast<double>(c[i]) - lse_c;
    const double q = exp(lq);
    q_tail += q;
    s_tail += q * lq;
    min_lq = fmin(min_lq, lq);
  }
  q_tail = block_reduce(q_tail, s_sum, add);
  s_tail = block_reduce(s_tail, s_sum, add);
  min_lq = block_reduce(min_lq, s_sum, [](double a, double b) { return fmin(a, b); });

  // the exact part over the top-K
  double kl_top = 0, rev_top = 0, p_top = 0, q_top = 0;
  for (std::int64_t j = threadIdx.x; j < k; j += kThreads) {
    const double lp = static_cast<double>(lg[j]) - lse_r;
    const double lq = static_cast<double>(c[ids[j]]) - lse_c;
    const double d = lp - lq;
    kl_top += exp(lp) * d;
    rev_top -= exp(lq) * d;
    p_top += exp(lp);
    q_top += exp(lq);
  }
  kl_top = block_reduce(kl_top, s_sum, add);
  rev_top = block_reduce(rev_top, s_sum, add);
  p_top = block_reduce(p_top, s_sum, add);
  q_top = block_reduce(q_top, s_sum, add);

  if (threadIdx.x == 0) {
    double kl_tail = 0, rev_tail = 0, lower = 0, upper = 0;
    if (k < n_vocab && p_tail > 0) {
      lower = p_tail * log(p_tail / q_tail);
      upper = tail_plogp - p_tail * min_lq;
      if (method == 1) {
        kl_tail = lower;
      } else if (method == 2) {
        const double conditional = (kl_top - p_top * log(p_top / q_top)) / p_top;
        kl_tail = fmin(fmax(lower + p_tail * fmax(0.0, conditional), lower), fmax(lower, upper));
      } else {
        const double proportional = tail_plogp - p_tail / q_tail * s_tail;
        kl_tail = fmin(fmax(proportional, lower), fmax(lower, upper));
      }
      rev_tail = q_tail * log(q_tail / p_tail);
    }
    CompactKlRow o;
    o.kl = kl_top + kl_tail;
    o.kl_reverse = rev_top + rev_tail;
    o.nll_cand = lse_c - static_cast<double>(c[next[row]]);
    o.p_cand = exp(-o.nll_cand);
    o.q_tail = q_tail;
    o.kl_lower = kl_top + lower;
    o.kl_upper = kl_top + fmax(lower, upper);
    o.top1_cand = mc.index;
    o.pad = 0;
    out[row] = o;
  }
}

}  // namespace

void compact_kl_rows(const float* cand, std::int64_t cand_stride, const std::int32_t* topk_ids, const float* topk_logits,
                     const double* stats, const std::int32_t* next, std::int64_t rows, std::int64_t k,
                     std::int64_t n_vocab, int method, CompactKlRow* out, cudaStream_t stream) {
  if (rows < 0 || n_vocab <= 0 || n_vocab > kMaxVocab || k < 1 || k > n_vocab || cand_stride < n_vocab ||
      method < 0 || method > 2)
    throw Error(fmt::format("compact_kl_rows: bad shape rows={} k={} n_vocab={} (at most {}) stride {} method {}", rows,
                            k, n_vocab, kMaxVocab, cand_stride, method));
  if (rows == 0) return;
  if (rows > 0x7fffffffLL) throw Error(fmt::format("compact_kl_rows: {} rows in one launch", rows));
  if (cand == nullptr || topk_ids == nullptr || topk_logits == nullptr || stats == nullptr || next == nullptr ||
      out == nullptr)
    throw Error("compact_kl_rows: null pointer");
  const auto shared = static_cast<std::size_t>((n_vocab + 31) / 32) * 4;
  compact_kl_kernel<<<static_cast<unsigned>(rows), kThreads, shared, stream>>>(cand, cand_stride, topk_ids, topk_logits,
                                                                               stats, next, k, n_vocab, method, out);
  check_launch("compact_kl_rows");
}

}  // namespace qg::cuda
