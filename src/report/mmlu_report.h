#pragma once
// `quantgate mmlu` results: the JSON (source of truth; provenance added by the caller) and the human table.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evals/mmlu_eval.h"
#include "metrics/mmlu_score.h"

namespace qg::report {

struct MmluModelRun {
  std::string model_dir;
  std::string device;
  std::vector<metrics::MmluQuestionScore> scores;
  metrics::MmluAccuracy accuracy;
  evals::MmluEvalStats stats;
};

struct MmluRunSettings {
  int shots = 5;
  bool chat = false;
  bool fewshot_as_multiturn = false;
  std::string bos_rule;
  std::string tokenizer;
  std::string data_dir;
  std::vector<std::string> subjects;  // empty: all
  std::size_t limit = 0;
  double min_recovery = 0.99;
};

struct MmluResults {
  MmluRunSettings settings;
  MmluModelRun cand;
  std::optional<MmluModelRun> ref;
  std::optional<metrics::MmluRecovery> recovery;
  bool pass = true;  // recovery's point estimate >= min_recovery (true without --ref)
  bool partial = false;              // interrupted: only the first questions_scored of questions_selected
  std::size_t questions_selected = 0;
};

nlohmann::json mmlu_results_json(const MmluResults& results);
// Per-group and overall table, recovery line and verdict (plain text / markdown).
std::string mmlu_results_text(const MmluResults& results);
// One JSON line per question: subject, index, gold, loglik[4], pred, correct (and the model).
std::string mmlu_scores_jsonl(const MmluModelRun& run);

}  // namespace qg::report
