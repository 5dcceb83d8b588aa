#pragma once
// The MMLU prompts of the tokenizer goldens, rebuilt from ../shared/datasets/mmlu exactly as
// scripts/make_tokenizer_goldens.py builds them (lm-eval's format, shared/docs/mmlu-lm-eval.md section 2).
#include <filesystem>
#include <string>
#include <vector>

namespace qg::test {

// RFC 4180 records of an MMLU CSV (quoted fields keep CR and LF); each must have 6 fields.
std::vector<std::vector<std::string>> read_mmlu_csv(const std::filesystem::path& path);

// (name, prompt) in the script's order: per subject (sorted), test records 0..2 at k=0, record 0 at k=5,
// record 0 at k=0 + " " + gold; then golden_prompts*.jsonl contexts and context + gold continuation.
std::vector<std::pair<std::string, std::string>> mmlu_golden_cases(const std::filesystem::path& mmlu_dir);

}  // namespace qg::test
