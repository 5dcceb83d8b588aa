#include "model/quant_audit.h"

#include <fmt/format.h>

#include <map>

namespace qg {

namespace {
std::string describe(const QuantizedLinear& q) {
  const QuantArgs& a = q.args;
  std::string s = fmt::format("{}{} {}", a.type == QuantType::kInt ? "int" : "float", a.num_bits,
                              a.symmetric ? "symmetric" : "asymmetric");
  if (a.strategy == QuantStrategy::kGroup || a.strategy == QuantStrategy::kTensorGroup)
    s += fmt::format(" {} {}", strategy_name(a.strategy), *a.group_size);
  else
    s += fmt::format(" per {}", strategy_name(a.strategy));
  if (q.g_idx) s += " with g_idx";
  return s + ", " + q.format;
}
}  // namespace

QuantAudit audit_quantization(const Gemma4Weights& w) {
  QuantAudit audit;
  audit.quantized = w.quantization.has_value();
  if (w.quantization) {
    audit.format = w.quantization->format;
    audit.status = w.quantization->status;
  }
  std::map<std::string, std::size_t> by_group;
  for (const BoundWeight& b : w.weights) {
    if (b.quantized) {
      // Find the group: the binding used scheme_for_module, so exactly one group targets it.
      const std::string module = b.quantized->module;
      std::string group;
      for (const auto& g : w.quantization->groups)
        for (const auto& t : g.targets)
          if (group.empty() && quant_pattern_matches(t, module, "Linear")) group = g.name;
      auto it = by_group.find(group);
      if (it == by_group.end()) {
        it = by_group.emplace(group, audit.schemes.size()).first;
        audit.schemes.push_back({group, describe(*b.quantized), {}, 0});
      }
      audit.schemes[it->second].modules.push_back(module);
      audit.schemes[it->second].stored_bytes += b.quantized->stored_bytes();
      continue;
    }
    if (is_linear_weight(b.spec) && audit.quantized) {
      const std::string module = b.checkpoint_name.substr(0, b.checkpoint_name.size() - 7);
      std::string pattern;
      for (const auto& ig : w.quantization->ignore)
        if (pattern.empty() && quant_pattern_matches(ig, module, "Linear")) pattern = ig;
      (pattern.empty() ? audit.untargeted : audit.kept_16bit).push_back({module, pattern});
    }
    if (audit.quantized && b.view.dtype != DType::kBF16 && b.view.dtype != DType::kF16)
      audit.non_16bit_dense.push_back(fmt::format("{} ({})", b.checkpoint_name, dtype_name(b.view.dtype)));
  }
  return audit;
}

nlohmann::json to_json(const QuantAudit& a) {
  nlohmann::json schemes = nlohmann::json::array();
  for (const auto& s : a.schemes)
    schemes.push_back({{"group", s.group}, {"description", s.description}, {"layers", s.modules.size()},
                       {"modules", s.modules}, {"stored_bytes", s.stored_bytes}});
  auto list = [](const std::vector<IgnoredLinear>& v) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& x : v) j.push_back({{"module", x.module}, {"pattern", x.pattern}});
    return j;
  };
  return {{"quantized", a.quantized},      {"format", a.format},
          {"status", a.status},            {"schemes", schemes},
          {"kept_16bit", list(a.kept_16bit)}, {"untargeted", list(a.untargeted)},
          {"non_16bit_dense", a.non_16bit_dense}, {"pass", a.pass()}};
}

}  // namespace qg
