#pragma once
// Reading the tokenizer goldens that scripts/make_tokenizer_goldens.py writes with `tokenizers` 0.23.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/bpe.h"

namespace qg::test {

using Ids = std::vector<text::TokenId>;

std::string read_bytes(const std::filesystem::path& path);
nlohmann::json read_json(const std::filesystem::path& path);

// A .qgids file: b"QGIDS001", varint n_records, then per record: varint name length, name, varint n_ids,
// varint ids. Records in file order.
std::vector<std::pair<std::string, Ids>> read_qgids(const std::filesystem::path& path);

// FNV-1a 64 over the ids as little-endian uint32 bytes, the running value after every `every` ids (the
// script's checkpoints), and the final value, as 16 hex digits.
struct IdHashes {
  std::string final_hex;
  std::vector<std::string> checkpoints;
};
IdHashes fnv64_checkpoints(const Ids& ids, std::size_t every);

// Empty when equal; else where the first difference is, with the ids around it and the text they
// decode to, so a failing golden points at the exact place.
std::string describe_mismatch(const Ids& expected, const Ids& actual, const std::string& context_text = "");

}  // namespace qg::test
