#include "evals/kl_compact_device_comparer.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "common/error.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/kl_compact_kernels.cuh"

namespace qg {

namespace {

class DeviceCompactComparer final : public CompactRowComparer {
 public:
  DeviceCompactComparer(const KlCompactCache& cache, metrics::KlTailMethod method) : cache_(cache), method_(method) {}
  bool logits_on_device() const override { return true; }
  void begin_chunk(std::int64_t, std::int64_t n_vocab) override { n_vocab_ = n_vocab; }
  void keep_reference(const LogitsChunk&, std::int64_t, std::int64_t, std::int64_t) override {
    throw Error("internal: the compact-cache comparer takes its reference rows from the cache");
  }
  void keep_reference_host(const float*, std::int64_t, std::int64_t) override {
    throw Error("internal: the compact-cache comparer takes its reference rows from the cache");
  }

  void select_chunk(std::size_t index, const std::vector<TokenId>& chunk) override {
    chunk_ = cache_.chunk(index, chunk);  // checks the ids; views into the mmapped file
    auto up = [](cuda::DeviceBuffer& buf, const void* host, std::size_t bytes, const char* what) {
      if (buf.bytes() < bytes) {
        buf = cuda::DeviceBuffer();
        buf = cuda::DeviceBuffer(bytes, what);
      }
      buf.upload(host, bytes);  // synchronous: done before the engine's stream uses it
    };
    up(ids_, chunk_.topk_ids.data(), chunk_.topk_ids.size_bytes(), "compact KL top-K ids");
    up(logits_, chunk_.topk_logits.data(), chunk_.topk_logits.size_bytes(), "compact KL top-K logits");
    up(stats_rows_, chunk_.stats.data(), chunk_.stats.size_bytes(), "compact KL row stats");
    // A pageable-memory copy may return before its DMA lands; the engine's stream does not wait for the legacy
    // stream, so finish it here (as kl_device_comparer does).
    QG_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void compare(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::span<const TokenId> next,
               std::vector<metrics::TokenKl>& out) override {
    if (lc.device_logits == nullptr)
      throw Error("the GPU compact KL comparer got host logits: the candidate must run on the CUDA engine");
    const auto n = static_cast<std::int64_t>(next.size());
    for (TokenId t : next)
      if (t < 0 || t >= n_vocab_) throw Error(fmt::format("next token {} outside the vocabulary ({})", t, n_vocab_));
    if (next_.bytes() < next.size() * 4) next_ = cuda::DeviceBuffer(next.size() * 4, "compact KL next tokens");
    if (results_.bytes() < next.size() * sizeof(cuda::CompactKlRow))
      results_ = cuda::DeviceBuffer(next.size() * sizeof(cuda::CompactKlRow), "compact KL results");
    auto s = static_cast<cudaStream_t>(lc.cuda_stream);
    QG_CUDA_CHECK(cudaMemcpyAsync(next_.get(), next.data(), next.size() * 4, cudaMemcpyHostToDevice, s));
    const std::int64_t k = cache_.k();
    cuda::compact_kl_rows(lc.device_logits + r0 * n_vocab_, n_vocab_, ids_.as<std::int32_t>() + row * k,
                          logits_.as<float>() + row * k, stats_rows_.as<double>() + row * metrics::kCompactScalarCount,
                          next_.as<std::int32_t>(), n, k, n_vocab_, static_cast<int>(method_),
                          results_.as<cuda::CompactKlRow>(), s);
    host_.resize(next.size());
    QG_CUDA_CHECK(cudaMemcpyAsync(host_.data(), results_.get(), host_.size() * sizeof(cuda::CompactKlRow),
                                  cudaMemcpyDeviceToHost, s));
    QG_CUDA_CHECK(cudaStreamSynchronize(s));
    out.resize(next.size());
    for (std::size_t i = 0; i < host_.size(); ++i) {
      const cuda::CompactKlRow& h = host_[i];
      const metrics::CompactRefRow ref = chunk_.row(row + static_cast<std::int64_t>(i), k);
      out[i] = metrics::TokenKl{h.kl, h.kl_reverse, ref.s.nll, h.nll_cand, ref.s.p_next, h.p_cand, ref.s.top1, h.top1_cand};
      stats_.p_tail.add(ref.s.p_tail);
      stats_.q_tail.add(h.q_tail);
      stats_.kl_lower.add(h.kl_lower);
      stats_.kl_upper.add(h.kl_upper);
    }
  }

  const KlCompactRunStats& stats() const override { return stats_; }
  metrics::KlTailMethod method() const override { return method_; }

 private:
  const KlCompactCache& cache_;
  metrics::KlTailMethod method_;
  std::int64_t n_vocab_ = 0;
  KlCompactCache::Chunk chunk_;
  cuda::DeviceBuffer ids_, logits_, stats_rows_, next_, results_;
  std::vector<cuda::CompactKlRow> host_;
  KlCompactRunStats stats_;
};

}  // namespace

std::unique_ptr<CompactRowComparer> device_compact_kl_comparer(const KlCompactCache& cache, metrics::KlTailMethod method) {
  return std::make_unique<DeviceCompactComparer>(cache, method);
}

}  // namespace qg
