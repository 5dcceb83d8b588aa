#pragma once
// Block-wide reductions shared by the KL kernels (kl_kernels.cu, kl_compact_kernels.cu,
// kl_compact_ref_kernels.cu): a fixed-order tree over shared memory, so a row's sums are the same bits run
// to run, and an arg-max that prefers the lower index on ties (the host references' top-1 rule).
#include <cstdint>

namespace qg::cuda::kl_detail {

struct MaxArg {
  float value;
  std::int32_t index;
};

__device__ inline MaxArg better(MaxArg a, MaxArg b) {  // larger value; lower index on ties
  if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
  return a;
}

// Every thread of a kThreads-thread block passes v; all get op folded over the block. `shared` holds kThreads.
template <int kThreads, typename T, typename Op>
__device__ T block_reduce(T v, T* shared, Op op) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) shared[threadIdx.x] = op(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  const T out = shared[0];
  __syncthreads();
  return out;
}

}  // namespace qg::cuda::kl_detail
