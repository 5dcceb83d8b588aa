#pragma once
// compressed-tensors `quantization_config` (quant-formats.md section 1): config groups with targets,
// the ignore list, formats and QuantizationArgs, parsed and validated by one function.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg {

enum class QuantType { kInt, kFloat };
enum class QuantStrategy { kTensor, kChannel, kGroup, kBlock, kToken, kTensorGroup, kAttnHead };
std::string_view strategy_name(QuantStrategy s);

struct QuantArgs {
  int num_bits = 8;
  QuantType type = QuantType::kInt;
  bool symmetric = true;
  QuantStrategy strategy = QuantStrategy::kTensor;
  std::optional<std::int64_t> group_size;
  std::optional<std::string> actorder;  // null, "group" (alias "dynamic"), "weight" (alias "static")
  bool dynamic = false;                 // true or "local"
  bool operator==(const QuantArgs&) const = default;
  bool has_g_idx() const { return actorder == "group" || actorder == "dynamic"; }
};

struct QuantScheme {
  std::string name;  // the config group name
  std::vector<std::string> targets;
  std::optional<QuantArgs> weights;
  std::optional<QuantArgs> input_activations;
  std::optional<QuantArgs> output_activations;
  std::string format;  // the group's format, else the global one
};

struct QuantizationConfig {
  std::string format;  // global
  std::string status;  // quantization_status
  std::vector<QuantScheme> groups;
  std::vector<std::string> ignore;
};

// Throws qg::Error naming `source` for a non-compressed-tensors method, an unknown format, preset or
// strategy, or a combination compressed-tensors rejects.
QuantizationConfig parse_quantization_config(const nlohmann::json& quantization_config, const std::string& source);

// compressed-tensors target/ignore matching (CT utils/match.py): "re:<regex>" is Python re.match on the
// dotted module name (anchored at the start only); anything else equals the module name or the class name.
bool quant_pattern_matches(const std::string& pattern, const std::string& module_name, const std::string& class_name);

// Which scheme applies to one Linear, exactly as compressed-tensors decides: the module must match a
// target of a group and no ignore entry. nullptr = not quantized. Throws when two groups both target it.
const QuantScheme* scheme_for_module(const QuantizationConfig& config, const std::string& module_name,
                                     const std::string& class_name, const std::string& source);

// The config-group JSON for a preset name (W4A16, W4A16_ASYM, W8A16, W8A8, INT8, FP8, FP8_DYNAMIC, NVFP4,
// NVFP4A16), as compressed-tensors expands `{"W4A16": ["Linear"]}`; nullopt for other names.
std::optional<nlohmann::json> quant_preset_scheme(const std::string& preset);

}  // namespace qg
