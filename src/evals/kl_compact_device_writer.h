#pragma once
// write_kl_compact_cache for a reference on the CUDA engine: the top-K and the row stats are computed where the
// engine leaves the logits (kernels/kl_compact_ref_kernels.cuh), so 8K + 52 bytes a token reach the host instead
// of the full row. Equal to the host writer (metrics::compact_ref_row) in ids, logits and top-1, and in the stats
// up to the order of the double sums (tests/evals/kl_compact_device_test.cpp). CUDA builds only.
#include <functional>
#include <memory>
#include <span>

#include "evals/kl_compact_cache.h"

namespace qg {

// Returns false when should_stop ended it early (nothing written). Throws qg::Error when `ref` hands out host
// logits (not a CUDA engine).
bool write_kl_compact_cache_device(Forward& ref, const KlChunkPlan& plan, KlCompactCacheWriter& writer,
                                   const std::function<bool()>& should_stop = {},
                                   const std::function<void(std::size_t, std::size_t)>& progress = {});

// The compaction step both GPU paths share: reference rows a CUDA engine left in GPU memory -> compact rows on the
// GPU -> `writer`. Each row's result depends on that row only (one block per row, a per-row segmented sort), so
// how the rows are grouped into calls does not change a byte of the file.
class DeviceCompactRowSink {
 public:
  explicit DeviceCompactRowSink(KlCompactCacheWriter& writer);
  ~DeviceCompactRowSink();
  DeviceCompactRowSink(const DeviceCompactRowSink&) = delete;
  DeviceCompactRowSink& operator=(const DeviceCompactRowSink&) = delete;
  // Rows [r0, r0 + n) of `lc` (device logits) are scored rows [row, row + n) of chunk `index`; next[i] is the true
  // next token of row row + i (n = next.size()). Throws qg::Error for host logits.
  void add(std::size_t index, const LogitsChunk& lc, std::int64_t r0, std::int64_t row, std::span<const TokenId> next);

 private:
  struct Buffers;
  KlCompactCacheWriter& writer_;
  std::unique_ptr<Buffers> b_;
};

// `kl --save-ref-cache FILE --cand DIR` with both models on one GPU: wraps the live reference so that every
// reference row it hands to the (device) comparer is also compacted on the GPU into `writer`. The full rows never
// leave the GPU; the file is byte for byte what write_kl_compact_cache_device writes from the same reference
// (tests/evals/kl_compact_measure_device_test.cpp).
class DeviceSavingKlReference final : public KlReference {
 public:
  DeviceSavingKlReference(KlReference& inner, const KlChunkPlan& plan, KlCompactCacheWriter& writer);
  ~DeviceSavingKlReference() override;
  void fill(std::size_t index, const std::vector<TokenId>& chunk, KlRowComparer& comparer) override;

 private:
  KlReference& inner_;
  const KlChunkPlan& plan_;
  DeviceCompactRowSink sink_;
};

}  // namespace qg
