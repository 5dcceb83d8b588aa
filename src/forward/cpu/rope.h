#pragma once
// Rotary position embedding of Gemma 4 (gemma4-text.md §7.1): rotate-half pairing (j, j + d/2),
// "default" and "proportional" inverse frequencies, angles and cos/sin in fp32 the way transformers
// computes them (§15 items 19-20), so positions near max_position_embeddings agree too.
#include <cstdint>
#include <vector>

#include "model/gemma4_config.h"

namespace qg::cpu {

// Inverse frequencies f_j, j < d_head / 2, for a layer type with head dim `d_head`:
//   default:      f_j = 1 / theta^(2j / d_head) for every j
//   proportional: the same for j < floor(partial_rotary_factor * d_head / 2), 0 after (those channels do
//                 not rotate); the exponent's denominator is the FULL head dim.
// Each f_j is fp32: (float)(2j) / (float)d_head, powf, then 1 / x, as torch evaluates the formula.
std::vector<float> rope_inv_freq(const RopeParams& params, std::int64_t d_head);

// cos/sin of the angles p * f_j (an fp32 product, as transformers' fp32 matmul of positions by
// frequencies) for positions p = first_position ... first_position + n_positions - 1.
struct RopeTable {
  std::int64_t first_position = 0;
  std::int64_t n_positions = 0;
  std::int64_t half = 0;   // d_head / 2
  std::vector<float> cos;  // [n_positions, half]
  std::vector<float> sin;
};
RopeTable make_rope_table(const std::vector<float>& inv_freq, std::int64_t first_position,
                          std::int64_t n_positions);

// Rotates x [n_positions, n_heads * 2 * half] in place, row r at position table.first_position + r:
//   x'[j] = x[j] cos - x[j + half] sin,   x'[j + half] = x[j + half] cos + x[j] sin.
void apply_rope(float* x, std::int64_t n_heads, const RopeTable& table);

}  // namespace qg::cpu
