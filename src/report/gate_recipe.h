#pragma once
// The recipe `quantgate gate RECIPE.json` runs (schema "quantgate.recipe/1", documented in evals/README.md):
// reference and candidate checkpoints (the candidate optionally made by `quantize` from the reference), KL
// and MMLU settings, targets, device, an optional bench endpoint and the card to fill. Parsing is strict: a
// missing required key, a key this version does not know, or a value of the wrong type is a qg::Error naming
// the recipe file and the key. Keys starting with "_" (e.g. "_why") are comments, allowed in every object.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg::gate {

inline constexpr const char* kRecipeSchema = "quantgate.recipe/1";
// Paths starting with this prefix are inside the output directory (so `--out DIR` moves them too).
inline constexpr const char* kOutPrefix = "{out}/";

struct QuantizeStep {
  std::string scheme;  // W4A16, W4A16_ASYM, W8A16 (checked by `quantize` itself)
  std::optional<std::int64_t> group_size;
  std::vector<std::string>
      ignore;  // patterns kept unquantized beyond quantize's default list (the model card's)
};

struct Checkpoint {
  std::string label, path;
  std::optional<QuantizeStep> quantize;  // candidate only: made from the reference when missing or stale
};

struct KlStep {
  std::string corpus;
  std::int64_t ctx = 2048, max_chunks = 0;
  std::string score_from = "half";
  std::uint64_t seed = 1234;
};

struct MmluStep {
  std::string data;
  int shots = 5;
  std::vector<std::string> subjects;  // empty: all 57
  std::int64_t limit = 0;             // 0: every test question
  bool chat = false;
  std::uint64_t seed = 1234;
};

struct BenchStep {
  std::string base_url, model, endpoint, tokenizer;
  std::vector<std::int64_t> max_concurrency{1, 8};
  std::int64_t input_len = 32768, output_len = 256, num_prompts = 0, num_warmups = -1;
  std::optional<std::int64_t> server_pid;
};

struct Targets {
  double kl_mean_max = 0.014;       // pass: mean KL < this (the card's "< 0.014")
  double mmlu_recovery_min = 0.99;  // pass: recovery >= this (the card's "≥ 99%")
};

struct Recipe {
  std::string path;  // the recipe file, for messages
  std::string name, description, output_dir, device = "cpu";
  std::int64_t threads = 0;  // CPU engine threads (0: all)
  Checkpoint reference, candidate;
  std::optional<KlStep> kl;
  std::optional<MmluStep> mmlu;
  std::optional<BenchStep> bench;
  Targets targets;
  std::string card_template, card_out = "{out}/README.md";  // card_template empty: no card
};

// Parses and validates; `path` names the file in errors.
Recipe parse_recipe(const nlohmann::json& j, const std::string& path);
Recipe load_recipe(const std::filesystem::path& path);

// `p` with a leading "{out}/" replaced by `out_dir`; other paths unchanged.
std::filesystem::path resolve_path(const std::string& p, const std::filesystem::path& out_dir);

}  // namespace qg::gate
