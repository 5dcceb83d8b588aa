// One 1024-thread block per row, two passes over it (max, then the exp sum in double; the second pass reads
// the row from L2). A wide block because MMLU hands one row per question: the launch is latency-bound on a
// single SM, so more threads finish the 262,144 double exps sooner.
#include "kernels/logprob_kernels.cuh"

#include <fmt/format.h>

#include <cmath>

#include "common/error.h"
#include "kernels/device_buffer.h"
#include "kernels/kl_block_reduce.cuh"

namespace qg::cuda {

namespace {

constexpr int kThreads = 1024;

__global__ void __launch_bounds__(kThreads)
    row_log_probs_kernel(const float* __restrict__ logits, std::int64_t stride, std::int64_t n_vocab,
                         const std::int32_t* __restrict__ targets, int n_targets, double* __restrict__ out) {
  __shared__ float s_max[kThreads];
  __shared__ double s_sum[kThreads];
  const std::int64_t row = blockIdx.x;
  const float* r = logits + row * stride;

  // fmaxf ignores NaN as std::max(mx, v) does on the host (a NaN row entry still makes the sum NaN below).
  float mx = -INFINITY;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) mx = fmaxf(mx, r[i]);
  mx = kl_detail::block_reduce<kThreads>(mx, s_max, [](float a, float b) { return fmaxf(a, b); });

  const double max = mx;
  double sum = 0;
  for (std::int64_t i = threadIdx.x; i < n_vocab; i += kThreads) sum += exp(static_cast<double>(r[i]) - max);
  sum = kl_detail::block_reduce<kThreads>(sum, s_sum, [](double a, double b) { return a + b; });

  if (static_cast<int>(threadIdx.x) < n_targets) {
    const std::int32_t t = targets[row * n_targets + threadIdx.x];
    out[row * n_targets + threadIdx.x] =
        (t >= 0 && t < n_vocab) ? static_cast<double>(r[t]) - max - log(sum) : static_cast<double>(NAN);
  }
}

}  // namespace

void row_log_probs(const float* logits, std::int64_t stride, std::int64_t rows, std::int64_t n_vocab,
                   const std::int32_t* targets, int n_targets, double* out, cudaStream_t stream) {
  if (rows < 0 || n_vocab <= 0 || n_vocab > INT32_MAX || stride < n_vocab || n_targets < 1 ||
      n_targets > kMaxLogProbTargets)
    throw Error(fmt::format("row_log_probs: bad shape rows={} n_vocab={} stride={} n_targets={}", rows, n_vocab, stride,
                            n_targets));
  if (rows == 0) return;
  if (rows > 0x7fffffffLL) throw Error(fmt::format("row_log_probs: {} rows in one launch", rows));
  if (logits == nullptr || targets == nullptr || out == nullptr) throw Error("row_log_probs: null pointer");
  row_log_probs_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, stride, n_vocab, targets,
                                                                             n_targets, out);
  check_launch("row_log_probs");
}

}  // namespace qg::cuda
