// Tiny Gemma 4 checkpoints saved by transformers 5.17 (scripts/make_fixtures.py): every tensor is
// bound with the shape our config parser implies, counts equal transformers' own, the bare-config
// path gives the same counts as the weights, and each kind of bad checkpoint is an error naming the
// file and tensor.
#include <cstring>
#include <set>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors_test_util.h"
#include "checkpoint/safetensors_writer.h"
#include "fixture_util.h"
#include "model/gemma4_inventory.h"
#include "model/gemma4_weights.h"
#include "model/inspection.h"

using namespace qg;
using qg::test::copy_fixture;
using qg::test::gemma4_expected;
using qg::test::gemma4_fixture;
using qg::test::require_error;
using qg::test::TempDir;

namespace {
std::int64_t component_params(const Gemma4Inventory& inv, const std::string& key) {
  auto it = inv.components.find(key);
  return it == inv.components.end() ? 0 : it->second.params;
}
}  // namespace

TEST_CASE("fixtures: every tensor bound or skipped, counts equal transformers'", "[model][fixtures]") {
  const std::string name = GENERATE("all_features", "e_style", "moe_style", "cond_gen");
  INFO("fixture " << name);
  const auto expected = gemma4_expected(name);
  const ModelInspection m = inspect_model(gemma4_fixture(name));
  REQUIRE(m.has_weights);
  CHECK(m.warnings.empty());

  // Tensor listing read back by the safetensors library == what our reader sees.
  const Checkpoint ck = Checkpoint::open(gemma4_fixture(name));
  REQUIRE(ck.tensors().size() == expected["tensors"].size());
  for (const auto& [tname, info] : expected["tensors"].items()) {
    INFO("tensor " << tname);
    const CheckpointTensor* t = ck.find(tname);
    REQUIRE(t != nullptr);
    CHECK(dtype_name(t->entry->dtype) == info["dtype"].get<std::string>());
    CHECK(t->entry->shape == info["shape"].get<Shape>());
  }
  CHECK(ck.sharded() == expected["sharded"].get<bool>());

  const Gemma4Inventory& inv = m.inventory;
  CHECK(inv.text_decoder_params == expected["text_decoder_params_excl_layer_scalar"].get<std::int64_t>());
  CHECK(inv.text_decoder_params + inv.text_buffer_elements == expected["text_decoder_params"].get<std::int64_t>());
  CHECK(component_params(inv, "text.ple_table") == expected["ple_table_params"].get<std::int64_t>());
  CHECK(component_params(inv, "text.token_embedding") == expected["embed_tokens_params"].get<std::int64_t>());
  CHECK(component_params(inv, "vision") == expected["vision_params"].get<std::int64_t>());
  CHECK(component_params(inv, "audio") == expected["audio_params"].get<std::int64_t>());
  CHECK(component_params(inv, "embed_vision") == expected["embed_vision_params"].get<std::int64_t>());
  CHECK(component_params(inv, "embed_audio") == expected["embed_audio_params"].get<std::int64_t>());

  // The same numbers from config.json alone (what inspect prints before a download).
  const Gemma4Inventory from_config = inventory_from_config(m.config);
  CHECK(from_config.text_decoder_params == inv.text_decoder_params);
  CHECK(from_config.text_buffer_elements == inv.text_buffer_elements);
  for (const char* key : {"vision", "audio", "embed_vision", "embed_audio", "text.matmul", "text.norm", "text.ple_table"}) {
    INFO("component " << key);
    CHECK(component_params(from_config, key) == component_params(inv, key));
    if (inv.components.count(key)) CHECK(from_config.components.at(key).tensors == inv.components.at(key).tensors);
  }
}

