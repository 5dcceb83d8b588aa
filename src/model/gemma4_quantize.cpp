#include "model/gemma4_quantize.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "checkpoint/checkpoint.h"
#include "checkpoint/json_file.h"
#include "checkpoint/safetensors_writer.h"
#include "common/error.h"
#include "model/gemma4_config.h"
#include "model/gemma4_weights.h"
#include "quant/pack.h"
#include "quant/quant_config.h"
#include "quant/rtn.h"

namespace qg {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& default_quant_ignore() {
  static const std::vector<std::string> kIgnore = {
      "lm_head",        "re:.*embed_tokens$",  "re:.*norm$",        "re:.*embed_tokens_per_layer.*",
      "re:.*per_layer_model_projection.*",     "re:.*vision_tower.*", "re:.*audio_tower.*",
      "re:.*embed_vision.*",                   "re:.*embed_audio.*"};
  return kIgnore;
}

namespace {

// The quantization_config block, in compressed-tensors' own key order (it dumps with sort_keys).
json make_quantization_config(const QuantizeOptions& o) {
  auto preset = quant_preset_scheme(o.scheme);
  if (!preset || (o.scheme != "W4A16" && o.scheme != "W4A16_ASYM" && o.scheme != "W8A16"))
    throw Error(fmt::format("--scheme {} is not supported by the RTN quantizer (W4A16, W4A16_ASYM, W8A16)", o.scheme));
  json w = (*preset)["weights"];
  if (o.group_size) {
    if (*o.group_size == -1) {
      w["strategy"] = "channel";
      w["group_size"] = nullptr;
    } else if (*o.group_size > 0) {
      w["group_size"] = *o.group_size;
    } else {
      throw Error(fmt::format("--group-size {} must be positive (or -1 for per-channel)", *o.group_size));
    }
  }
  json weights = {{"actorder", nullptr},
                  {"block_structure", nullptr},
                  {"dynamic", false},
                  {"group_size", w["group_size"]},
                  {"num_bits", w["num_bits"]},
                  {"observer", "memoryless_minmax"},
                  {"observer_kwargs", json::object()},
                  {"scale_dtype", nullptr},
                  {"strategy", w["strategy"]},
                  {"symmetric", w["symmetric"]},
                  {"type", "int"},
                  {"zp_dtype", w["symmetric"].get<bool>() ? json() : json("torch.int8")}};
  std::vector<std::string> ignore = default_quant_ignore();
  ignore.insert(ignore.end(), o.extra_ignore.begin(), o.extra_ignore.end());
  return {{"config_groups",
           {{"group_0",
             {{"format", "pack-quantized"},
              {"input_activations", nullptr},
              {"output_activations", nullptr},
              {"targets", {"Linear"}},
              {"weights", weights}}}}},
          {"format", "pack-quantized"},
          {"global_compression_ratio", nullptr},
          {"ignore", ignore},
          {"kv_cache_scheme", nullptr},
          {"quant_method", "compressed-tensors"},
          {"quantization_status", "compressed"},
          {"sparsity_config", json::object()},
          {"transform_config", json::object()},
          {"version", "0.18.0"}};
}

std::span<const std::byte> as_bytes_of(const void* p, std::size_t n) { return {static_cast<const std::byte*>(p), n}; }

}  // namespace

QuantizeSummary quantize_gemma4_checkpoint(const fs::path& in_dir, const fs::path& out_dir, const QuantizeOptions& o,
                                           const std::function<void(std::size_t, std::size_t)>& progress) {
  const fs::path config_path = in_dir / "config.json";
  if (!fs::is_directory(in_dir)) throw Error("not a checkpoint directory", {.file = in_dir.string()});
  json raw_config = read_json_file(config_path);
  const Gemma4Config config = parse_gemma4_config(raw_config, config_path.string());
  if (config.has_quantization_config)
    throw Error("this checkpoint is already quantized (config.json has a quantization_config)",
                {.file = config_path.string(), .hint = "quantize the BF16 reference instead"});
  if (fs::exists(out_dir) && !fs::is_empty(out_dir))
    throw Error("output directory exists and is not empty; refusing to overwrite", {.file = out_dir.string()});

  const Checkpoint ck = Checkpoint::open(in_dir);
  const Gemma4Weights weights = bind_gemma4_weights(ck, config);  // validates the whole input first

  QuantizeSummary summary;
  summary.quantization_config = make_quantization_config(o);
  const QuantizationConfig qc = parse_quantization_config(summary.quantization_config, "(generated)");

  // Which checkpoint tensors become pack-quantized layers: the Linears the scheme targets.
  std::map<std::string, const QuantScheme*> quantize;  // "<module>.weight" -> scheme
  for (const BoundWeight& w : weights.weights) {
    if (!is_linear_weight(w.spec)) continue;
    const std::string module = w.checkpoint_name.substr(0, w.checkpoint_name.size() - 7);
    if (const QuantScheme* s = scheme_for_module(qc, module, "Linear", "(generated)")) quantize[w.checkpoint_name] = s;
  }

  SafetensorsWriter writer(out_dir, {.max_shard_bytes = o.max_shard_bytes});
  std::size_t done = 0;
  for (const auto& [name, t] : ck.tensors()) {
    const TensorView v = t.file->view(*t.entry);
    summary.input_tensor_bytes += v.nbytes();
    auto it = quantize.find(name);
    if (it == quantize.end()) {
      // Copied in 64 MB pieces, each released once written, so even the PLE table (GBs) never sits
      // in memory whole.
      constexpr std::uint64_t kPiece = 64ull << 20;
      writer.add_streamed(v.name, v.dtype, v.shape, [&](const SafetensorsWriter::Sink& sink) {
        const auto bytes = v.bytes();
        for (std::uint64_t off = 0; off < bytes.size(); off += kPiece) {
          const std::uint64_t n = std::min<std::uint64_t>(kPiece, bytes.size() - off);
          sink(bytes.subspan(off, n));
          t.file->release(*t.entry, off, n);
        }
      });
      summary.output_tensor_bytes += v.nbytes();
      ++summary.kept_tensors;
    } else {
      const QuantArgs& a = *it->second->weights;
      const std::string module = name.substr(0, name.size() - 7);
      RtnResult r;
      try {
        r = rtn_quantize(v, a);
      } catch (const Error& e) {
        throw Error(e.message(), {.file = t.file->path().string(), .tensor = name, .hint = e.hint()});
      }
      const auto packed = pack_rows(r.codes, r.out_features, r.in_features, a.num_bits);
      const std::int64_t wpr = static_cast<std::int64_t>(packed.size()) / r.out_features;
      writer.add(module + ".weight_packed", DType::kI32, {r.out_features, wpr}, as_bytes_of(packed.data(), packed.size() * 4));
      const Shape scale_shape = a.strategy == QuantStrategy::kTensor ? Shape{1} : Shape{r.out_features, r.n_groups};
      writer.add(module + ".weight_scale", v.dtype, scale_shape, as_bytes_of(r.scales.data(), r.scales.size() * 2));
      const std::int64_t shape[2] = {r.out_features, r.in_features};
      writer.add(module + ".weight_shape", DType::kI64, {2}, as_bytes_of(shape, sizeof(shape)));
      std::uint64_t bytes = packed.size() * 4 + r.scales.size() * 2 + sizeof(shape);
      if (!a.symmetric) {
        const auto zp = pack_columns(r.zeros, r.out_features, r.n_groups, a.num_bits);
        const std::int64_t per = 32 / a.num_bits;
        writer.add(module + ".weight_zero_point", DType::kI32, {(r.out_features + per - 1) / per, r.n_groups},
                   as_bytes_of(zp.data(), zp.size() * 4));
        bytes += zp.size() * 4;
      }
      summary.output_tensor_bytes += bytes;
      ++summary.quantized_layers;
    }
    t.file->release(*t.entry);  // drop the pages we read from our resident set
    if (progress) progress(++done, ck.tensors().size());
  }
  summary.written_files = [&] {
    std::vector<std::string> files;
    for (const auto& p : writer.finish()) files.push_back(p.string());
    return files;
  }();

  // config.json with the quantization_config; every other non-weight file copied (tokenizer, chat
  // template, generation config, processor files).
  raw_config["quantization_config"] = summary.quantization_config;
  {
    std::ofstream out(out_dir / "config.json");
    out << raw_config.dump(2) << "\n";
    if (!out) throw Error("cannot write", {.file = (out_dir / "config.json").string()});
  }
  for (const auto& e : fs::directory_iterator(in_dir)) {
    if (!e.is_regular_file()) continue;
    const std::string fname = e.path().filename().string();
    if (fname == "config.json" || e.path().extension() == ".safetensors" || fname == kSafetensorsIndexName) continue;
    fs::copy_file(e.path(), out_dir / fname, fs::copy_options::overwrite_existing);
    summary.written_files.push_back((out_dir / fname).string());
  }
  return summary;
}

}  // namespace qg
