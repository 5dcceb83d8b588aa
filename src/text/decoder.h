#pragma once
// tokenizer.json decoders: token strings -> text, as `tokenizers`' decode does it. Supported:
// Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace. Others are a qg::Error naming them.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/json_fields.h"

namespace qg::text {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // One step of the chain (Decoder::decode_chain); the caller joins the final list.
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
};

// Null JSON -> nullptr (decode joins tokens with spaces, as `tokenizers` does without a decoder).
std::unique_ptr<Decoder> parse_decoder(const nlohmann::json& j, const JsonWhere& where);

}  // namespace qg::text
