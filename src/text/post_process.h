#pragma once
// tokenizer.json post-processors, reduced to what encode(text, add_special_tokens=true) does to one
// sequence: the ids that go before and after it. Supported: TemplateProcessing, ByteLevel (ids
// unchanged), RobertaProcessing, BertProcessing, Sequence. This is where a Gemma <bos> comes from.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/bpe.h"
#include "text/json_fields.h"

namespace qg::text {

struct SpecialWrap {
  std::vector<TokenId> before, after;
  std::string description;  // e.g. "TemplateProcessing single: <bos> $A"
};

// Null JSON -> nothing added.
SpecialWrap parse_post_processor(const nlohmann::json& j, const JsonWhere& where);

}  // namespace qg::text
