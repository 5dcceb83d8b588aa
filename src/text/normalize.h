#pragma once
// tokenizer.json normalizers: what `tokenizers` applies to text before pre-tokenization (and to each
// piece between added tokens). Supported: Sequence, Replace (String or Regex), Prepend, NFC, NFD, Strip.
// Any other type is a qg::Error naming it, never silently skipped.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "text/json_fields.h"

namespace qg::text {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& s) const = 0;
  // Whether normalizing can change text in a way decode cannot undo (NFC, Strip): decode(encode(x)) == x
  // is then not expected.
  virtual bool lossy() const { return false; }
};

// Null JSON -> nullptr (no normalizer).
std::unique_ptr<Normalizer> parse_normalizer(const nlohmann::json& j, const JsonWhere& where);

}  // namespace qg::text
