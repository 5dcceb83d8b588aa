#pragma once
// run_kl's comparer for two CUDA engines on one GPU: the reference's scored rows of a chunk are kept in GPU
// memory ([n_scored, n_vocab] fp32: 1 GiB at --ctx 2048 for a 262144 vocabulary) and each candidate logits
// chunk is compared where the engine left it (kernels/kl_kernels.cuh); only the per-token results
// (64 bytes a token) come back to the host. Equal to the host comparer's metrics::token_kl_ref up to the order
// of the double sums (tests/kernels/kl_test.cpp).
#include <memory>

#include "evals/kl_eval.h"

namespace qg {

std::unique_ptr<KlRowComparer> device_kl_comparer();

}  // namespace qg
