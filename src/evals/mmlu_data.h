#pragma once
// MMLU in the original Hendrycks CSV layout (dev/, val/, test/ with <subject>_<split>.csv; records
// `question,A,B,C,D,letter`, RFC 4180 quoting, quoted fields keep LF and CR) plus categories.tsv, which maps
// each of the 57 subjects to lm-eval's group (stem, humanities, social_sciences, other).
// See shared/docs/mmlu-lm-eval.md section 1.
#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace qg::evals {

struct MmluRecord {
  std::string question;  // as in the file (not stripped)
  std::array<std::string, 4> choices;
  int answer = 0;         // 0..3 ("ABCD" index of the letter)
  std::size_t index = 0;  // 0-based record number in its file
};

struct MmluSubjectInfo {
  std::string subject;      // "abstract_algebra"
  std::string group;        // lm-eval group: stem | humanities | social_sciences | other
  std::string subcategory;  // Hendrycks' subcategory ("math")
  std::string hendrycks_category;
};

struct MmluSubject {
  MmluSubjectInfo info;
  std::vector<MmluRecord> dev, test;  // file order
};

struct MmluData {
  std::filesystem::path dir;
  std::vector<MmluSubject> subjects;  // in categories.tsv order (alphabetical)
  std::size_t n_test() const;
};

// RFC 4180 records of one CSV file. Throws qg::Error naming the file and the record (1-based) and line for
// an unterminated quote, a stray quote, or a record without exactly `n_fields` fields.
std::vector<std::vector<std::string>> read_csv_records(const std::filesystem::path& path, std::size_t n_fields);

// Records of an MMLU CSV; the letter must be A..D (else qg::Error naming file and record).
std::vector<MmluRecord> read_mmlu_csv(const std::filesystem::path& path);

// categories.tsv: header `subject group subcategory hendrycks_category`, then one row per subject.
std::vector<MmluSubjectInfo> read_mmlu_categories(const std::filesystem::path& path);

// Loads dev and test of `subjects` (empty: all subjects of categories.tsv). An unknown subject or a missing
// file is a qg::Error naming it. `limit` > 0 keeps the first `limit` test records of each subject.
MmluData load_mmlu(const std::filesystem::path& dir, const std::vector<std::string>& subjects = {}, std::size_t limit = 0);

}  // namespace qg::evals
