#include "report/inspect_report.h"

#include <fmt/format.h>

#include "model/kv_cache_size.h"
#include "report/format.h"
#include "report/results_file.h"

namespace qg {

namespace {

struct ComponentRow {
  const char* key;
  const char* label;
};
// Display order and labels of inventory components.
constexpr ComponentRow kRows[] = {
    {"text.matmul", "text matmuls (attention, MLP, PLE proj, MoE)"},
    {"text.token_embedding", "token embedding (tied LM head)"},
    {"text.ple_table", "PLE table (embed_tokens_per_layer)"},
    {"text.norm", "norms and small vectors"},
    {"text.layer_scalar", "layer scalars (saved buffers)"},
    {"text.lm_head", "LM head (untied)"},
    {"vision", "vision tower"},
    {"embed_vision", "vision embedder"},
    {"audio", "audio tower"},
    {"embed_audio", "audio embedder"},
    {"unused.lm_head_tied_duplicate", "unused: tied lm_head duplicate"},
    {"unused.kv_shared_unused", "unused: K/V of KV-shared layers"},
};

std::string rope_str(const RopeParams& r) {
  std::string s = fmt::format("rope {} theta {:g}", r.rope_type, r.rope_theta);
  if (r.partial_rotary_factor != 1.0) s += fmt::format(" partial {:g}", r.partial_rotary_factor);
  return s;
}

std::string dtype_bytes_str(const ComponentStats& s) {
  std::string out;
  for (const auto& [dtype, bytes] : s.bytes_by_dtype) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", dtype, human_bytes(bytes));
  }
  return out;
}

}  // namespace

std::string inspect_text(const ModelInspection& m) {
  const Gemma4TextConfig& c = m.config.text;
  std::string o;
  o += fmt::format("quantgate inspect {}\n", m.path);
  o += fmt::format("  model      {} (model_type {}){}\n", m.config.architecture.empty() ? "?" : m.config.architecture,
                   m.config.model_type, m.config.dtype.empty() ? "" : ", dtype " + m.config.dtype);
  if (m.has_weights) {
    o += fmt::format("  weights    {} file(s), {} on disk{}\n", m.files.size(), human_bytes(m.file_bytes),
                     m.index_path.empty() ? "" : ", sharded via " + m.index_path);
  } else {
    o += "  weights    none read: counts below are computed from config.json\n";
  }
  if (m.config.has_quantization_config) o += "  quantization_config present\n";

  o += "\nText decoder\n";
  o += fmt::format("  d_model {}, {} layers, vocab {}, max positions {}, rms_norm_eps {:g}, final softcap {}\n",
                   c.d_model, c.n_layers, c.n_vocab, c.max_position_embeddings, c.rms_norm_eps,
                   c.final_logit_softcapping ? fmt::format("{:g}", *c.final_logit_softcapping) : "none");
  o += fmt::format("  sliding window {} (each query sees itself + {} earlier tokens); sliding {}; full {}\n",
                   c.sliding_window, c.sliding_window - 1, rope_str(c.rope_sliding), rope_str(c.rope_full));
  o += fmt::format("  PLE {}; KV sharing {}; attention_k_eq_v {}; MoE {}; double-wide MLP {}; tied head {}\n",
                   c.has_ple() ? fmt::format("on (d_ple {}, vocab {})", c.d_ple, c.n_vocab_ple) : "off",
                   c.num_kv_shared_layers > 0
                       ? fmt::format("{} layers (from layer {})", c.num_kv_shared_layers, c.first_kv_shared_layer())
                       : "off",
                   c.attention_k_eq_v ? "on" : "off",
                   c.enable_moe_block ? fmt::format("{} experts, top {}, width {}", c.n_experts, c.top_k_experts, c.d_expert)
                                      : "off",
                   c.use_double_wide_mlp ? "on" : "off", c.tie_word_embeddings ? "yes" : "no");
  o += "  layer  type     heads  kv  d_head  d_ff    K/V\n";
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    const Gemma4LayerConfig& l = c.layers[i];
    std::string kv = l.kv_shared ? fmt::format("shared from {}", l.kv_source) : "own";
    if (l.k_eq_v) kv += ", V = K (no v_proj)";
    o += fmt::format("  {:<5}  {:<7}  {:<5}  {:<2}  {:<6}  {:<6}  {}\n", i,
                     l.type == LayerType::kFull ? "full" : "sliding", l.n_heads, l.n_kv_heads, l.d_head, l.d_ff, kv);
  }

  const Gemma4Inventory& inv = m.inventory;
  o += fmt::format("\nParameters by component{}\n", m.has_weights ? " (measured from the weights)" : " (from config.json)");
  o += fmt::format("  {:<46} {:>17} {:>8}  {}\n", "component", "elements", "tensors",
                   m.has_weights ? "bytes by dtype" : "bytes if stored as " + inv.estimated_dtype + " (estimate)");
  for (const auto& row : kRows) {
    auto it = inv.components.find(row.key);
    if (it == inv.components.end()) continue;
    o += fmt::format("  {:<46} {:>17} {:>8}  {}\n", row.label, group_digits(it->second.params), it->second.tensors,
                     dtype_bytes_str(it->second));
  }
  for (const auto& [key, stats] : inv.components) {
    bool known = false;
    for (const auto& row : kRows) known = known || key == row.key;
    if (!known) o += fmt::format("  {:<46} {:>17} {:>8}  {}\n", key, group_digits(stats.params), stats.tensors, dtype_bytes_str(stats));
  }
  const std::int64_t ple = inv.components.count("text.ple_table") ? inv.components.at("text.ple_table").params : 0;
  o += fmt::format("  text-decoder parameters: {} (tied head counted once, layer_scalar buffers excluded), {} in the PLE "
                   "table\n",
                   group_digits(inv.text_decoder_params), group_digits(ple));
  {
    const Gemma4TextConfig& t = m.config.text;
    const std::int64_t ctx = std::min<std::int64_t>(32768, t.max_position_embeddings);
    o += fmt::format("  K/V cache per sequence at {} tokens: {} in fp8, {} in bf16 (layers that own K/V; sliding "
                     "layers hold {} tokens at most)\n",
                     group_digits(ctx), human_bytes(kv_cache_bytes(t, ctx, 1)), human_bytes(kv_cache_bytes(t, ctx, 2)),
                     t.sliding_window);
  }
  if (m.config.has_vision && !inv.vision_params) o += "  vision tower: size not known\n";
  if (m.config.has_audio && !inv.audio_params) o += "  audio tower: size not known\n";

  {
    std::map<std::string, std::uint64_t> by_dtype;
    for (const auto& [_, s] : inv.components)
      for (const auto& [d, b] : s.bytes_by_dtype) by_dtype[d] += b;
    o += m.has_weights ? "\nBytes on disk by dtype (tensor data)\n"
                       : "\nEstimated bytes on disk by dtype (tensor data, before a download)\n";
    for (const auto& [d, b] : by_dtype) o += fmt::format("  {:<8} {:>16} ({})\n", d, group_digits(static_cast<std::int64_t>(b)), human_bytes(b));
  }
  if (m.quant_audit.quantized) {
    const QuantAudit& a = m.quant_audit;
    o += fmt::format("\nQuantization (compressed-tensors, format {}, status {})\n", a.format.empty() ? "per group" : a.format,
                     a.status.empty() ? "?" : a.status);
    for (const auto& s : a.schemes)
      o += fmt::format("  {}: {}: {} Linear layers, {} stored\n", s.group, s.description, s.modules.size(),
                       human_bytes(s.stored_bytes));
    std::map<std::string, int> by_pattern;
    for (const auto& k : a.kept_16bit) by_pattern[k.pattern] += 1;
    for (const auto& [pattern, n] : by_pattern) o += fmt::format("  kept in 16 bits by ignore '{}': {} Linear layers\n", pattern, n);
    o += fmt::format("  audit: {}\n", a.pass() ? "PASS (every text-decoder Linear quantized or ignored by name; embeddings, "
                                                  "PLE table, norms and head in 16 bits)"
                                                : "FAIL");
    for (const auto& u : a.untargeted) o += fmt::format("    neither quantized nor ignored: {}\n", u.module);
    for (const auto& d : a.non_16bit_dense) o += fmt::format("    dense tensor not in 16 bits: {}\n", d);
  }
  for (const auto& w : m.warnings) o += fmt::format("warning: {}\n", w);
  return o;
}

