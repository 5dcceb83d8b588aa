#include "report/served_checkpoint.h"

#include <fmt/format.h>

#include <set>

#include "checkpoint/json_file.h"
#include "report/checkpoint_identity.h"

namespace qg {

namespace {
std::string group_label(const QuantScheme& s) {
  if (!s.weights) return "unquantized weights";
  const QuantArgs& w = *s.weights;
  const int act_bits = s.input_activations ? s.input_activations->num_bits : 16;
  if (w.type == QuantType::kFloat) return act_bits == 16 ? fmt::format("FP{}A16", w.num_bits) : fmt::format("FP{}", w.num_bits);
  return fmt::format("W{}A{}", w.num_bits, act_bits);
}

// config.json's dtype names -> the card's labels.
std::string dtype_label(const std::string& dtype) {
  if (dtype == "bfloat16") return "BF16";
  if (dtype == "float16") return "F16";
  if (dtype == "float32") return "F32";
  return dtype;
}
}  // namespace

std::string quant_scheme_label(const QuantizationConfig& config) {
  std::set<std::string> labels;
  for (const auto& g : config.groups) labels.insert(group_label(g));
  std::string out;
  for (const auto& l : labels) out += (out.empty() ? "" : "+") + l;
  return out;
}

nlohmann::json served_checkpoint_json(const std::filesystem::path& dir, bool hash) {
  // Any architecture a server can serve: only the quantization_config and the dtype are read.
  const auto config_path = dir / "config.json";
  const nlohmann::json config = read_json_file(config_path);
  nlohmann::json q;
  if (config.contains("quantization_config")) {
    const QuantizationConfig qc = parse_quantization_config(config["quantization_config"], config_path.string());
    q = {{"method", "compressed-tensors"}, {"scheme", quant_scheme_label(qc)},
         {"format", qc.format.empty() ? nlohmann::json() : nlohmann::json(qc.format)}};
  } else {
    std::string dtype;
    for (const nlohmann::json* c : {&config, config.contains("text_config") ? &config["text_config"] : nullptr})
      for (const char* key : {"dtype", "torch_dtype"})
        if (c && dtype.empty() && c->contains(key) && (*c)[key].is_string()) dtype = (*c)[key].get<std::string>();
    q = {{"method", nullptr}, {"scheme", dtype.empty() ? nlohmann::json() : nlohmann::json(dtype_label(dtype))},
         {"format", nullptr}};
  }
  return {{"identity", checkpoint_identity_json(dir, hash)}, {"quantization", q}};
}

}  // namespace qg
