#pragma once
// run_kl's comparer for two CUDA engines on one GPU: the reference's scored rows of a chunk are kept in GPU
// memory ([n_scored, n_vocab] fp32: 1 GiB at --ctx 2048 for a 262144 vocabulary) and each candidate logits
// chunk is compared where the engine left it (kernels/kl_kernels.cuh); only the per-token results
// (64 bytes a token) come back to the host. Equal to the host comparer's metrics::token_kl_ref up to the order
// of the double sums (tests/kernels/kl_test.cpp).
#include <cstddef>
#include <memory>

#include "evals/kl_eval.h"

namespace qg {

std::unique_ptr<KlRowComparer> device_kl_comparer();

// What a GPU must keep free beside the KL comparers' rows: the comparers' small buffers, cuBLAS's lazily made
// handles, the allocator's rounding and another process's growth.
constexpr std::size_t kKlRowsHeadroomBytes = std::size_t{1} << 30;
// Whether the current device has `bytes` free plus that headroom (cudaMemGetInfo).
bool device_has_room_for_kl_rows(std::size_t bytes);

}  // namespace qg
