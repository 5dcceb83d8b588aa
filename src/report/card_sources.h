#pragma once
// Which results the card may use, and for what. The card describes one release: `card --checkpoint DIR`
// names it. Each results file must be about that checkpoint (docs: reports/README.md, "quantgate card"):
//   kl, mmlu   the candidate is DIR                      -> Quality Targets
//   bench      the served checkpoint (bench --checkpoint) is DIR -> Benchmarks, Hardware line
//   inspect    of DIR                                     -> This Quant column, Disk size
//   inspect    of an unquantized checkpoint whose text config equals DIR's -> the BF16 column
// Anything else is refused with a qg::Error naming the file (exit 2); quantize results are not used.
// Identity: the same files (config.json, *.safetensors, index, tokenizer files) with the same sizes, and the
// same sha256 where the result recorded one (the file in DIR is hashed then), else the same mtime.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/gemma4_config.h"
#include "report/results_file.h"

namespace qg::card {

// Empty when `recorded` (a checkpoint_identity_json) describes the checkpoint in `dir`, else why not.
std::string identity_mismatch(const nlohmann::json& recorded, const std::filesystem::path& dir);

struct CardSources {
  std::filesystem::path checkpoint;
  Gemma4Config config;  // DIR/config.json
  std::optional<ResultsFile> kl, mmlu, inspect_quant, inspect_bf16;
  std::vector<ResultsFile> bench;
  std::vector<std::string> warnings;
};

CardSources select_card_sources(const std::filesystem::path& checkpoint, std::vector<ResultsFile> results);

}  // namespace qg::card
