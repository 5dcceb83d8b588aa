#include "model/inspection.h"

#include "checkpoint/checkpoint.h"
#include "common/error.h"
#include "model/gemma4_weights.h"

namespace qg {

namespace fs = std::filesystem;

namespace {
bool has_weights_in(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") return true;
  return fs::exists(dir / kSafetensorsIndexName);
}
}  // namespace

ModelInspection inspect_model(const fs::path& path) {
  ModelInspection out;
  out.path = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("no such file or directory", {.file = path.string()});

  if (fs::is_directory(path)) {
    const fs::path config = path / "config.json";
    if (!fs::exists(config))
      throw Error("no config.json in this directory", {.file = path.string(), .hint = "pass a checkpoint directory"});
    out.config_path = config.string();
    out.config = read_gemma4_config(out.config_path);
    if (has_weights_in(path)) {
      const Checkpoint ck = Checkpoint::open(path);
      const Gemma4Weights weights = bind_gemma4_weights(ck, out.config);
      out.has_weights = true;
      out.text_prefix = weights.prefix;
      out.inventory = inventory_from_weights(weights, out.config);
      out.quant_audit = audit_quantization(weights);
      for (const auto& f : ck.files())
        out.files.push_back({f->path().string(), f->file_bytes(), static_cast<std::int64_t>(f->header().tensors.size())});
      out.index_path = ck.index_path().string();
      out.file_bytes = ck.file_bytes();
      out.warnings = ck.warnings();
    } else {
      out.inventory = inventory_from_config(out.config);
      out.warnings.push_back("no .safetensors weights in this directory: counts computed from config.json alone");
    }
  } else {
    out.config_path = path.string();
    out.config = read_gemma4_config(out.config_path);
    out.inventory = inventory_from_config(out.config);
  }
  return out;
}

}  // namespace qg
