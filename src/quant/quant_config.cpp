#include "quant/quant_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "common/error.h"

namespace qg {

using nlohmann::json;

std::string_view strategy_name(QuantStrategy s) {
  switch (s) {
    case QuantStrategy::kTensor: return "tensor";
    case QuantStrategy::kChannel: return "channel";
    case QuantStrategy::kGroup: return "group";
    case QuantStrategy::kBlock: return "block";
    case QuantStrategy::kToken: return "token";
    case QuantStrategy::kTensorGroup: return "tensor_group";
    case QuantStrategy::kAttnHead: return "attn_head";
  }
  return "?";
}

namespace {

const std::vector<std::string> kKnownFormats = {"pack-quantized",       "naive-quantized", "int-quantized",
                                                "float-quantized",      "nvfp4-pack-quantized",
                                                "mxfp4-pack-quantized", "mxfp8-quantized", "dense",
                                                "mixed-precision",      "marlin-24",       "sparse-24-bitmask"};

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error("quantization_config: " + what, {.file = source});
}

QuantArgs parse_args(const json& j, const std::string& source, const std::string& where) {
  if (!j.is_object()) fail(source, where + " must be an object");
  QuantArgs a;
  auto get_int = [&](const char* key, std::int64_t fallback) -> std::int64_t {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number_integer()) fail(source, fmt::format("{}.{} must be an integer", where, key));
    return j[key].get<std::int64_t>();
  };
  a.num_bits = static_cast<int>(get_int("num_bits", 8));
  if (a.num_bits < 1 || a.num_bits > 8) fail(source, fmt::format("{}.num_bits {} is outside 1..8", where, a.num_bits));
  const std::string type = j.value("type", std::string("int"));
  if (type == "int") a.type = QuantType::kInt;
  else if (type == "float") a.type = QuantType::kFloat;
  else fail(source, fmt::format("{}.type '{}' is unknown (int, float)", where, type));
  if (j.contains("symmetric") && !j["symmetric"].is_null()) {
    if (!j["symmetric"].is_boolean()) fail(source, where + ".symmetric must be true or false");
    a.symmetric = j["symmetric"].get<bool>();
  }
  if (j.contains("group_size") && !j["group_size"].is_null()) {
    a.group_size = get_int("group_size", 0);
    if (*a.group_size <= 0 && *a.group_size != -1)
      fail(source, fmt::format("{}.group_size {} must be positive", where, *a.group_size));
  }
  // CT infers the strategy from group_size when it is absent (group_size > 0 -> group, -1 -> channel).
  std::string strategy;
  if (j.contains("strategy") && !j["strategy"].is_null()) {
    if (!j["strategy"].is_string()) fail(source, where + ".strategy must be a string");
    strategy = j["strategy"].get<std::string>();
  } else {
    strategy = !a.group_size ? "tensor" : (*a.group_size == -1 ? "channel" : "group");
  }
  static const std::pair<const char*, QuantStrategy> kStrategies[] = {
      {"tensor", QuantStrategy::kTensor},  {"channel", QuantStrategy::kChannel},
      {"group", QuantStrategy::kGroup},    {"block", QuantStrategy::kBlock},
      {"token", QuantStrategy::kToken},    {"tensor_group", QuantStrategy::kTensorGroup},
      {"attn_head", QuantStrategy::kAttnHead}};
  bool known = false;
  for (const auto& [n, s] : kStrategies)
    if (strategy == n) a.strategy = s, known = true;
  if (!known) fail(source, fmt::format("{}.strategy '{}' is unknown", where, strategy));
  if ((a.strategy == QuantStrategy::kGroup || a.strategy == QuantStrategy::kTensorGroup) &&
      (!a.group_size || *a.group_size <= 0))
    fail(source, fmt::format("{}: strategy {} needs a positive group_size", where, strategy));
  if (j.contains("actorder") && !j["actorder"].is_null()) {
    if (!j["actorder"].is_string()) fail(source, where + ".actorder must be a string or null");
    a.actorder = j["actorder"].get<std::string>();
    if (*a.actorder != "group" && *a.actorder != "dynamic" && *a.actorder != "weight" && *a.actorder != "static")
      fail(source, fmt::format("{}.actorder '{}' is unknown (group, weight)", where, *a.actorder));
    if (a.has_g_idx() && a.strategy != QuantStrategy::kGroup && a.strategy != QuantStrategy::kTensorGroup)
      fail(source, fmt::format("{}: actorder '{}' needs the group strategy", where, *a.actorder));
  }
  if (j.contains("dynamic") && !j["dynamic"].is_null())
    a.dynamic = j["dynamic"].is_boolean() ? j["dynamic"].get<bool>() : j["dynamic"] == "local";
  return a;
}

json preset_args(int bits, const char* type, bool sym, const char* strategy, std::optional<int> group,
                 bool dynamic = false) {
  json a = {{"num_bits", bits}, {"type", type}, {"symmetric", sym}, {"strategy", strategy}, {"dynamic", dynamic}};
  a["group_size"] = group ? json(*group) : json();
  return a;
}

}  // namespace

