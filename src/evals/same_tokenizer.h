#pragma once
// kl and mmlu --ref tokenize their input once and feed the same ids to two checkpoints: both must read those
// ids the same way.
#include <filesystem>
#include <string>

namespace qg {

// Throws qg::Error naming both files when both checkpoint directories hold a tokenizer.json and the two
// differ in content (parsed JSON, so formatting does not matter): the corpus is tokenized once and both
// models must read the same ids the same way. Returns a note when the check could not be made (a directory
// without tokenizer.json), else an empty string.
std::string check_same_tokenizer(const std::filesystem::path& ref_dir, const std::filesystem::path& cand_dir);


}  // namespace qg
