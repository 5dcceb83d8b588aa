#pragma once
// What `quantgate inspect` knows about a path: a checkpoint directory (config + bound weights) or a
// bare config.json (counts computed from the config alone).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/gemma4_config.h"
#include "model/gemma4_inventory.h"
#include "model/quant_audit.h"

namespace qg {

struct CheckpointFileInfo {
  std::string path;
  std::uint64_t bytes = 0;
  std::int64_t tensors = 0;
};

struct ModelInspection {
  std::string path;
  std::string config_path;
  bool has_weights = false;          // false: inventory computed from config.json alone
  std::string text_prefix;           // tensor-name prefix of the text decoder, when weights were read
  std::vector<CheckpointFileInfo> files;
  std::string index_path;            // sharded checkpoints
  std::uint64_t file_bytes = 0;      // all .safetensors files, headers included
  Gemma4Config config;
  Gemma4Inventory inventory;
  QuantAudit quant_audit;  // .quantized is false for a dense checkpoint or a bare config
  std::vector<std::string> warnings;
};

// `path`: a checkpoint directory, or a config.json file. Throws qg::Error on any bad input.
ModelInspection inspect_model(const std::filesystem::path& path);

}  // namespace qg
