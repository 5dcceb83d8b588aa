// Gemma 4 config parsing: the E4B numbers of gemma4-text.md section 1, transformers' missing-key
// defaults and the traps listed there, both per-layer forms, and errors naming the key.
#include <nlohmann/json.hpp>

#include "catch.h"
#include "model/gemma4_config.h"
#include "model/gemma4_inventory.h"
#include "checkpoint/safetensors_test_util.h"

using namespace qg;
using nlohmann::json;
using qg::test::require_error;

namespace {
// E4B text_config as Google's released config.json writes it (global_head_dim form), values from
// gemma4-text.md section 1.
json e4b_text() {
  json types = json::array();
  for (int i = 0; i < 42; ++i) types.push_back((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
  return {{"model_type", "gemma4_text"},
          {"hidden_size", 2560},
          {"num_hidden_layers", 42},
          {"layer_types", types},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 2},
          {"num_global_key_value_heads", nullptr},
          {"head_dim", 256},
          {"global_head_dim", 512},
          {"attention_k_eq_v", false},
          {"intermediate_size", 10240},
          {"use_double_wide_mlp", false},
          {"num_kv_shared_layers", 18},
          {"hidden_size_per_layer_input", 256},
          {"vocab_size_per_layer_input", 262144},
          {"enable_moe_block", false},
          {"sliding_window", 512},
          {"final_logit_softcapping", 30.0},
          {"rms_norm_eps", 1e-6},
          {"vocab_size", 262144},
          {"max_position_embeddings", 131072},
          {"rope_parameters",
           {{"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
            {"full_attention", {{"rope_type", "proportional"}, {"rope_theta", 1000000.0}, {"partial_rotary_factor", 0.25}}}}},
          {"tie_word_embeddings", true},
          {"hidden_activation", "gelu_pytorch_tanh"}};
}
json e4b_nested() {
  return {{"model_type", "gemma4"}, {"architectures", {"Gemma4ForConditionalGeneration"}}, {"text_config", e4b_text()}};
}
}  // namespace

TEST_CASE("E4B: 7,463,013,376 text-decoder parameters, 2,818,572,288 in the PLE table", "[model]") {
  const Gemma4Config c = parse_gemma4_config(e4b_nested(), "e4b/config.json");
  CHECK(c.architecture == "Gemma4ForConditionalGeneration");
  const Gemma4Inventory inv = inventory_from_config(c);
  CHECK(inv.text_decoder_params == 7'463'013'376);
  CHECK(inv.components.at("text.ple_table").params == 2'818'572'288);
  CHECK(inv.text_buffer_elements == 42);  // one layer_scalar per layer, a buffer, not a parameter
  CHECK(inv.components.at("text.token_embedding").params == 262144LL * 2560);
}

TEST_CASE("E4B layer geometry: full layers 5,11,..,41 with d_head 512; KV sharing from 22 and 23", "[model]") {
  const Gemma4TextConfig t = parse_gemma4_config(e4b_nested(), "c").text;
  REQUIRE(t.layers.size() == 42);
  for (int i = 0; i < 42; ++i) {
    const auto& l = t.layers[static_cast<std::size_t>(i)];
    const bool full = (i + 1) % 6 == 0;
    INFO("layer " << i);
    CHECK((l.type == LayerType::kFull) == full);
    CHECK(l.d_head == (full ? 512 : 256));
    CHECK(l.n_kv_heads == 2);
    CHECK(l.d_ff == 10240);
    CHECK(l.kv_shared == (i >= 24));
    CHECK(l.kv_source == (i < 24 ? i : (full ? 23 : 22)));
    CHECK_FALSE(l.k_eq_v);
  }
  CHECK(t.final_logit_softcapping == 30.0);
  CHECK(t.rope_full.partial_rotary_factor == 0.25);
}

TEST_CASE("the per_layer_config form (transformers >= 5.15) equals the global_head_dim form", "[model]") {
  json flat = e4b_text();
  flat.erase("global_head_dim");
  flat.erase("num_global_key_value_heads");
  json plc = json::object();
  for (int i = 5; i < 42; i += 6) plc[std::to_string(i)] = {{"head_dim", 512}};
  flat["per_layer_config"] = plc;
  flat["architectures"] = {"Gemma4ForCausalLM"};
  const Gemma4Config a = parse_gemma4_config(flat, "flat");
  const Gemma4Config b = parse_gemma4_config(e4b_nested(), "nested");
  CHECK(a.text == b.text);
  CHECK(a.model_type == "gemma4_text");
}

TEST_CASE("missing keys take transformers 5.17 defaults, traps included", "[model]") {
  const Gemma4TextConfig t = parse_gemma4_config({{"model_type", "gemma4_text"}}, "c").text;
  CHECK(t.d_ple == 256);                          // PLE on by default
  CHECK_FALSE(t.final_logit_softcapping.has_value());  // softcap off by default
  CHECK(t.n_layers == 30);
  CHECK(t.d_model == 2304);
  CHECK(t.sliding_window == 512);
  CHECK(t.n_vocab_ple == 262144);
  for (int i = 0; i < 30; ++i) {
    const bool full = (i + 1) % 6 == 0;
    CHECK((t.layers[static_cast<std::size_t>(i)].type == LayerType::kFull) == full);
    CHECK(t.layers[static_cast<std::size_t>(i)].d_head == (full ? 512 : 256));  // global_head_dim default 512
    CHECK(t.layers[static_cast<std::size_t>(i)].n_kv_heads == 4);
  }
  CHECK(t.rope_sliding.rope_theta == 10000.0);
  CHECK(t.rope_full.rope_type == "proportional");
  CHECK(t.rope_full.rope_theta == 1e6);
  CHECK(t.eos_token_ids == std::vector<std::int64_t>{1});
  // A nested config without text_config gets the same default text config.
  CHECK(parse_gemma4_config({{"model_type", "gemma4"}}, "c").text == t);
}

TEST_CASE("the last layer is forced to full attention", "[model]") {
  json c = {{"model_type", "gemma4_text"},
            {"num_hidden_layers", 3},
            {"layer_types", {"sliding_attention", "sliding_attention", "sliding_attention"}}};
  const auto t = parse_gemma4_config(c, "c").text;
  CHECK(t.layers[2].type == LayerType::kFull);
  CHECK(t.layers[2].d_head == 512);
}

TEST_CASE("num_global_key_value_heads counts only with attention_k_eq_v", "[model]") {
  json c = {{"model_type", "gemma4_text"}, {"num_hidden_layers", 6}, {"num_key_value_heads", 8},
            {"num_global_key_value_heads", 2}, {"global_head_dim", 512}};
  CHECK(parse_gemma4_config(c, "c").text.layers[5].n_kv_heads == 8);
  c["attention_k_eq_v"] = true;
  const auto t = parse_gemma4_config(c, "c").text;
  CHECK(t.layers[5].n_kv_heads == 2);
  CHECK(t.layers[5].k_eq_v);
  CHECK_FALSE(t.layers[4].k_eq_v);  // sliding layers keep separate k and v
  CHECK(t.layers[4].n_kv_heads == 8);
}

TEST_CASE("double-wide MLP only on KV-shared layers; null PLE width means no PLE", "[model]") {
  json c = {{"model_type", "gemma4_text"}, {"num_hidden_layers", 12}, {"intermediate_size", 100},
            {"num_kv_shared_layers", 4}, {"use_double_wide_mlp", true}, {"hidden_size_per_layer_input", nullptr}};
  const auto t = parse_gemma4_config(c, "c").text;
  for (int i = 0; i < 12; ++i) CHECK(t.layers[static_cast<std::size_t>(i)].d_ff == (i >= 8 ? 200 : 100));
  CHECK_FALSE(t.has_ple());
}

TEST_CASE("use_bidirectional_attention 'all' halves the window as transformers does", "[model]") {
  json c = {{"model_type", "gemma4_text"}, {"sliding_window", 512}, {"use_bidirectional_attention", "all"}};
  CHECK(parse_gemma4_config(c, "c").text.sliding_window == 257);
  c["use_bidirectional_attention"] = "vision";  // text-only input: plain causal, window unchanged
  CHECK(parse_gemma4_config(c, "c").text.sliding_window == 512);
}

TEST_CASE("bad configs are errors naming the file and the key", "[model]") {
  require_error([] { parse_gemma4_config({{"model_type", "llama"}}, "m/config.json"); }, "m/config.json", "",
                "unknown model_type 'llama'");
  require_error([] { parse_gemma4_config({{"architectures", {"X"}}}, "m/config.json"); }, "m/config.json", "",
                "no 'model_type'");
  require_error(
      [] { parse_gemma4_config({{"model_type", "gemma4"}, {"architectures", {"Gemma4ForCausalLM"}}}, "m/config.json"); },
      "m/config.json", "", "unknown architecture 'Gemma4ForCausalLM' for model_type 'gemma4'");
  require_error([] { parse_gemma4_config({{"model_type", "gemma4_text"}, {"hidden_size", "2560"}}, "f"); }, "f", "",
                "'hidden_size' must be an integer");
  require_error(
      [] {
        parse_gemma4_config({{"model_type", "gemma4"}, {"text_config", {{"num_hidden_layers", 2}, {"layer_types", {"full_attention"}}}}}, "f");
      },
      "f", "", "'text_config.layer_types' has 1 entries but num_hidden_layers is 2");
  require_error([] { parse_gemma4_config({{"model_type", "gemma4_text"}, {"enable_moe_block", true}}, "f"); }, "f", "",
                "'num_experts' is required");
  require_error([] { parse_gemma4_config({{"model_type", "gemma4_text"}, {"hidden_activation", "silu"}}, "f"); }, "f", "",
                "'silu' is not supported");
  require_error(
      [] { parse_gemma4_config({{"model_type", "gemma4_text"}, {"per_layer_config", {{"99", {{"head_dim", 8}}}}}}, "f"); },
      "f", "", "key '99' is not a layer index");
  require_error(
      [] {
        parse_gemma4_config({{"model_type", "gemma4_text"},
                             {"rope_parameters", {{"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 1e4}, {"factor", 8.0}}}}}},
                            "f");
      },
      "f", "", "'rope_parameters.sliding_attention.factor' is not supported");
  require_error([] { parse_gemma4_config({{"model_type", "gemma4_text"}, {"num_hidden_layers", 4}, {"num_kv_shared_layers", 9}}, "f"); },
                "f", "", "exceeds num_hidden_layers");
}
