#pragma once
// write_kl_compact_cache for a reference on the CUDA engine: the top-K and the row stats are computed where the
// engine leaves the logits (kernels/kl_compact_ref_kernels.cuh), so 8K + 52 bytes a token reach the host instead
// of the full row. Equal to the host writer (metrics::compact_ref_row) in ids, logits and top-1, and in the stats
// up to the order of the double sums (tests/evals/kl_compact_device_test.cpp). CUDA builds only.
#include <functional>

#include "evals/kl_compact_cache.h"

namespace qg {

// Returns false when should_stop ended it early (nothing written). Throws qg::Error when `ref` hands out host
// logits (not a CUDA engine).
bool write_kl_compact_cache_device(Forward& ref, const KlChunkPlan& plan, KlCompactCacheWriter& writer,
                                   const std::function<bool()>& should_stop = {},
                                   const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace qg
