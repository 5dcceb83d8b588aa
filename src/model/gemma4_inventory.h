#pragma once
// Parameter counts and bytes by component, from bound weights (measured) or from config.json alone
// (computed, for memory planning before a download). Both go through gemma4_text_weight_specs, so
// the two cannot disagree on the text decoder.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/gemma4_config.h"
#include "model/gemma4_weights.h"

namespace qg {

struct ComponentStats {
  std::int64_t params = 0;   // elements
  std::int64_t tensors = 0;
  // Measured from the files; from a bare config, an estimate at the config's dtype (see estimated_dtype).
  std::map<std::string, std::uint64_t> bytes_by_dtype;
  std::uint64_t bytes() const;
};

struct Gemma4Inventory {
  bool from_weights = false;
  // From a bare config: the dtype the byte estimate assumes (config "dtype", BF16 when it names none).
  std::string estimated_dtype;
  // "text.matmul", "text.token_embedding", "text.ple_table", "text.norm", "text.layer_scalar", "text.lm_head",
  // "vision", "audio", "embed_vision", "embed_audio", "unused.lm_head_tied_duplicate", "unused.kv_shared_unused"
  std::map<std::string, ComponentStats> components;
  // Parameters of the text decoder, tied head counted once, saved buffers (layer_scalar) excluded:
  // what `sum(p.numel() for p in model.language_model.parameters())` gives in transformers.
  std::int64_t text_decoder_params = 0;
  std::int64_t text_buffer_elements = 0;  // layer_scalar buffers
  // Vision/audio counts from a bare config: set only when the tower is present and its size is known.
  std::optional<std::int64_t> vision_params;
  std::optional<std::int64_t> audio_params;
};

Gemma4Inventory inventory_from_weights(const Gemma4Weights& weights, const Gemma4Config& config);
Gemma4Inventory inventory_from_config(const Gemma4Config& config);

}  // namespace qg
