// One 256-thread block per row pair, ONE pass over the two rows (they are read from memory once: 2 MiB a row pair
// at a 262k vocabulary, never reused from L2 across passes): each thread keeps, per row, an online softmax state
// (running max, sum of exp, and the exp-weighted sum of the logit difference, in double) and the arg-max; the
// block merges the states in a fixed tree order, so results do not depend on scheduling. With
//   S_r = sum exp(r_i - M_r),  A_r = sum exp(r_i - M_r) (r_i - c_i)    (and S_c, A_c with the roles swapped)
// KL(P||Q) = sum p_i (lp_i - lq_i) = A_r / S_r - lse_r + lse_c, and the reverse likewise: the same quantity as
// the three-pass form (max, sums of exp, sum of p (lp - lq)), with half its exp calls.
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

// One row's online softmax state: max and its (lowest) index, sum of exp(x - max), sum of exp(x - max) * d.
struct Online {
  float max;
  std::int32_t index;
  double sum, weighted;
};

__device__ inline void add(Online& o, float x, std::int32_t i, double d) {
  if (x > o.max) {  // a new maximum (strictly greater: ties keep the earlier, lower index of this thread)
    const double scale = o.max == -INFINITY ? 0.0 : exp(static_cast<double>(o.max) - static_cast<double>(x));
    o.sum = o.sum * scale + 1.0;
    o.weighted = o.weighted * scale + d;
    o.max = x;
    o.index = i;
  } else {
    const double e = exp(static_cast<double>(x) - static_cast<double>(o.max));
    o.sum += e;
    o.weighted += e * d;
  }
}

__device__ inline Online merge(const Online& a, const Online& b) {
  const MaxArg top = better(MaxArg{a.max, a.index}, MaxArg{b.max, b.index});
  auto weight = [&](float m) { return m == top.value ? 1.0 : exp(static_cast<double>(m) - static_cast<double>(top.value)); };
  const double wa = weight(a.max), wb = weight(b.max);
  return Online{top.value, top.index, a.sum * wa + b.sum * wb, a.weighted * wa + b.weighted * wb};
}

__global__ void __launch_bounds__(kThreads)
    token_kl_kernel(const float* __restrict__ ref, std::int64_t ref_stride, const float* __restrict__ cand,
                    std::int64_t cand_stride, const std::int32_t* __restrict__ next, std::int64_t n_vocab,
                    TokenKlRow* __restrict__ out) {
  __shared__ Online s_state[kThreads];
  const std::int64_t row = blockIdx.x;
  const float* r = ref + row * ref_stride;
  const float* c = cand + row * cand_stride;

  Online orf{-INFINITY, 0, 0.0, 0.0}, oc{-INFINITY, 0, 0.0, 0.0};
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
    const float x = r[i], y = c[i];
    const double d = static_cast<double>(x) - static_cast<double>(y);
    add(orf, x, static_cast<std::int32_t>(i), d);
    add(oc, y, static_cast<std::int32_t>(i), -d);
  }
  auto fold = [](const Online& a, const Online& b) { return merge(a, b); };
  orf = block_reduce(orf, s_state, fold);
  oc = block_reduce(oc, s_state, fold);

  if (threadIdx.x == 0) {
    const double lse_r = static_cast<double>(orf.max) + log(orf.sum);
    const double lse_c = static_cast<double>(oc.max) + log(oc.sum);
    const std::int32_t t = next[row];
    TokenKlRow o;
    o.kl = orf.weighted / orf.sum - lse_r + lse_c;
    o.kl_reverse = oc.weighted / oc.sum - lse_c + lse_r;
    o.nll_ref = lse_r - static_cast<double>(r[t]);
    o.nll_cand = lse_c - static_cast<double>(c[t]);
    o.p_ref = exp(-o.nll_ref);
    o.p_cand = exp(-o.nll_cand);
    o.top1_ref = orf.index;
    o.top1_cand = oc.index;
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
