#pragma once
// run_kl's comparer for a candidate on the CUDA engine against a compact reference cache: each chunk's compact rows
// (8K + 52 bytes a token) are copied to the GPU once, candidate rows are compared where the engine left them
// (kernels/kl_compact_kernels.cuh) and 72 bytes a token come back. Equal to the host CompactKlComparer
// (metrics::token_kl_compact) up to the order of the double sums (tests/evals/kl_compact_device_test.cpp).
// CUDA builds only.
#include <memory>

#include "evals/kl_compact_cache.h"

namespace qg {

std::unique_ptr<CompactRowComparer> device_compact_kl_comparer(const KlCompactCache& cache, metrics::KlTailMethod method);

}  // namespace qg
