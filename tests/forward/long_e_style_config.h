#pragma once
// The e_style fixture's config (4 layers, the last 2 KV-shared) made for long sequences on random weights: positions
// up to 1024 and a 32-token window. fused_heads: head dims 64 (sliding) / 128 (full), which the fast precision's
// fused attention and one-pass attention inputs run; otherwise the fixture's 16 / 32 (attention by GEMMs).
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/fixture_util.h"
#include "model/gemma4_config.h"

namespace qg::test {

inline Gemma4Config long_e_style_config(bool fused_heads) {
  nlohmann::json j;
  std::ifstream(gemma4_fixture("e_style") / "config.json") >> j;
  if (fused_heads) {
    j["head_dim"] = 64;
    j["per_layer_config"] = {{"1", {{"head_dim", 128}}}, {"3", {{"head_dim", 128}}}};
  }
  j["sliding_window"] = 32;
  j["max_position_embeddings"] = 1024;
  return parse_gemma4_config(j, fused_heads ? "e_style, head dims 64/128" : "e_style, longer");
}

}  // namespace qg::test
