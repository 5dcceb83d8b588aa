#include "text/json_fields.h"

#include <fmt/format.h>

#include "common/error.h"

namespace qg::text {

namespace {
std::string type_name(const nlohmann::json& j) { return j.type_name(); }
}  // namespace

void json_fail(const JsonWhere& where, const std::string& what) {
  throw Error(where.path.empty() ? what : fmt::format("{}: {}", where.path, what), {.file = where.file});
}

const nlohmann::json& require(const nlohmann::json& obj, const std::string& key, const JsonWhere& where) {
  if (!obj.is_object()) json_fail(where, fmt::format("expected an object, got {}", type_name(obj)));
  auto it = obj.find(key);
  if (it == obj.end()) json_fail(where, fmt::format("missing field '{}'", key));
  return *it;
}

std::string require_string(const nlohmann::json& obj, const std::string& key, const JsonWhere& where) {
  const auto& v = require(obj, key, where);
  if (!v.is_string()) json_fail(where.at(key), fmt::format("expected a string, got {}", type_name(v)));
  return v.get<std::string>();
}

bool optional_bool(const nlohmann::json& obj, const std::string& key, bool fallback, const JsonWhere& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) json_fail(where.at(key), fmt::format("expected true/false, got {}", type_name(*it)));
  return it->get<bool>();
}

std::optional<std::string> optional_string(const nlohmann::json& obj, const std::string& key, const JsonWhere& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) json_fail(where.at(key), fmt::format("expected a string or null, got {}", type_name(*it)));
  return it->get<std::string>();
}

const nlohmann::json& require_array(const nlohmann::json& obj, const std::string& key, const JsonWhere& where) {
  const auto& v = require(obj, key, where);
  if (!v.is_array()) json_fail(where.at(key), fmt::format("expected an array, got {}", type_name(v)));
  return v;
}

std::string component_type(const nlohmann::json& obj, const JsonWhere& where) {
  if (!obj.is_object()) json_fail(where, fmt::format("expected an object with a \"type\", got {}", type_name(obj)));
  return require_string(obj, "type", where);
}

std::string pattern_field(const nlohmann::json& obj, const JsonWhere& where, bool& is_regex) {
  const auto& p = require(obj, "pattern", where);
  const JsonWhere pw = where.at("pattern");
  if (p.is_object() && p.size() == 1) {
    if (auto it = p.find("String"); it != p.end() && it->is_string()) {
      is_regex = false;
      return it->get<std::string>();
    }
    if (auto it = p.find("Regex"); it != p.end() && it->is_string()) {
      is_regex = true;
      return it->get<std::string>();
    }
  }
  json_fail(pw, fmt::format("expected {{\"String\": ...}} or {{\"Regex\": ...}}, got {}", p.dump().substr(0, 80)));
}

}  // namespace qg::text