nlohmann::json inspect_json(const ModelInspection& m, const nlohmann::json& provenance) {
  nlohmann::json components = nlohmann::json::object();
  for (const auto& [key, s] : m.inventory.components)
    components[key] = {{"params", s.params}, {"tensors", s.tensors}, {"bytes_by_dtype", s.bytes_by_dtype}};
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : m.files) files.push_back({{"path", f.path}, {"bytes", f.bytes}, {"tensors", f.tensors}});
  const auto& inv = m.inventory;
  nlohmann::json j = results_envelope("inspect", provenance);
  j.update(nlohmann::json{
          {"source",
           {{"path", m.path},
            {"config", m.config_path},
            {"has_weights", m.has_weights},
            {"bytes_estimated_as", m.has_weights ? nlohmann::json() : nlohmann::json(m.inventory.estimated_dtype)},
            {"files", files},
            {"index", m.index_path},
            {"file_bytes", m.file_bytes},
            {"text_prefix", m.text_prefix}}},
          {"model",
           {{"architecture", m.config.architecture},
            {"model_type", m.config.model_type},
            {"dtype", m.config.dtype},
            {"has_vision", m.config.has_vision},
            {"has_audio", m.config.has_audio},
            {"has_quantization_config", m.config.has_quantization_config}}},
          {"text_config", to_json(m.config.text)},
          {"kv_cache_per_sequence",
           {{"tokens", std::min<std::int64_t>(32768, m.config.text.max_position_embeddings)},
            {"fp8_bytes", kv_cache_bytes(m.config.text, std::min<std::int64_t>(32768, m.config.text.max_position_embeddings), 1)},
            {"bf16_bytes", kv_cache_bytes(m.config.text, std::min<std::int64_t>(32768, m.config.text.max_position_embeddings), 2)},
            {"formula", "sum over layers owning K/V of 2 * n_kv_heads * d_head * bytes * min(tokens, window if sliding)"}}},
          {"parameters",
           {{"text_decoder", inv.text_decoder_params},
            {"text_buffers", inv.text_buffer_elements},
            {"ple_table", inv.components.count("text.ple_table") ? inv.components.at("text.ple_table").params : 0},
            {"vision", inv.vision_params ? nlohmann::json(*inv.vision_params) : nlohmann::json()},
            {"audio", inv.audio_params ? nlohmann::json(*inv.audio_params) : nlohmann::json()},
            {"components", components}}},
          {"quantization", to_json(m.quant_audit)},
          {"warnings", m.warnings}});
  return j;
}

}  // namespace qg
