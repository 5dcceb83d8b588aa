#include "evals/kl_compact_device_writer.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "common/error.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/kl_compact_ref_kernels.cuh"

namespace qg {

struct DeviceCompactRowSink::Buffers {
  cuda::DeviceBuffer workspace, next, ids, logits, stats, top1;
  std::int64_t capacity = 0;  // rows the device buffers hold
  std::vector<std::int32_t> h_ids, h_top1;
  std::vector<float> h_logits;
  std::vector<double> h_stats;
};

DeviceCompactRowSink::DeviceCompactRowSink(KlCompactCacheWriter& writer)
    : writer_(writer), b_(std::make_unique<Buffers>()) {}
DeviceCompactRowSink::~DeviceCompactRowSink() = default;

void DeviceCompactRowSink::add(std::size_t index, const LogitsChunk& lc, std::int64_t r0, std::int64_t row,
                               std::span<const TokenId> next) {
  const auto n = static_cast<std::int64_t>(next.size());
  if (n == 0) return;
  if (lc.device_logits == nullptr)
    throw Error("the GPU reference cache writer got host logits: the reference must run on the CUDA engine");
  const std::int64_t n_vocab = lc.n_vocab, k = writer_.k();
  Buffers& b = *b_;
  const auto rows = static_cast<std::size_t>(n), kk = static_cast<std::size_t>(k);
  if (n > b.capacity) {
    b.capacity = n;
    b.workspace = cuda::DeviceBuffer();  // free before the larger one
    b.workspace = cuda::DeviceBuffer(cuda::compact_ref_rows_workspace_bytes(n, n_vocab), "reference cache top-K sort");
    b.next = cuda::DeviceBuffer(rows * 4, "reference cache next ids");
    b.ids = cuda::DeviceBuffer(rows * kk * 4, "reference cache top-K ids");
    b.logits = cuda::DeviceBuffer(rows * kk * 4, "reference cache top-K logits");
    b.stats = cuda::DeviceBuffer(rows * metrics::kCompactScalarCount * 8, "reference cache row stats");
    b.top1 = cuda::DeviceBuffer(rows * 4, "reference cache top-1");
  }
  b.h_ids.resize(rows * kk);
  b.h_logits.resize(rows * kk);
  b.h_stats.resize(rows * metrics::kCompactScalarCount);
  b.h_top1.resize(rows);
  auto s = static_cast<cudaStream_t>(lc.cuda_stream);
  QG_CUDA_CHECK(cudaMemcpyAsync(b.next.get(), next.data(), rows * 4, cudaMemcpyHostToDevice, s));
  cuda::compact_ref_rows(lc.device_logits + r0 * n_vocab, n_vocab, b.next.as<std::int32_t>(), n, k, n_vocab,
                         b.workspace.get(), b.workspace.bytes(), b.ids.as<std::int32_t>(), b.logits.as<float>(),
                         b.stats.as<double>(), b.top1.as<std::int32_t>(), s);
  QG_CUDA_CHECK(cudaMemcpyAsync(b.h_ids.data(), b.ids.get(), b.h_ids.size() * 4, cudaMemcpyDeviceToHost, s));
  QG_CUDA_CHECK(cudaMemcpyAsync(b.h_logits.data(), b.logits.get(), b.h_logits.size() * 4, cudaMemcpyDeviceToHost, s));
  QG_CUDA_CHECK(cudaMemcpyAsync(b.h_stats.data(), b.stats.get(), b.h_stats.size() * 8, cudaMemcpyDeviceToHost, s));
  QG_CUDA_CHECK(cudaMemcpyAsync(b.h_top1.data(), b.top1.get(), b.h_top1.size() * 4, cudaMemcpyDeviceToHost, s));
  // also keeps `next` (host, pageable) alive until its copy has landed
  QG_CUDA_CHECK(cudaStreamSynchronize(s));
  writer_.add_compact_rows(index, row, n, b.h_ids.data(), b.h_logits.data(), b.h_stats.data(), b.h_top1.data());
}

bool write_kl_compact_cache_device(Forward& ref, const KlChunkPlan& plan, KlCompactCacheWriter& writer,
                                   const std::function<bool()>& should_stop,
                                   const std::function<void(std::size_t, std::size_t)>& progress) {
  const ScoreOptions options{.chunk_rows = 64, .first_logit_row = plan.first_scored_row, .logits_on_device = true};
  DeviceCompactRowSink sink(writer);
  for (std::size_t ci = 0; ci < plan.chunks.size(); ++ci) {
    if (should_stop && should_stop()) return false;
    const auto& chunk = plan.chunks[ci];
    check_tokens(ref.config(), chunk, 0, fmt::format("chunk {}", ci));
    ref.score(TokenSpan(chunk), [&](const LogitsChunk& lc) {
      std::int64_t r0 = 0, row = 0;
      const std::int64_t n = scored_rows(plan, lc, &r0, &row);
      if (n == 0) return;
      sink.add(ci, lc, r0, row,
               TokenSpan(chunk).subspan(static_cast<std::size_t>(plan.first_scored_row + row + 1), static_cast<std::size_t>(n)));
    }, options);
    if (progress) progress(ci + 1, plan.chunks.size());
  }
  return true;
}

namespace {
// Forwards everything to the real (device) comparer and compacts the reference rows into the sink on the way.
class DeviceTeeComparer final : public ForwardingKlRowComparer {
 public:
  DeviceTeeComparer(KlRowComparer& inner, DeviceCompactRowSink& sink, std::size_t chunk_index,
                    const std::vector<TokenId>& chunk, std::int64_t first_scored_row)
      : ForwardingKlRowComparer(inner), sink_(sink), index_(chunk_index), chunk_(chunk), first_(first_scored_row) {}
  void keep_reference(const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::int64_t n) override {
    if (lc.device_logits == nullptr)
      throw Error("internal: the GPU reference cache writer needs the reference's logits on the GPU (device comparer)");
    sink_.add(index_, lc, r0, row,
              TokenSpan(chunk_).subspan(static_cast<std::size_t>(first_ + row + 1), static_cast<std::size_t>(n)));
    inner_.keep_reference(lc, r0, row, n);
  }
  void keep_reference_host(const float*, std::int64_t, std::int64_t) override {
    throw Error("internal: the GPU reference cache writer takes device rows only");
  }

 private:
  DeviceCompactRowSink& sink_;
  std::size_t index_;
  const std::vector<TokenId>& chunk_;
  std::int64_t first_;
};
}  // namespace

DeviceSavingKlReference::DeviceSavingKlReference(KlReference& inner, const KlChunkPlan& plan,
                                                 KlCompactCacheWriter& writer)
    : inner_(inner), plan_(plan), sink_(writer) {}
DeviceSavingKlReference::~DeviceSavingKlReference() = default;

void DeviceSavingKlReference::fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) {
  if (!comparer.logits_on_device())
    throw Error("internal: DeviceSavingKlReference needs a comparer that keeps the logits on the GPU");
  DeviceTeeComparer tee(comparer, sink_, index, chunk, plan_.first_scored_row);
  inner_.fill(index, chunk, tee);
}

}  // namespace qg
