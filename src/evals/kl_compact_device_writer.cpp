#include "evals/kl_compact_device_writer.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "common/error.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/kl_compact_ref_kernels.cuh"

namespace qg {

bool write_kl_compact_cache_device(Forward& ref, const KlChunkPlan& plan, KlCompactCacheWriter& writer,
                                   const std::function<bool()>& should_stop,
                                   const std::function<void(std::size_t, std::size_t)>& progress) {
  const std::int64_t n_vocab = ref.config().n_vocab, k = writer.k();
  const ScoreOptions options{.chunk_rows = 64, .first_logit_row = plan.first_scored_row, .logits_on_device = true};
  cuda::DeviceBuffer workspace, next_d, ids_d, logits_d, stats_d, top1_d;
  std::int64_t capacity = 0;  // rows the buffers hold
  std::vector<std::int32_t> ids, top1;
  std::vector<float> logits;
  std::vector<double> stats;
  for (std::size_t ci = 0; ci < plan.chunks.size(); ++ci) {
    if (should_stop && should_stop()) return false;
    const auto& chunk = plan.chunks[ci];
    check_tokens(ref.config(), chunk, 0, fmt::format("chunk {}", ci));
    ref.score(TokenSpan(chunk), [&](const LogitsChunk& lc) {
      std::int64_t r0 = 0, row = 0;
      const std::int64_t n = scored_rows(plan, lc, &r0, &row);
      if (n == 0) return;
      if (lc.device_logits == nullptr)
        throw Error("the GPU reference cache writer got host logits: the reference must run on the CUDA engine");
      if (n > capacity) {
        capacity = n;
        const auto rows = static_cast<std::size_t>(n);
        workspace = cuda::DeviceBuffer();  // free before the larger one
        workspace = cuda::DeviceBuffer(cuda::compact_ref_rows_workspace_bytes(n, n_vocab), "reference cache top-K sort");
        next_d = cuda::DeviceBuffer(rows * 4, "reference cache next ids");
        ids_d = cuda::DeviceBuffer(rows * static_cast<std::size_t>(k) * 4, "reference cache top-K ids");
        logits_d = cuda::DeviceBuffer(rows * static_cast<std::size_t>(k) * 4, "reference cache top-K logits");
        stats_d = cuda::DeviceBuffer(rows * metrics::kCompactScalarCount * 8, "reference cache row stats");
        top1_d = cuda::DeviceBuffer(rows * 4, "reference cache top-1");
      }
      const auto rows = static_cast<std::size_t>(n);
      ids.resize(rows * static_cast<std::size_t>(k));
      logits.resize(ids.size());
      stats.resize(rows * metrics::kCompactScalarCount);
      top1.resize(rows);
      const std::vector<std::int32_t> next(chunk.begin() + plan.first_scored_row + row + 1,
                                           chunk.begin() + plan.first_scored_row + row + 1 + n);
      auto s = static_cast<cudaStream_t>(lc.cuda_stream);
      QG_CUDA_CHECK(cudaMemcpyAsync(next_d.get(), next.data(), rows * 4, cudaMemcpyHostToDevice, s));
      cuda::compact_ref_rows(lc.device_logits + r0 * n_vocab, n_vocab, next_d.as<std::int32_t>(), n, k, n_vocab,
                             workspace.get(), workspace.bytes(), ids_d.as<std::int32_t>(), logits_d.as<float>(),
                             stats_d.as<double>(), top1_d.as<std::int32_t>(), s);
      QG_CUDA_CHECK(cudaMemcpyAsync(ids.data(), ids_d.get(), ids.size() * 4, cudaMemcpyDeviceToHost, s));
      QG_CUDA_CHECK(cudaMemcpyAsync(logits.data(), logits_d.get(), logits.size() * 4, cudaMemcpyDeviceToHost, s));
      QG_CUDA_CHECK(cudaMemcpyAsync(stats.data(), stats_d.get(), stats.size() * 8, cudaMemcpyDeviceToHost, s));
      QG_CUDA_CHECK(cudaMemcpyAsync(top1.data(), top1_d.get(), top1.size() * 4, cudaMemcpyDeviceToHost, s));
      QG_CUDA_CHECK(cudaStreamSynchronize(s));
      writer.add_compact_rows(ci, row, n, ids.data(), logits.data(), stats.data(), top1.data());
    }, options);
    if (progress) progress(ci + 1, plan.chunks.size());
  }
  return true;
}

}  // namespace qg
