#include "text/post_process.h"

#include <fmt/format.h>

namespace qg::text {

namespace {

void append_wrap(SpecialWrap& into, const SpecialWrap& w) {
  // Post-processors in a Sequence each wrap the result of the previous one.
  into.before.insert(into.before.begin(), w.before.begin(), w.before.end());
  into.after.insert(into.after.end(), w.after.begin(), w.after.end());
  if (!w.description.empty()) into.description += (into.description.empty() ? "" : "; ") + w.description;
}

TokenId id_pair(const nlohmann::json& j, const std::string& key, const JsonWhere& where, std::string& name) {
  const auto& v = require(j, key, where);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer())
    json_fail(where.at(key), "expected [token, id]");
  name = v[0].get<std::string>();
  return v[1].get<TokenId>();
}

SpecialWrap template_processing(const nlohmann::json& j, const JsonWhere& where) {
  SpecialWrap w;
  const auto& single = require_array(j, "single", where);
  const auto& specials = require(j, "special_tokens", where);
  bool seen_sequence = false;
  std::string desc;
  for (std::size_t i = 0; i < single.size(); ++i) {
    const auto& piece = single[i];
    const JsonWhere pw = where.at("single").index(i);
    if (piece.contains("Sequence")) {
      const std::string id = require_string(piece["Sequence"], "id", pw.at("Sequence"));
      if (id != "A") json_fail(pw, fmt::format("a single-sequence template refers to sequence '{}'", id));
      if (seen_sequence) json_fail(pw, "the sequence appears twice in the template");
      seen_sequence = true;
      desc += desc.empty() ? "$A" : " $A";
    } else if (piece.contains("SpecialToken")) {
      const std::string id = require_string(piece["SpecialToken"], "id", pw.at("SpecialToken"));
      if (!specials.is_object() || !specials.contains(id))
        json_fail(where.at("special_tokens"), fmt::format("template uses special token '{}' that special_tokens does not define", id));
      const auto& ids = require_array(specials[id], "ids", where.at("special_tokens").at(id));
      auto& target = seen_sequence ? w.after : w.before;
      for (const auto& x : ids) {
        if (!x.is_number_integer()) json_fail(where.at("special_tokens").at(id).at("ids"), "expected integer ids");
        target.push_back(x.get<TokenId>());
      }
      desc += (desc.empty() ? "" : " ") + id;
    } else {
      json_fail(pw, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!seen_sequence) json_fail(where.at("single"), "the template never places the sequence ($A)");
  w.description = "TemplateProcessing single: " + desc;
  return w;
}

}  // namespace

SpecialWrap parse_post_processor(const nlohmann::json& j, const JsonWhere& where) {
  if (j.is_null()) return {};
  const std::string type = component_type(j, where);
  if (type == "TemplateProcessing") return template_processing(j, where);
  if (type == "ByteLevel") return {};  // only trims offsets
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    std::string cls, sep;
    const TokenId cls_id = id_pair(j, "cls", where, cls);
    const TokenId sep_id = id_pair(j, "sep", where, sep);
    return {{cls_id}, {sep_id}, fmt::format("{}: {} $A {}", type, cls, sep)};
  }
  if (type == "Sequence") {
    SpecialWrap w;
    const auto& arr = require_array(j, "processors", where);
    for (std::size_t i = 0; i < arr.size(); ++i) append_wrap(w, parse_post_processor(arr[i], where.at("processors").index(i)));
    return w;
  }
  json_fail(where, fmt::format("post_processor type '{}' is not supported (supported: TemplateProcessing, ByteLevel, "
                               "RobertaProcessing, BertProcessing, Sequence)", type));
}

}  // namespace qg::text
