#include "evals/mmlu_device_scorer.h"

#include <cuda_runtime.h>

#include <vector>

#include "common/error.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/logprob_kernels.cuh"

namespace qg::evals {

namespace {

static_assert(MmluRowScorer::kMaxTargets == cuda::kMaxLogProbTargets);

class DeviceScorer final : public MmluRowScorer {
 public:
  bool logits_on_device() const override { return true; }

  void log_probs(const LogitsChunk& chunk, std::int64_t r0, std::int64_t n, std::span<const TokenId> targets,
                 int n_targets, std::span<double> out) override {
    check_row_scorer_args(chunk, r0, n, targets, n_targets, out, "GPU MMLU scorer");
    if (n == 0) return;
    if (chunk.device_logits == nullptr)
      throw Error("the GPU MMLU scorer got host logits: the model must run on the CUDA engine with logits on the device");
    const std::size_t count = targets.size();
    if (targets_.bytes() < count * 4) targets_ = cuda::DeviceBuffer(count * 4, "MMLU target ids");
    if (out_.bytes() < count * 8) out_ = cuda::DeviceBuffer(count * 8, "MMLU log-probabilities");
    auto s = static_cast<cudaStream_t>(chunk.cuda_stream);
    // Stream order: the ids land before the kernel reads them, the kernel finishes before the results come back,
    // and all of it before the engine's next head GEMM overwrites the rows.
    QG_CUDA_CHECK(cudaMemcpyAsync(targets_.get(), targets.data(), count * 4, cudaMemcpyHostToDevice, s));
    cuda::row_log_probs(chunk.device_logits + r0 * chunk.n_vocab, chunk.n_vocab, n, chunk.n_vocab,
                        targets_.as<std::int32_t>(), n_targets, out_.as<double>(), s);
    QG_CUDA_CHECK(cudaMemcpyAsync(out.data(), out_.get(), count * 8, cudaMemcpyDeviceToHost, s));
    QG_CUDA_CHECK(cudaStreamSynchronize(s));
  }

 private:
  cuda::DeviceBuffer targets_, out_;
};

}  // namespace

std::unique_ptr<MmluRowScorer> device_mmlu_row_scorer() { return std::make_unique<DeviceScorer>(); }

}  // namespace qg::evals
