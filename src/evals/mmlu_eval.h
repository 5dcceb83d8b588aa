#pragma once
// The MMLU driver: scores every request's four continuations with a Forward.
//  - Prefix reuse: per subject, the token-level common prefix of all its contexts (the description and
//    the few-shot block, BOS included) is encoded once and its K/V reused for every question.
//  - Single-token choices (" A".." D" with Gemma's and most vocabularies): one forward per question
//    gives all four log-likelihoods from the last context row. Otherwise each choice is scored fully.
//  - Only the rows that are scored get logits (ScoreOptions::first_logit_rows: a question's last context row,
//    or a choice's continuation rows), and each row's logsumexp is computed once for all the ids read from it.
//  - Questions are sorted by length and scored many per call; a question's log-likelihoods do not depend
//    on the batch it lands in: both engines are batch-invariant (the CPU pass runs each sequence on its own; the
//    CUDA engine pins its GEMM algorithms and never cuts a sequence differently, see cuda_forward.h). Tested
//    bit-for-bit at several batch sizes on both.
//  - Left truncation as lm-eval: input = (ctx + cont)[-(max_len + 1):][:-1]; such questions are scored
//    without the reused prefix and counted.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "evals/mmlu_prompts.h"
#include "evals/mmlu_row_scorer.h"
#include "forward/forward.h"
#include "metrics/mmlu_score.h"

namespace qg::evals {

struct MmluEvalOptions {
  std::int64_t max_len = 0;       // 0: the model's max_position_embeddings
  std::size_t batch_size = 64;    // sequences per forward call (results do not depend on it)
  bool reuse_prefix = true;
  // Turns the handed logits rows into choice log-probabilities; null: on the host (host_mmlu_row_scorer).
  // open_mmlu_row_scorer (forward/open_forward.h) gives the GPU one for a CUDA engine, which then hands its
  // rows on the device.
  std::shared_ptr<MmluRowScorer> row_scorer;
  // Called after each batch with (questions done, total); may throw to stop.
  std::function<void(std::size_t, std::size_t)> progress;
  // Polled between subjects: true ends the run early with the subjects done so far (Ctrl-C in the CLI).
  std::function<bool()> should_stop;
};

struct MmluEvalStats {
  std::size_t questions = 0;
  std::size_t truncated = 0;          // questions whose input was cut on the left
  std::size_t truncated_tokens = 0;   // tokens dropped, summed over sequences
  std::size_t prefix_tokens_reused = 0;  // tokens not recomputed thanks to the shared prefixes
  std::size_t forward_tokens = 0;     // tokens run through the model (prefixes once)
  std::size_t sequences = 0;          // sequences scored
  bool single_token_choices = true;
  std::int64_t max_len = 0;
  double seconds = 0;
};

// Scores in the order of `requests`. When should_stop ends the run early, only the questions of the subjects
// finished so far are returned: a prefix of `requests`, which lists each subject's questions together (as
// build_mmlu_requests does; checked).
std::vector<metrics::MmluQuestionScore> run_mmlu(Forward& forward, std::span<const MmluRequest> requests,
                                                 const MmluEvalOptions& options = {}, MmluEvalStats* stats = nullptr);

// log_softmax(row)[token] in double (metrics::log_prob).
double log_prob(std::span<const float> row, TokenId token);

}  // namespace qg::evals
