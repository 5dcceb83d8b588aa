#pragma once
// Parameter counts of the Gemma 4 vision and audio towers (and their embedding projections into the
// text model) computed from config.json alone, so `inspect` can plan memory before a download. The
// formulas mirror the module definitions of transformers 5.17 modeling_gemma4.py (vision encoder,
// audio conformer, Gemma4MultimodalEmbedder) with the config classes' defaults for missing keys.
#include <cstdint>
#include <optional>

#include "model/gemma4_config.h"

namespace qg {

struct TowerCount {
  std::int64_t params = 0;   // elements of every saved tensor (parameters and persistent buffers)
  std::int64_t tensors = 0;  // number of saved tensors
};

struct TowerCounts {
  std::optional<TowerCount> vision;        // model.vision_tower.*
  std::optional<TowerCount> audio;         // model.audio_tower.*
  std::optional<TowerCount> embed_vision;  // model.embed_vision.*
  std::optional<TowerCount> embed_audio;   // model.embed_audio.*
};

// Absent towers stay nullopt. Throws qg::Error for a sub-config value of the wrong type.
TowerCounts gemma4_tower_counts(const Gemma4Config& config);

}  // namespace qg
