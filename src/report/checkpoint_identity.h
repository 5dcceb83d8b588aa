#pragma once
// Which checkpoint a result came from: every weight/config/tokenizer file of the directory with its size
// and modification time, and its sha256 when asked (hashing a 16 GB checkpoint takes a while).
#include <filesystem>
#include <nlohmann/json.hpp>

namespace qg {

// {"dir", "files": [{"name", "bytes", "mtime_utc", "sha256"?}], "total_bytes", "hashed"}. Files: config.json,
// *.safetensors, *.safetensors.index.json, tokenizer.json, tokenizer_config.json, in name order.
nlohmann::json checkpoint_identity_json(const std::filesystem::path& dir, bool hash);

}  // namespace qg
