#include "report/results_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace qg {

namespace {
// Provenance keys every results file carries (reports/schema/results.md).
constexpr const char* kProvenanceKeys[] = {"quantgate_version", "git_sha", "host",     "time_utc", "argv",
                                           "flags",             "gpu",     "checkpoints", "datasets", "seeds"};

// The kind's own keys that readers (card, compare) rely on.
std::vector<std::string> required_body_keys(const std::string& kind) {
  if (kind == "kl") return {"reference", "candidate", "corpus", "results", "gate", "partial"};
  if (kind == "mmlu") return {"candidate", "settings", "partial", "pass"};
  if (kind == "bench") return {"server", "workload", "levels", "vram", "served_checkpoint"};
  if (kind == "inspect") return {"source", "model", "text_config", "quantization"};
  return {"in", "out", "quantization_config"};  // quantize
}

// Provenance entries each kind records: checkpoint roles and dataset roles.
struct Roles {
  std::vector<std::string> checkpoints, datasets;
};
Roles required_roles(const std::string& kind) {
  if (kind == "kl") return {{"reference", "candidate"}, {"corpus"}};
  if (kind == "mmlu") return {{"candidate"}, {"mmlu"}};
  if (kind == "quantize") return {{"input", "output"}, {}};
  return {};  // bench: "served" only with --checkpoint; inspect: "inspected" only for a directory
}

std::string kinds_list() {
  std::string s;
  for (const auto& k : results_kinds()) s += (s.empty() ? "" : ", ") + k;
  return s;
}
}  // namespace

const std::vector<std::string>& results_kinds() {
  static const std::vector<std::string> kinds = {"kl", "mmlu", "bench", "inspect", "quantize"};
  return kinds;
}

nlohmann::json results_envelope(const std::string& kind, nlohmann::json provenance) {
  const auto& k = results_kinds();
  if (std::find(k.begin(), k.end(), kind) == k.end())
    throw Error(fmt::format("unknown results kind '{}' (expected one of {})", kind, kinds_list()));
  return {{"schema", kResultsSchema}, {"kind", kind}, {"provenance", std::move(provenance)}};
}

ResultsFile parse_results(nlohmann::json j, const std::string& path) {
  if (!j.is_object() || !j.contains("schema"))
    throw Error(fmt::format("not a quantgate results file: no \"schema\" key (expected \"{}\")", kResultsSchema),
                {.file = path});
  const nlohmann::json& schema = j["schema"];
  if (!schema.is_string() || schema.get<std::string>() != kResultsSchema) {
    const std::string found = schema.is_string() ? schema.get<std::string>() : schema.dump();
    const bool older = found.rfind("quantgate.", 0) == 0;
    throw Error(fmt::format("results schema '{}' found, expected '{}'", found, kResultsSchema),
                {.file = path,
                 .hint = older ? "written by another quantgate version: re-run the command with this one" : ""});
  }
  if (!j.contains("kind") || !j["kind"].is_string())
    throw Error(fmt::format("results file has no \"kind\" string (expected one of {})", kinds_list()), {.file = path});
  const std::string kind = j["kind"].get<std::string>();
  const auto& kinds = results_kinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
    throw Error(fmt::format("unknown results kind '{}' for schema {} (expected one of {})", kind, kResultsSchema,
                            kinds_list()),
                {.file = path});
  if (!j.contains("provenance") || !j["provenance"].is_object())
    throw Error("results file has no \"provenance\" object", {.file = path});
  const nlohmann::json& p = j["provenance"];
  for (const char* key : kProvenanceKeys)
    if (!p.contains(key)) throw Error(fmt::format("results provenance lacks \"{}\"", key), {.file = path});
  if (p["gpu"].is_null() && !(p.contains("gpu_note") && p["gpu_note"].is_string()))
    throw Error("results provenance has \"gpu\": null without a \"gpu_note\" saying why", {.file = path});
  for (const char* key : {"flags", "checkpoints", "datasets", "seeds"})
    if (!p[key].is_object()) throw Error(fmt::format("results provenance \"{}\" is not an object", key), {.file = path});
  const Roles roles = required_roles(kind);
  for (const auto& role : roles.checkpoints)
    if (!p["checkpoints"].contains(role))
      throw Error(fmt::format("{} results lack provenance.checkpoints.{}", kind, role), {.file = path});
  for (const auto& role : roles.datasets)
    if (!p["datasets"].contains(role))
      throw Error(fmt::format("{} results lack provenance.datasets.{}", kind, role), {.file = path});
  for (const auto& key : required_body_keys(kind))
    if (!j.contains(key))
      throw Error(fmt::format("{} results lack the \"{}\" key", kind, key), {.file = path});
  return {path, kind, std::move(j)};
}

ResultsFile load_results_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read the results file (no such file?)", {.file = path.string()});
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded())
    throw Error(fmt::format("not valid JSON (expected a {} results file)", kResultsSchema), {.file = path.string()});
  return parse_results(std::move(j), path.string());
}

}  // namespace qg
