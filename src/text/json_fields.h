#pragma once
// Typed access to tokenizer.json fields with errors that name the file, the JSON path and what was
// expected ("tokenizer.json: pre_tokenizer.pretokenizers[0].behavior: expected a string, got number").
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace qg::text {

struct JsonWhere {
  const std::string& file;
  std::string path;  // e.g. "pre_tokenizer.pretokenizers[0]"
  JsonWhere at(const std::string& key) const { return {file, path.empty() ? key : path + "." + key}; }
  JsonWhere index(std::size_t i) const { return {file, path + "[" + std::to_string(i) + "]"}; }
};

[[noreturn]] void json_fail(const JsonWhere& where, const std::string& what);

const nlohmann::json& require(const nlohmann::json& obj, const std::string& key, const JsonWhere& where);
std::string require_string(const nlohmann::json& obj, const std::string& key, const JsonWhere& where);
bool optional_bool(const nlohmann::json& obj, const std::string& key, bool fallback, const JsonWhere& where);
std::optional<std::string> optional_string(const nlohmann::json& obj, const std::string& key, const JsonWhere& where);
const nlohmann::json& require_array(const nlohmann::json& obj, const std::string& key, const JsonWhere& where);
// The "type" of a component object; `where` names the component ("normalizer").
std::string component_type(const nlohmann::json& obj, const JsonWhere& where);
// A {"String": s} / {"Regex": r} pattern; returns the text and sets is_regex.
std::string pattern_field(const nlohmann::json& obj, const JsonWhere& where, bool& is_regex);

}  // namespace qg::text
