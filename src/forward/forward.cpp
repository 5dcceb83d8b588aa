#include "forward/forward.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"

namespace qg {

namespace {

// The head dim RoPE is computed for: transformers builds one table per layer *type*, from
// `global_head_dim` for proportional full layers and from `head_dim` otherwise.
std::int64_t rope_dim_of_type(const Gemma4TextConfig& c, LayerType type) {
  const RopeParams& p = type == LayerType::kFull ? c.rope_full : c.rope_sliding;
  return (type == LayerType::kFull && p.rope_type == "proportional") ? -1 : c.d_head;  // -1: the layer's own
}

}  // namespace

void check_forward_supported(const Gemma4Config& config, const std::string& source) {
  const Gemma4TextConfig& c = config.text;
  auto fail = [&](const std::string& what, const std::string& hint = "") {
    throw Error(fmt::format("the Gemma 4 forward pass cannot run this config: {}", what),
                {.file = source, .hint = hint});
  };
  if (c.hidden_activation != "gelu_pytorch_tanh")
    fail(fmt::format("hidden_activation '{}' (only gelu_pytorch_tanh)", c.hidden_activation));
  if (c.use_bidirectional_attention == "all")
    fail("use_bidirectional_attention 'all' (text attention is implemented causal only)");
  if (c.n_layers != static_cast<std::int64_t>(c.layers.size())) fail("per-layer geometry is missing");
  for (const RopeParams* p : {&c.rope_sliding, &c.rope_full})
    if (p->rope_type != "default" && p->rope_type != "proportional")
      fail(fmt::format("rope_type '{}' (only default and proportional)", p->rope_type));
  if (c.rope_full.rope_type == "proportional" &&
      (c.rope_full.partial_rotary_factor <= 0 || c.rope_full.partial_rotary_factor > 1))
    fail(fmt::format("partial_rotary_factor {} outside (0, 1]", c.rope_full.partial_rotary_factor));
  if (c.rope_sliding.rope_type == "proportional" &&
      (c.rope_sliding.partial_rotary_factor <= 0 || c.rope_sliding.partial_rotary_factor > 1))
    fail(fmt::format("partial_rotary_factor {} outside (0, 1]", c.rope_sliding.partial_rotary_factor));
  if (c.enable_moe_block && (c.n_experts < 1 || c.top_k_experts < 1 || c.top_k_experts > c.n_experts))
    fail(fmt::format("MoE with {} experts, top-{}", c.n_experts, c.top_k_experts));

  std::int64_t type_dim[2] = {0, 0};
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    const Gemma4LayerConfig& l = c.layers[i];
    if (l.d_head % 2 != 0)
      fail(fmt::format("layer {} has an odd head_dim {} (RoPE pairs j with j + d/2)", i, l.d_head));
    if (l.n_kv_heads < 1 || l.n_heads % l.n_kv_heads != 0)
      fail(fmt::format("layer {}: {} heads are not a multiple of {} kv heads", i, l.n_heads, l.n_kv_heads));
    // One RoPE table per layer type, as transformers builds it: every layer of a type must share its dim.
    std::int64_t& seen = type_dim[l.type == LayerType::kFull ? 1 : 0];
    if (seen != 0 && seen != l.d_head)
      fail(fmt::format("layers of type {} have different head dims ({} and {})", layer_type_name(l.type),
                       seen, l.d_head));
    seen = l.d_head;
    const std::int64_t rope_dim = rope_dim_of_type(c, l.type);
    if (rope_dim > 0 && rope_dim != l.d_head)
      fail(fmt::format("layer {} ({}) has head_dim {} but its '{}' RoPE table is built for head_dim {}", i,
                       layer_type_name(l.type), l.d_head,
                       (l.type == LayerType::kFull ? c.rope_full : c.rope_sliding).rope_type, rope_dim),
           "transformers builds default RoPE from head_dim; full layers with global_head_dim need "
           "'proportional'");
  }
}

std::int64_t first_logit_row_of(const ScoreOptions& options, std::size_t sequence) {
  const std::int64_t first =
      options.first_logit_rows.empty() ? options.first_logit_row : options.first_logit_rows[sequence];
  return std::max<std::int64_t>(0, first);
}

void check_first_logit_rows(const ScoreOptions& options, std::size_t n_sequences) {
  if (!options.first_logit_rows.empty() && options.first_logit_rows.size() != n_sequences)
    throw Error(fmt::format("ScoreOptions::first_logit_rows has {} entries for a call of {} sequences (one per "
                            "sequence, or none)",
                            options.first_logit_rows.size(), n_sequences));
}

void check_tokens(const Gemma4TextConfig& config, TokenSpan tokens, std::int64_t first_position,
                  const std::string& what) {
  if (tokens.empty()) throw Error(fmt::format("{} has no tokens", what));
  const std::int64_t end = first_position + static_cast<std::int64_t>(tokens.size());
  if (end > config.max_position_embeddings)
    throw Error(fmt::format("{} reaches position {}, past max_position_embeddings {}", what, end - 1,
                            config.max_position_embeddings),
                {.hint = "split the text into windows of at most max_position_embeddings tokens"});
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= config.n_vocab)
      throw Error(fmt::format("{}: token {} at index {} is outside the vocabulary [0, {})", what, tokens[i],
                              i, config.n_vocab));
}

}  // namespace qg
