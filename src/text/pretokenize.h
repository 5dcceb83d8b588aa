#pragma once
// tokenizer.json pre-tokenizers: split normalized text into the words BPE sees (and, for ByteLevel,
// map every byte onto its printable stand-in). Supported: Sequence, Split (String or Regex pattern,
// all five delimiter behaviours, invert), ByteLevel (GPT-2 regex, add_prefix_space, use_regex),
// Metaspace, Digits, WhitespaceSplit, Whitespace. Others are a qg::Error naming the type.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/json_fields.h"

namespace qg::text {

struct Piece {
  std::string text;
  bool at_origin = false;  // begins at byte 0 of the original input (Metaspace prepend_scheme "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits one piece; appends the non-empty results to `out`, in order.
  virtual void split(Piece piece, std::vector<Piece>& out) const = 0;
};

// Null JSON -> nullptr (the whole piece is one word).
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const nlohmann::json& j, const JsonWhere& where);

// The ByteLevel byte -> code point table (GPT-2's bytes_to_unicode), and its inverse (-1: not a stand-in).
char32_t byte_level_char(unsigned char b);
int byte_level_byte(char32_t c);

}  // namespace qg::text
