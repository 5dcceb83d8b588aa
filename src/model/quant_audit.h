#pragma once
// The quantization audit of a bound checkpoint: which scheme each text-decoder Linear got, which were
// kept in 16 bits and by which ignore entry, and whether the release keeps its promise that every
// Linear is quantized or ignored by name while embeddings, the PLE table, norms and the head stay
// 16-bit (nothing quantized silently, nothing skipped silently).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/gemma4_weights.h"

namespace qg {

struct SchemeUsage {
  std::string group;        // config group name
  std::string description;  // "int4 symmetric group 16, pack-quantized"
  std::vector<std::string> modules;
  std::uint64_t stored_bytes = 0;
};

struct IgnoredLinear {
  std::string module;
  std::string pattern;  // the ignore entry that matched; empty when nothing targeted it
};

struct QuantAudit {
  bool quantized = false;  // the checkpoint has a quantization_config
  std::string format, status;
  std::vector<SchemeUsage> schemes;
  std::vector<IgnoredLinear> kept_16bit;     // Linears an ignore entry keeps in 16 bits
  std::vector<IgnoredLinear> untargeted;     // Linears neither quantized nor ignored: audit failure
  std::vector<std::string> non_16bit_dense;  // dense text tensors stored in another dtype than BF16/F16
  bool pass() const { return untargeted.empty() && non_16bit_dense.empty(); }
};

QuantAudit audit_quantization(const Gemma4Weights& weights);
nlohmann::json to_json(const QuantAudit& audit);

}  // namespace qg
