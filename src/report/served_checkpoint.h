#pragma once
// What a benchmarked server serves, as far as the checkpoint directory tells (bench --checkpoint DIR): its
// identity and its quantization (method, scheme label such as "W4A16" or "BF16", on-disk format), read from
// config.json with the quant layer's parser. The card matches its Benchmarks rows' Format column by it.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "quant/quant_config.h"

namespace qg {

// "W4A16", "W8A16", "W8A8", "FP8", "FP4", ...: weights' bits and type, activations' bits (16 when not
// quantized); mixed config groups give their labels joined by "+".
std::string quant_scheme_label(const QuantizationConfig& config);

// {"identity": checkpoint_identity_json(dir, hash), "quantization": {"method": "compressed-tensors" | null,
//  "scheme": "W4A16" | "BF16" | ..., "format": "pack-quantized" | null}}. Throws qg::Error naming config.json
// when it is missing or its quantization_config is not one quantgate reads.
nlohmann::json served_checkpoint_json(const std::filesystem::path& dir, bool hash);

}  // namespace qg
