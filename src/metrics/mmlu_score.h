#pragma once
// MMLU scoring as lm-eval does it (shared/docs/mmlu-lm-eval.md sections 5-6): pred = argmax of the four
// choice log-likelihoods (ties go to the lowest index, as np.argmax), acc per subject with
// stderr sqrt(p(1-p)/(n-1)); groups and the overall `mmlu` aggregate their leaf subjects weighted by size
// (micro: correct / questions) with lm-eval's pooled stderr sqrt(sum n_i p_i (1-p_i) / ((N-K) N)).
// Macro (mean of subject accuracies) is reported beside it, never as the headline.
// Recovery = acc_cand / acc_ref with a paired bootstrap CI over questions (seeded, reproducible), answer
// flips and an exact McNemar p-value.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace qg::metrics {

struct MmluQuestionScore {
  std::string subject;
  std::size_t index = 0;
  int gold = 0;
  std::array<double, 4> loglik{};  // sum of log-probabilities of each continuation's tokens
  int pred = 0;
  bool correct = false;
};

// np.argmax: the first maximum. NaN counts as smaller than everything (a NaN row predicts the first finite max).
int mmlu_argmax(const std::array<double, 4>& loglik);
// Fills pred and correct from loglik and gold.
void mmlu_finish(MmluQuestionScore& score);

struct AccuracyStat {
  std::size_t n = 0, correct = 0, n_subjects = 0;
  double acc = 0;
  double stderr_acc = 0;  // NaN when undefined (n < 2, or N == K for a group)
};

struct MmluAccuracy {
  std::map<std::string, AccuracyStat> subjects;
  std::map<std::string, AccuracyStat> groups;  // stem, humanities, social_sciences, other (present ones)
  AccuracyStat overall;                        // lm-eval's `mmlu`: micro over leaf subjects
  double macro = 0;                            // mean of subject accuracies
  double macro_stderr = 0;                     // sample std of subject accuracies / sqrt(K) (NaN if K < 2)
};

// `subject_group`: subject -> group; a subject missing from it is a qg::Error.
MmluAccuracy aggregate_mmlu(std::span<const MmluQuestionScore> scores, const std::map<std::string, std::string>& subject_group);

struct MmluRecovery {
  double acc_ref = 0, acc_cand = 0;
  double recovery = 0;                 // acc_cand / acc_ref (NaN when acc_ref == 0)
  double ci_low = 0, ci_high = 0;      // percentile bootstrap, `level`
  double level = 0.95;
  std::size_t n = 0;
  std::size_t right_to_wrong = 0, wrong_to_right = 0;  // ref right & cand wrong, and the reverse
  double mcnemar_p = 1;                // exact two-sided binomial test on the flips
  int iterations = 0;
  std::uint64_t seed = 0;
  std::size_t skipped_resamples = 0;   // resamples with acc_ref == 0 (ratio undefined)
};

// `ref_correct[i]` and `cand_correct[i]` are the same question. Throws qg::Error on a size mismatch or empty input.
MmluRecovery mmlu_recovery(std::span<const bool> ref_correct, std::span<const bool> cand_correct, int iterations = 2000,
                           std::uint64_t seed = 1234, double level = 0.95);

// Exact two-sided McNemar (binomial) p-value for b and c discordant pairs.
double mcnemar_exact_p(std::size_t b, std::size_t c);

}  // namespace qg::metrics