std::optional<json> quant_preset_scheme(const std::string& preset) {
  // CT quantization/quant_scheme.py; W8A16 is group 128 since CT 0.16.
  if (preset == "W4A16") return json{{"weights", preset_args(4, "int", true, "group", 128)}};
  if (preset == "W4A16_ASYM") return json{{"weights", preset_args(4, "int", false, "group", 128)}};
  if (preset == "W8A16") return json{{"weights", preset_args(8, "int", true, "group", 128)}};
  if (preset == "W8A8" || preset == "INT8")
    return json{{"weights", preset_args(8, "int", true, "channel", std::nullopt)},
                {"input_activations", preset_args(8, "int", true, "token", std::nullopt, true)}};
  if (preset == "FP8")
    return json{{"weights", preset_args(8, "float", true, "tensor", std::nullopt)},
                {"input_activations", preset_args(8, "float", true, "tensor", std::nullopt)}};
  if (preset == "FP8_DYNAMIC")
    return json{{"weights", preset_args(8, "float", true, "channel", std::nullopt)},
                {"input_activations", preset_args(8, "float", true, "token", std::nullopt, true)}};
  if (preset == "NVFP4A16") return json{{"weights", preset_args(4, "float", true, "tensor_group", 16)}};
  if (preset == "NVFP4")
    return json{{"weights", preset_args(4, "float", true, "tensor_group", 16)},
                {"input_activations", preset_args(4, "float", true, "tensor_group", 16, true)}};
  return std::nullopt;
}

QuantizationConfig parse_quantization_config(const json& q, const std::string& source) {
  if (!q.is_object()) fail(source, "must be an object");
  const std::string method = q.value("quant_method", std::string());
  if (method != "compressed-tensors")
    throw Error(fmt::format("quant_method '{}' is not supported (compressed-tensors)", method),
                {.file = source, .hint = "GPTQ/AWQ/GGUF readers are planned; convert with compressed-tensors meanwhile"});
  QuantizationConfig c;
  c.format = q.contains("format") && q["format"].is_string() ? q["format"].get<std::string>() : "";
  c.status = q.value("quantization_status", std::string());
  if (!c.format.empty() && std::find(kKnownFormats.begin(), kKnownFormats.end(), c.format) == kKnownFormats.end())
    fail(source, fmt::format("format '{}' is unknown", c.format));
  if (q.contains("ignore") && !q["ignore"].is_null()) {
    if (!q["ignore"].is_array()) fail(source, "ignore must be a list");
    for (const auto& x : q["ignore"]) {
      if (!x.is_string()) fail(source, "ignore entries must be strings");
      c.ignore.push_back(x.get<std::string>());
    }
  }
  if (!q.contains("config_groups") || !q["config_groups"].is_object() || q["config_groups"].empty())
    fail(source, "config_groups is missing or empty");
  for (const auto& [name, value] : q["config_groups"].items()) {
    QuantScheme s;
    s.name = name;
    json scheme = value;
    if (value.is_array()) {  // preset form: {"W4A16": ["Linear"]}
      auto preset = quant_preset_scheme(name);
      if (!preset) fail(source, fmt::format("config group '{}' is a target list but not a known preset", name));
      scheme = *preset;
      scheme["targets"] = value;
    }
    if (!scheme.is_object()) fail(source, fmt::format("config group '{}' must be an object", name));
    if (!scheme.contains("targets") || !scheme["targets"].is_array() || scheme["targets"].empty())
      fail(source, fmt::format("config group '{}' has no targets", name));
    for (const auto& t : scheme["targets"]) {
      if (!t.is_string()) fail(source, fmt::format("config group '{}': targets must be strings", name));
      s.targets.push_back(t.get<std::string>());
    }
    const std::string where = "config_groups." + name;
    if (scheme.contains("weights") && !scheme["weights"].is_null())
      s.weights = parse_args(scheme["weights"], source, where + ".weights");
    if (scheme.contains("input_activations") && !scheme["input_activations"].is_null())
      s.input_activations = parse_args(scheme["input_activations"], source, where + ".input_activations");
    if (scheme.contains("output_activations") && !scheme["output_activations"].is_null())
      s.output_activations = parse_args(scheme["output_activations"], source, where + ".output_activations");
    s.format = scheme.contains("format") && scheme["format"].is_string() ? scheme["format"].get<std::string>() : c.format;
    if (s.format.empty()) fail(source, fmt::format("config group '{}' has no format and there is no global format", name));
    if (std::find(kKnownFormats.begin(), kKnownFormats.end(), s.format) == kKnownFormats.end())
      fail(source, fmt::format("config group '{}': format '{}' is unknown", name, s.format));
    c.groups.push_back(std::move(s));
  }
  return c;
}

bool quant_pattern_matches(const std::string& pattern, const std::string& module_name, const std::string& class_name) {
  if (pattern.rfind("re:", 0) == 0) {
    // Python re.match: the match must start at position 0 but may end anywhere.
    std::regex re;
    try {
      re = std::regex(pattern.substr(3), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw Error(fmt::format("quantization_config: pattern '{}' is not a valid regex: {}", pattern, e.what()));
    }
    return std::regex_search(module_name, re, std::regex_constants::match_continuous);
  }
  return pattern == module_name || pattern == class_name;
}

const QuantScheme* scheme_for_module(const QuantizationConfig& c, const std::string& module, const std::string& cls,
                                     const std::string& source) {
  for (const auto& ig : c.ignore)
    if (quant_pattern_matches(ig, module, cls)) return nullptr;
  const QuantScheme* found = nullptr;
  for (const auto& g : c.groups) {
    const bool hit = std::any_of(g.targets.begin(), g.targets.end(),
                                 [&](const std::string& t) { return quant_pattern_matches(t, module, cls); });
    if (!hit) continue;
    if (found != nullptr)
      throw Error(fmt::format("quantization_config: config groups '{}' and '{}' both target this layer", found->name,
                              g.name),
                  {.file = source, .tensor = module});
    found = &g;
  }
  return found;
}

}  // namespace qg
