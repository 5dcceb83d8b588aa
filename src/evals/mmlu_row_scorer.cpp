#include "evals/mmlu_row_scorer.h"

#include <fmt/format.h>

#include "common/error.h"
#include "metrics/log_prob.h"

namespace qg::evals {

void check_row_scorer_args(const LogitsChunk& chunk, std::int64_t r0, std::int64_t n, std::span<const TokenId> targets,
                           int n_targets, std::span<double> out, const char* who) {
  if (n_targets < 1 || n_targets > MmluRowScorer::kMaxTargets)
    throw Error(fmt::format("{}: {} targets per row (1 to {})", who, n_targets, MmluRowScorer::kMaxTargets));
  if (r0 < 0 || n < 0 || r0 + n > chunk.n_rows)
    throw Error(fmt::format("{}: rows [{}, {}) outside the chunk's {} rows", who, r0, r0 + n, chunk.n_rows));
  const auto want = static_cast<std::size_t>(n * n_targets);
  if (targets.size() != want || out.size() != want)
    throw Error(fmt::format("{}: {} targets and {} outputs for {} rows x {} (expected {} each)", who, targets.size(),
                            out.size(), n, n_targets, want));
  for (TokenId t : targets)
    if (t < 0 || t >= chunk.n_vocab)
      throw Error(fmt::format("{}: target id {} outside the vocabulary [0, {})", who, t, chunk.n_vocab));
}

namespace {

class HostScorer final : public MmluRowScorer {
 public:
  bool logits_on_device() const override { return false; }

  void log_probs(const LogitsChunk& chunk, std::int64_t r0, std::int64_t n, std::span<const TokenId> targets,
                 int n_targets, std::span<double> out) override {
    check_row_scorer_args(chunk, r0, n, targets, n_targets, out, "host MMLU scorer");
    if (n > 0 && chunk.logits.size() != static_cast<std::size_t>(chunk.n_rows * chunk.n_vocab))
      throw Error("the host MMLU scorer needs host logits (ScoreOptions::logits_on_device was set)");
    for (std::int64_t i = 0; i < n; ++i) {
      const std::span<const float> row = chunk.row(r0 + i);
      const metrics::RowLogNorm norm = metrics::row_log_norm(row);  // once per row, whatever the targets
      for (int k = 0; k < n_targets; ++k) {
        const auto at = static_cast<std::size_t>(i * n_targets + k);
        out[at] = metrics::log_prob(row, targets[at], norm);
      }
    }
  }
};

}  // namespace

std::unique_ptr<MmluRowScorer> host_mmlu_row_scorer() { return std::make_unique<HostScorer>(); }

}  // namespace qg::evals
