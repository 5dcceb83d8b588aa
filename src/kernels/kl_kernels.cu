// One 256-thread block per row pair, three passes over the two rows (they stay in L2 between passes):
// max/argmax, sums of exp in double, then the KL terms in double. Reductions go through shared memory in a
// fixed tree order, so results do not depend on scheduling.
#include "kernels/kl_kernels.cuh"

#include <fmt/format.h>

#include <cmath>

#include "common/error.h"
#include "kernels/device_buffer.h"
#include "kernels/kl_block_reduce.cuh"

namespace qg::cuda {

namespace {

constexpr int kThreads = 256;

// The shared block reductions (kernels/kl_block_reduce.cuh) at this file's block size.
using kl_detail::better;
using kl_detail::MaxArg;
template <typename T, typename Op>
__device__ T block_reduce(T v, T* shared, Op op) {
  return kl_detail::block_reduce<kThreads>(v, shared, op);
}

__global__ void __launch_bounds__(kThreads)
    token_kl_kernel(const float* __restrict__ ref, std::int64_t ref_stride, const float* __restrict__ cand,
                    std::int64_t cand_stride, const std::int32_t* __restrict__ next, std::int64_t n_vocab,
                    TokenKlRow* __restrict__ out) {
  __shared__ MaxArg s_arg[kThreads];
  __shared__ double s_sum[kThreads];
  const std::int64_t row = blockIdx.x;
  const float* r = ref + row * ref_stride;
  const float* c = cand + row * cand_stride;

  MaxArg mr{-INFINITY, 0}, mc{-INFINITY, 0};
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
    mr = better(mr, MaxArg{r[i], static_cast<std::int32_t>(i)});
    mc = better(mc, MaxArg{c[i], static_cast<std::int32_t>(i)});
  }
  auto pick = [](MaxArg a, MaxArg b) { return better(a, b); };
  mr = block_reduce(mr, s_arg, pick);
  mc = block_reduce(mc, s_arg, pick);

  const double max_r = mr.value, max_c = mc.value;
  double sr = 0, sc = 0;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
    sr += exp(static_cast<double>(r[i]) - max_r);
    sc += exp(static_cast<double>(c[i]) - max_c);
  }
  auto add = [](double a, double b) { return a + b; };
  sr = block_reduce(sr, s_sum, add);
  sc = block_reduce(sc, s_sum, add);
  const double lse_r = max_r + log(sr), lse_c = max_c + log(sc);

  double kl = 0, kl_rev = 0;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
    const double lp = static_cast<double>(r[i]) - lse_r;
    const double lq = static_cast<double>(c[i]) - lse_c;
    const double d = lp - lq;
    kl += exp(lp) * d;
    kl_rev -= exp(lq) * d;
  }
  kl = block_reduce(kl, s_sum, add);
  kl_rev = block_reduce(kl_rev, s_sum, add);

  if (threadIdx.x == 0) {
    const std::int32_t t = next[row];
    TokenKlRow o;
    o.kl = kl;
    o.kl_reverse = kl_rev;
    o.nll_ref = lse_r - static_cast<double>(r[t]);
    o.nll_cand = lse_c - static_cast<double>(c[t]);
    o.p_ref = exp(-o.nll_ref);
    o.p_cand = exp(-o.nll_cand);
    o.top1_ref = mr.index;
    o.top1_cand = mc.index;
    out[row] = o;
  }
}

}  // namespace

void token_kl_rows(const float* ref, std::int64_t ref_stride, const float* cand, std::int64_t cand_stride,
                   const std::int32_t* next, std::int64_t rows, std::int64_t n_vocab, TokenKlRow* out,
                   cudaStream_t stream) {
  if (rows < 0 || n_vocab <= 0 || n_vocab > INT32_MAX || ref_stride < n_vocab || cand_stride < n_vocab)
    throw Error(fmt::format("token_kl_rows: bad shape rows={} n_vocab={} strides {} {}", rows, n_vocab, ref_stride,
                            cand_stride));
  if (rows == 0) return;
  if (rows > 0x7fffffffLL) throw Error(fmt::format("token_kl_rows: {} rows in one launch", rows));
  if (ref == nullptr || cand == nullptr || next == nullptr || out == nullptr) throw Error("token_kl_rows: null pointer");
  token_kl_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(ref, ref_stride, cand, cand_stride, next,
                                                                          n_vocab, out);
  check_launch("token_kl_rows");
}

}  // namespace qg::cuda