TEST_CASE("fixtures: per-fixture geometry as the generator configured it", "[model][fixtures]") {
  const Gemma4Config all = read_gemma4_config((gemma4_fixture("all_features") / "config.json").string());
  const auto& l = all.text.layers;
  CHECK(all.architecture == "Gemma4ForCausalLM");
  CHECK(l[1].k_eq_v);
  CHECK(l[1].n_kv_heads == 1);
  CHECK(l[1].d_head == 32);
  CHECK(l[2].kv_shared);
  CHECK(l[2].kv_source == 0);
  CHECK(l[3].kv_source == 1);
  CHECK(l[3].d_ff == 192);
  CHECK(all.text.enable_moe_block);
  const Gemma4Weights w = bind_gemma4_weights(Checkpoint::open(gemma4_fixture("all_features")), all);
  CHECK(w.prefix == "model.");
  CHECK(w.skipped.empty());
  CHECK_FALSE(w.by_name.count("layers.1.self_attn.v_proj.weight"));  // k_eq_v: no v_proj

  const Gemma4Config cg = read_gemma4_config((gemma4_fixture("cond_gen") / "config.json").string());
  const Gemma4Weights wc = bind_gemma4_weights(Checkpoint::open(gemma4_fixture("cond_gen")), cg);
  CHECK(wc.prefix == "model.language_model.");
  std::set<std::string> skipped_kinds;
  for (const auto& s : wc.skipped) skipped_kinds.insert(s.component);
  CHECK(skipped_kinds == std::set<std::string>{"vision", "audio", "embed_vision", "embed_audio"});
}

TEST_CASE("fixtures: goldens written by python safetensors read back (I64 ids, F32 logits)", "[model][fixtures]") {
  const auto expected = gemma4_expected("moe_style");
  const Checkpoint g = Checkpoint::open(gemma4_fixture("moe_style") / "golden" / "golden.safetensors");
  const TensorView ids = g.view("ids");
  CHECK(ids.dtype == DType::kI64);
  const auto want_ids = expected["golden"]["ids"].get<std::vector<std::int64_t>>();
  REQUIRE(ids.numel() == static_cast<std::int64_t>(want_ids.size()));
  for (std::size_t i = 0; i < want_ids.size(); ++i) CHECK(load_as_f32(ids, static_cast<std::int64_t>(i)) == static_cast<float>(want_ids[i]));
  const TensorView logits = g.view("logits");
  CHECK(logits.shape == Shape{21, 512});
  float max_abs = 0;
  for (float v : to_f32(logits)) max_abs = std::max(max_abs, std::abs(v));
  CHECK(max_abs == expected["golden"]["max_abs_logit"].get<float>());
}

