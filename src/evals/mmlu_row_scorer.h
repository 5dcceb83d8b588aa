#pragma once
// How run_mmlu turns the logits rows it is handed into choice log-probabilities: on the host from host rows, or
// (evals/mmlu_device_scorer.h, CUDA builds) on the GPU where the engine left them, so only a few doubles per row
// come back instead of a [rows, n_vocab] fp32 copy (1 MiB a row at Gemma's vocabulary). Both compute
// log_softmax(row)[id] with the row's normalizer computed once per row and summed in double
// (metrics/log_prob.h); they differ only in the order of that sum.
#include <cstdint>
#include <memory>
#include <span>

#include "forward/forward.h"

namespace qg::evals {

class MmluRowScorer {
 public:
  static constexpr int kMaxTargets = 4;  // the four single-token choices of one row
  virtual ~MmluRowScorer() = default;
  // What to ask the engine for (ScoreOptions::logits_on_device).
  virtual bool logits_on_device() const = 0;
  // For rows [r0, r0 + n) of `chunk`: out[i * n_targets + k] = log_softmax(row r0 + i)[targets[i * n_targets + k]],
  // 1 <= n_targets <= kMaxTargets. Throws qg::Error for bad sizes, a row range outside the chunk, a target
  // outside [0, n_vocab), or a chunk on the wrong side (host rows for the device scorer and vice versa).
  virtual void log_probs(const LogitsChunk& chunk, std::int64_t r0, std::int64_t n, std::span<const TokenId> targets,
                         int n_targets, std::span<double> out) = 0;
};

std::unique_ptr<MmluRowScorer> host_mmlu_row_scorer();

// The argument checks both scorers share (the message names `who`).
void check_row_scorer_args(const LogitsChunk& chunk, std::int64_t r0, std::int64_t n, std::span<const TokenId> targets,
                           int n_targets, std::span<double> out, const char* who);

}  // namespace qg::evals
