#include "evals/same_tokenizer.h"

#include <fmt/format.h>

#include "checkpoint/json_file.h"
#include "common/error.h"

namespace qg {

std::string check_same_tokenizer(const std::filesystem::path& ref_dir, const std::filesystem::path& cand_dir) {
  const auto ref = ref_dir / "tokenizer.json", cand = cand_dir / "tokenizer.json";
  std::error_code ec;
  const bool have_ref = std::filesystem::exists(ref, ec), have_cand = std::filesystem::exists(cand, ec);
  if (!have_ref || !have_cand)
    return fmt::format("tokenizer check skipped: no tokenizer.json in {}", (have_ref ? cand_dir : ref_dir).string());
  if (read_json_file(ref) != read_json_file(cand))
    throw Error(fmt::format("the candidate's tokenizer differs from the reference's ({} vs {}): both models must "
                            "read the same token ids",
                            ref.string(), cand.string()),
                {.file = cand.string(),
                 .hint = "compare a quantized checkpoint with the checkpoint it was made from (quantize copies the "
                         "tokenizer unchanged)"});
  return {};
}

}  // namespace qg