TEST_CASE("fixtures: rewritten by our sharded writer, the checkpoint binds to identical bytes", "[model][fixtures][checkpoint]") {
  TempDir d("rewrite");
  const Checkpoint src = Checkpoint::open(gemma4_fixture("e_style"));
  {
    SafetensorsWriter w(d.path(), {.max_shard_bytes = 150'000});
    for (const auto& [name, t] : src.tensors()) w.add(t.file->view(*t.entry));
    CHECK(w.finish().size() > 2);  // several shards + index
  }
  std::filesystem::copy_file(gemma4_fixture("e_style") / "config.json", d / "config.json");
  const Checkpoint dst = Checkpoint::open(d.path());
  REQUIRE(dst.sharded());
  REQUIRE(dst.tensors().size() == src.tensors().size());
  for (const auto& [name, t] : src.tensors()) {
    const TensorView a = t.file->view(*t.entry);
    const TensorView b = dst.view(name);
    REQUIRE(a.shape == b.shape);
    REQUIRE(a.dtype == b.dtype);
    CHECK(std::memcmp(a.data, b.data, a.nbytes()) == 0);
  }
  CHECK(inspect_model(d.path()).inventory.text_decoder_params == inspect_model(gemma4_fixture("e_style")).inventory.text_decoder_params);
}

namespace {
// Rewrites `dir`'s single model.safetensors through `edit(name, view, writer)`: return false to drop it.
void rewrite(const std::filesystem::path& dir,
             const std::function<bool(const std::string&, const TensorView&, SafetensorsWriter&)>& edit) {
  TempDir scratch("edit");
  {
    const Checkpoint ck = Checkpoint::open(dir / "model.safetensors");
    SafetensorsWriter w(scratch.path());
    for (const auto& [name, t] : ck.tensors()) {
      const TensorView v = t.file->view(*t.entry);
      if (edit(name, v, w)) w.add(v);
    }
    w.finish();
  }
  std::filesystem::copy_file(scratch / "model.safetensors", dir / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
}
}  // namespace

TEST_CASE("fixtures: binding errors name the file and tensor", "[model][fixtures]") {
  TempDir d("bind");
  copy_fixture("all_features", d.path());
  const std::string file = (d / "model.safetensors").string();

  SECTION("shape disagrees with config.json") {
    rewrite(d.path(), [](const std::string& n, const TensorView& v, SafetensorsWriter& w) {
      if (n != "model.layers.1.self_attn.q_proj.weight") return true;
      w.add(n, v.dtype, Shape{v.shape[1], v.shape[0]}, v.bytes());  // transposed
      return false;
    });
    require_error([&] { inspect_model(d.path()); }, file, "model.layers.1.self_attn.q_proj.weight",
                  "shape [64, 128] in the file, but config.json implies [128, 64]");
  }
  SECTION("config.json changed so the file no longer matches") {
    auto cfg = read_json_file(d / "config.json");
    cfg["intermediate_size"] = 97;
    std::ofstream(d / "config.json") << cfg.dump();
    require_error([&] { inspect_model(d.path()); }, file, "model.layers.0.mlp.gate_proj.weight",
                  "config.json implies [97, 64]");
  }
  SECTION("missing tensor") {
    rewrite(d.path(), [](const std::string& n, const TensorView&, SafetensorsWriter&) { return n != "model.norm.weight"; });
    require_error([&] { inspect_model(d.path()); }, d.path().string(), "model.norm.weight", "missing from the checkpoint");
  }
  SECTION("unexpected tensor") {
    rewrite(d.path(), [](const std::string& n, const TensorView& v, SafetensorsWriter& w) {
      if (n == "model.norm.weight") w.add("model.layers.0.mystery.weight", v.dtype, v.shape, v.bytes());
      return true;
    });
    require_error([&] { inspect_model(d.path()); }, file, "model.layers.0.mystery.weight", "unexpected tensor");
  }
  SECTION("integer dtype where a float weight belongs") {
    rewrite(d.path(), [](const std::string& n, const TensorView& v, SafetensorsWriter& w) {
      if (n != "model.norm.weight") return true;
      w.add(n, DType::kI32, v.shape, v.bytes());  // same byte size as F32
      return false;
    });
    require_error([&] { inspect_model(d.path()); }, file, "model.norm.weight", "dtype I32 is not a float weight type");
  }
  SECTION("k/v tensors under KV-shared layers are skipped, as transformers does") {
    rewrite(d.path(), [](const std::string& n, const TensorView& v, SafetensorsWriter& w) {
      if (n == "model.layers.0.self_attn.k_proj.weight") w.add("model.layers.2.self_attn.k_proj.weight", v.dtype, v.shape, v.bytes());
      return true;
    });
    const Gemma4Weights w = bind_gemma4_weights(Checkpoint::open(d.path()), read_gemma4_config((d / "config.json").string()));
    REQUIRE(w.skipped.size() == 1);
    CHECK(w.skipped[0].component == "kv_shared_unused");
  }
  SECTION("a tied lm_head duplicate is skipped; with the wrong shape it is an error") {
    rewrite(d.path(), [](const std::string& n, const TensorView& v, SafetensorsWriter& w) {
      if (n == "model.embed_tokens.weight") w.add("lm_head.weight", v.dtype, v.shape, v.bytes());
      return true;
    });
    const Gemma4Weights w = bind_gemma4_weights(Checkpoint::open(d.path()), read_gemma4_config((d / "config.json").string()));
    REQUIRE(w.skipped.size() == 1);
    CHECK(w.skipped[0].component == "lm_head_tied_duplicate");
  }
  SECTION("untied head: lm_head.weight becomes required") {
    auto cfg = read_json_file(d / "config.json");
    cfg["tie_word_embeddings"] = false;
    std::ofstream(d / "config.json") << cfg.dump();
    require_error([&] { inspect_model(d.path()); }, d.path().string(), "lm_head.weight", "missing from the checkpoint");
  }
  SECTION("a truncated weights file") {
    auto bytes = qg::test::read_bytes(d / "model.safetensors");
    bytes.resize(bytes.size() / 2);
    qg::test::write_bytes(d / "model.safetensors", bytes);
    try {
      inspect_model(d.path());
      FAIL("expected an error");
    } catch (const qg::Error& e) {
      CHECK(e.file() == file);
      CHECK_FALSE(e.tensor().empty());
      CHECK(std::string(e.what()).find("truncated") != std::string::npos);
    }
  }
}
