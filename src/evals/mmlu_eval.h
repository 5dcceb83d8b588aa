#pragma once
// The MMLU driver: scores every request's four continuations with a Forward.
//  - Prefix reuse: per subject, the token-level common prefix of all its contexts (the description and
//    the few-shot block, BOS included) is encoded once and its K/V reused for every question.
//  - Single-token choices (" A".." D" with Gemma's and most vocabularies): one forward per question
//    gives all four log-likelihoods from the last context row. Otherwise each choice is scored fully.
//  - Questions are sorted by length and scored many per call; a question's log-likelihoods do not depend
//    on the batch it lands in (tested bit-for-bit on the CPU path).
//  - Left truncation as lm-eval: input = (ctx + cont)[-(max_len + 1):][:-1]; such questions are scored
//    without the reused prefix and counted.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "evals/mmlu_prompts.h"
#include "forward/forward.h"
#include "metrics/mmlu_score.h"

namespace qg::evals {

struct MmluEvalOptions {
  std::int64_t max_len = 0;       // 0: the model's max_position_embeddings
  std::size_t batch_size = 16;    // sequences per forward call (when !batch_invariant)
  bool reuse_prefix = true;
  // CpuForward's batched GEMMs round differently from one-sequence calls (~1e-7 relative), so by default
  // every sequence gets its own forward call and a question's log-likelihoods cannot depend on the batch.
  bool batch_invariant = true;
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

// log_softmax(row)[token] in double.
double log_prob(std::span<const float> row, TokenId token);

}  // namespace qg::evals
