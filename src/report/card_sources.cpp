#include "report/card_sources.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <map>

#include "common/error.h"
#include "common/sha256.h"
#include "report/checkpoint_identity.h"

namespace qg::card {

std::string identity_mismatch(const nlohmann::json& recorded, const std::filesystem::path& dir) {
  if (!recorded.is_object() || !recorded.contains("files") || !recorded["files"].is_array())
    return "the result records no checkpoint identity";
  const nlohmann::json here = checkpoint_identity_json(dir, false);
  std::map<std::string, nlohmann::json> ours;
  for (const auto& f : here["files"]) ours[f["name"].get<std::string>()] = f;
  if (recorded["files"].size() != ours.size())
    return fmt::format("{} identity files recorded, {} in {}", recorded["files"].size(), ours.size(), dir.string());
  for (const auto& f : recorded["files"]) {
    const std::string name = f.value("name", "");
    const auto it = ours.find(name);
    if (it == ours.end()) return fmt::format("{} is not in {}", name, dir.string());
    if (f.value("bytes", std::uint64_t{0}) != it->second["bytes"].get<std::uint64_t>())
      return fmt::format("{}: {} bytes recorded, {} in {}", name, f.value("bytes", std::uint64_t{0}),
                         it->second["bytes"].get<std::uint64_t>(), dir.string());
    if (f.contains("sha256")) {
      if (f["sha256"] != sha256_file_hex(dir / name)) return fmt::format("{}: sha256 differs", name);
    } else if (f.value("mtime_utc", "") != it->second["mtime_utc"].get<std::string>()) {
      return fmt::format("{}: modified {} recorded, {} in {} (no sha256 recorded to compare instead)", name,
                         f.value("mtime_utc", ""), it->second["mtime_utc"].get<std::string>(), dir.string());
    }
  }
  return "";
}

namespace {
void refuse(const ResultsFile& r, const std::string& why, const std::filesystem::path& checkpoint) {
  throw Error(fmt::format("{} result is not about the carded checkpoint {}: {}", r.kind, checkpoint.string(), why),
              {.file = r.path, .hint = "pass only results of the release named by --checkpoint"});
}

void set_once(std::optional<ResultsFile>& slot, ResultsFile r, const char* what) {
  if (slot)
    throw Error(fmt::format("two {} results for the carded checkpoint: {} and {} (pass one)", what, slot->path, r.path),
                {.file = r.path});
  slot = std::move(r);
}

const nlohmann::json& checkpoint_of(const ResultsFile& r, const char* role) {
  static const nlohmann::json none;
  const auto& c = r.json["provenance"]["checkpoints"];
  return c.contains(role) ? c[role] : none;
}
}  // namespace

CardSources select_card_sources(const std::filesystem::path& checkpoint, std::vector<ResultsFile> results) {
  CardSources s;
  s.checkpoint = checkpoint;
  s.config = read_gemma4_config((checkpoint / "config.json").string());
  for (auto& r : results) {
    if (r.kind == "quantize") {
      s.warnings.push_back(fmt::format("{}: quantize results are not used by the card", r.path));
      continue;
    }
    const char* role = r.kind == "bench" ? "served" : r.kind == "inspect" ? "inspected" : "candidate";
    const nlohmann::json& id = checkpoint_of(r, role);
    if (id.is_null()) {
      if (r.kind == "bench") refuse(r, "it does not say which checkpoint was served (run bench with --checkpoint DIR)", checkpoint);
      refuse(r, fmt::format("it records no \"{}\" checkpoint (an inspect of a bare config.json measures nothing)", role),
             checkpoint);
    }
    const std::string why = identity_mismatch(id, checkpoint);
    if (r.kind == "inspect" && !why.empty()) {
      // The BF16 column: an unquantized checkpoint of the same architecture.
      if (r.json["model"].value("has_quantization_config", true))
        refuse(r, why + "; and it is quantized, so it cannot be the BF16 reference either", checkpoint);
      if (r.json["text_config"] != to_json(s.config.text))
        refuse(r, why + "; and its text config differs from the carded checkpoint's, so it is not its base model",
               checkpoint);
      set_once(s.inspect_bf16, std::move(r), "inspect (BF16 reference)");
      continue;
    }
    if (!why.empty()) refuse(r, why, checkpoint);
    if (r.kind == "kl") {
      if (r.json.value("partial", false)) throw Error("kl result is partial (interrupted run)", {.file = r.path});
      set_once(s.kl, std::move(r), "kl");
    } else if (r.kind == "mmlu") {
      if (r.json.value("partial", false)) throw Error("mmlu result is partial (interrupted run)", {.file = r.path});
      set_once(s.mmlu, std::move(r), "mmlu");
    } else if (r.kind == "inspect") {
      set_once(s.inspect_quant, std::move(r), "inspect");
    } else {
      s.bench.push_back(std::move(r));
    }
  }
  return s;
}

}  // namespace qg::card
