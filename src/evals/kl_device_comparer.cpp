#include "evals/kl_device_comparer.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "common/error.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/kl_kernels.cuh"

namespace qg {

namespace {

class DeviceComparer final : public KlRowComparer {
 public:
  bool logits_on_device() const override { return true; }

  void begin_chunk(std::int64_t n_scored, std::int64_t n_vocab) override {
    n_vocab_ = n_vocab;
    const auto bytes = static_cast<std::size_t>(n_scored * n_vocab) * 4;
    if (rows_.bytes() < bytes) {
      rows_ = cuda::DeviceBuffer();  // free first: the two never need to coexist
      rows_ = cuda::DeviceBuffer(bytes, "KL reference rows (--ctx sets their size)");
    }
  }

  void keep_reference(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::int64_t n) override {
    require_device(lc);
    QG_CUDA_CHECK(cudaMemcpyAsync(rows_.as<float>() + row * n_vocab_, lc.device_logits + r0 * n_vocab_,
                                  static_cast<std::size_t>(n * n_vocab_) * 4, cudaMemcpyDeviceToDevice, stream(lc)));
    kept_on_ = stream(lc);
  }

  void wait_reference_kept() override {
    if (kept_on_ != nullptr) QG_CUDA_CHECK(cudaStreamSynchronize(kept_on_));
    kept_on_ = nullptr;
  }

  void keep_reference_host(const float* rows, std::int64_t row, std::int64_t n) override {
    QG_CUDA_CHECK(cudaMemcpy(rows_.as<float>() + row * n_vocab_, rows, static_cast<std::size_t>(n * n_vocab_) * 4,
                             cudaMemcpyHostToDevice));
    // A pageable-memory copy may return before its DMA lands; the engine's stream does not wait for the legacy
    // stream, so finish it here.
    QG_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void compare(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::span<const TokenId> next,
               std::vector<metrics::TokenKl>& out) override {
    require_device(lc);
    const auto n = static_cast<std::int64_t>(next.size());
    if (next_.bytes() < next.size() * 4) next_ = cuda::DeviceBuffer(next.size() * 4, "KL next tokens");
    if (results_.bytes() < next.size() * sizeof(cuda::TokenKlRow))
      results_ = cuda::DeviceBuffer(next.size() * sizeof(cuda::TokenKlRow), "KL results");
    for (TokenId t : next)
      if (t < 0 || t >= n_vocab_) throw Error(fmt::format("next token {} outside the vocabulary ({})", t, n_vocab_));
    cudaStream_t s = stream(lc);
    QG_CUDA_CHECK(cudaMemcpyAsync(next_.get(), next.data(), next.size() * 4, cudaMemcpyHostToDevice, s));
    cuda::token_kl_rows(rows_.as<float>() + row * n_vocab_, n_vocab_, lc.device_logits + r0 * n_vocab_, n_vocab_,
                        next_.as<std::int32_t>(), n, n_vocab_, results_.as<cuda::TokenKlRow>(), s);
    host_.resize(next.size());
    QG_CUDA_CHECK(cudaMemcpyAsync(host_.data(), results_.get(), host_.size() * sizeof(cuda::TokenKlRow),
                                  cudaMemcpyDeviceToHost, s));
    QG_CUDA_CHECK(cudaStreamSynchronize(s));
    out.resize(next.size());
    for (std::size_t i = 0; i < host_.size(); ++i) {
      const cuda::TokenKlRow& h = host_[i];
      out[i] = metrics::TokenKl{h.kl, h.kl_reverse, h.nll_ref, h.nll_cand, h.p_ref, h.p_cand, h.top1_ref, h.top1_cand};
    }
  }

 private:
  static void require_device(const LogitsChunk& lc) {
    if (lc.device_logits == nullptr)
      throw Error("the GPU KL comparer got host logits: both models must run on the same CUDA engine device");
  }
  static cudaStream_t stream(const LogitsChunk& lc) { return static_cast<cudaStream_t>(lc.cuda_stream); }

  std::int64_t n_vocab_ = 0;
  cudaStream_t kept_on_ = nullptr;  // the stream of the last keep_reference copies
  cuda::DeviceBuffer rows_, next_, results_;
  std::vector<cuda::TokenKlRow> host_;
};

}  // namespace

std::unique_ptr<KlRowComparer> device_kl_comparer() { return std::make_unique<DeviceComparer>(); }

bool device_has_room_for_kl_rows(std::size_t bytes) {
  std::size_t free_bytes = 0, total = 0;
  QG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return free_bytes >= bytes + kKlRowsHeadroomBytes;
}

}  // namespace qg
