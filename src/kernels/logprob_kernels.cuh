#pragma once
// log_softmax(row)[id] for a few ids of logits rows already in GPU memory (MMLU's choice log-likelihoods), so
// `quantgate mmlu --device cuda` copies a few doubles per row to the host instead of the row (1 MiB at Gemma's
// 262,144 ids). The maths of metrics/log_prob.h, its host reference: max in fp32 (exact in any order), the
// exp sum in double, then row[id] - max - log(sum). One block per row; each thread sums a fixed strided
// subset and the block folds the partial sums in a fixed tree (kernels/kl_block_reduce.cuh), so the same row
// gives the same bits run to run. Only the order of the double sum differs from the host reference.
#include <cuda_runtime.h>

#include <cstdint>

namespace qg::cuda {

inline constexpr int kMaxLogProbTargets = 4;

// logits: `rows` rows of `n_vocab` fp32 at logits + r * stride (device); targets: [rows, n_targets] int32 ids
// (device), 1 <= n_targets <= kMaxLogProbTargets; out: [rows, n_targets] doubles (device),
// out[r * n_targets + k] = log_softmax(row r)[targets[r * n_targets + k]] (NaN for an id outside [0, n_vocab)).
// Throws qg::Error for bad sizes, a null pointer or a launch failure.
void row_log_probs(const float* logits, std::int64_t stride, std::int64_t rows, std::int64_t n_vocab,
                   const std::int32_t* targets, int n_targets, double* out, cudaStream_t stream);

}  // namespace qg::cuda
