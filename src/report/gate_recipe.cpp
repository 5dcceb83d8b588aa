#include "report/gate_recipe.h"

#include <fmt/format.h>

#include <fstream>
#include <set>

#include "common/error.h"

namespace qg::gate {

namespace {

// One JSON object of the recipe: typed getters that name the key ("kl.ctx") and the file in every error, and
// a final check that no key was left unread (a typo like "max_chunk" must not be silently ignored).
class Section {
 public:
  Section(const nlohmann::json& j, std::string where, const std::string& file)
      : j_(j), where_(std::move(where)), file_(file) {
    if (!j_.is_object()) fail(where_.empty() ? "the recipe" : where_, "must be a JSON object");
  }

  bool has(const std::string& key) {
    seen_.insert(key);
    return j_.contains(key) && !j_[key].is_null();
  }
  std::string str(const std::string& key, const std::optional<std::string>& dflt = std::nullopt) {
    if (!has(key)) return required(key, dflt);
    if (!j_[key].is_string() || j_[key].get<std::string>().empty())
      fail(name(key), "must be a non-empty string");
    return j_[key].get<std::string>();
  }
  std::int64_t integer(const std::string& key, std::int64_t dflt, std::int64_t min) {
    if (!has(key)) return dflt;
    if (!j_[key].is_number_integer() || j_[key].get<std::int64_t>() < min)
      fail(name(key), fmt::format("must be an integer >= {}", min));
    return j_[key].get<std::int64_t>();
  }
  double number(const std::string& key, double dflt) {
    if (!has(key)) return dflt;
    if (!j_[key].is_number()) fail(name(key), "must be a number");
    return j_[key].get<double>();
  }
  bool boolean(const std::string& key, bool dflt) {
    if (!has(key)) return dflt;
    if (!j_[key].is_boolean()) fail(name(key), "must be true or false");
    return j_[key].get<bool>();
  }
  std::vector<std::string> strings(const std::string& key) {
    if (!has(key)) return {};
    std::vector<std::string> out;
    if (!j_[key].is_array()) fail(name(key), "must be an array of strings");
    for (const auto& v : j_[key]) {
      if (!v.is_string() || v.get<std::string>().empty())
        fail(name(key), "must be an array of non-empty strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  std::vector<std::int64_t> integers(const std::string& key, std::vector<std::int64_t> dflt) {
    if (!has(key)) return dflt;
    std::vector<std::int64_t> out;
    if (!j_[key].is_array() || j_[key].empty()) fail(name(key), "must be a non-empty array of integers");
    for (const auto& v : j_[key]) {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
        fail(name(key), "must be an array of integers >= 1");
      out.push_back(v.get<std::int64_t>());
    }
    return out;
  }
  // A nested object; nullopt when absent or null (optional sections).
  std::optional<Section> child(const std::string& key) {
    if (!has(key)) return std::nullopt;
    return Section(j_[key], name(key), file_);
  }
  Section required_child(const std::string& key) {
    if (!has(key)) fail(name(key), "is required (an object)");
    return Section(j_[key], name(key), file_);
  }
  // Call last: every key must have been read, except comments ("_why", "_note", ...).
  void no_unknown_keys() const {
    for (const auto& [k, v] : j_.items())
      if (!seen_.count(k) && (k.empty() || k[0] != '_'))
        fail(name(k), "is not a recipe key (a typo?) — keys starting with '_' are comments");
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("recipe key '{}' {}", key, what),
                {.file = file_, .hint = "the recipe schema is in evals/README.md"});
  }
  std::string name(const std::string& key) const { return where_.empty() ? key : where_ + "." + key; }

 private:
  std::string required(const std::string& key, const std::optional<std::string>& dflt) {
    if (!dflt) fail(name(key), "is required");
    return *dflt;
  }
  const nlohmann::json& j_;
  std::string where_;
  const std::string& file_;
  std::set<std::string> seen_;
};

Checkpoint parse_checkpoint(Section s, bool candidate) {
  Checkpoint c;
  c.path = s.str("path");
  c.label = s.str("label", c.path);
  if (candidate) {
    if (auto q = s.child("quantize")) {
      QuantizeStep step;
      const std::string from = q->str("from", std::string("reference"));
      if (from != "reference")
        q->fail(q->name("from"), "must be \"reference\" (the only checkpoint a recipe names to quantize)");
      step.scheme = q->str("scheme");
      if (q->has("group_size")) step.group_size = q->integer("group_size", 0, -1);
      step.ignore = q->strings("ignore");
      q->no_unknown_keys();
      c.quantize = step;
    }
  }
  s.no_unknown_keys();
  return c;
}

KlStep parse_kl(Section s) {
  KlStep k;
  k.corpus = s.str("corpus");
  k.ctx = s.integer("ctx", k.ctx, 2);
  k.score_from = s.str("score_from", k.score_from);
  k.max_chunks = s.integer("max_chunks", k.max_chunks, 0);
  k.seed = static_cast<std::uint64_t>(s.integer("seed", static_cast<std::int64_t>(k.seed), 0));
  s.no_unknown_keys();
  return k;
}

MmluStep parse_mmlu(Section s) {
  MmluStep m;
  m.data = s.str("data");
  m.shots = static_cast<int>(s.integer("shots", m.shots, 0));
  if (m.shots > 5) s.fail(s.name("shots"), "must be 0..5 (MMLU has 5 dev examples per subject)");
  m.subjects = s.strings("subjects");
  m.limit = s.integer("limit", m.limit, 0);
  m.chat = s.boolean("chat", m.chat);
  m.seed = static_cast<std::uint64_t>(s.integer("seed", static_cast<std::int64_t>(m.seed), 0));
  s.no_unknown_keys();
  return m;
}

BenchStep parse_bench(Section s) {
  BenchStep b;
  b.base_url = s.str("base_url");
  b.model = s.str("model", std::string());
  b.endpoint = s.str("endpoint", std::string());
  b.tokenizer = s.str("tokenizer", std::string());
  b.max_concurrency = s.integers("max_concurrency", b.max_concurrency);
  b.input_len = s.integer("input_len", b.input_len, 1);
  b.output_len = s.integer("output_len", b.output_len, 1);
  b.num_prompts = s.integer("num_prompts", b.num_prompts, 0);
  b.num_warmups = s.integer("num_warmups", b.num_warmups, -1);
  if (s.has("server_pid")) b.server_pid = s.integer("server_pid", 0, 1);
  s.no_unknown_keys();
  return b;
}

}  // namespace

Recipe parse_recipe(const nlohmann::json& j, const std::string& path) {
  Section top(j, "", path);
  Recipe r;
  r.path = path;
  if (!top.has("schema")) top.fail("schema", fmt::format("is required (\"{}\")", kRecipeSchema));
  const auto& schema = j["schema"];
  if (!schema.is_string() || schema.get<std::string>() != kRecipeSchema)
    top.fail("schema", fmt::format("is {}, expected \"{}\" (this quantgate reads that recipe version only)",
                                   schema.dump(), kRecipeSchema));
  r.name = top.str("name");
  r.description = top.str("description", std::string());
  r.output_dir = top.str("output_dir", std::string());
  r.device = top.str("device", r.device);
  r.threads = top.integer("threads", r.threads, 0);
  r.reference = parse_checkpoint(top.required_child("reference"), false);
  r.candidate = parse_checkpoint(top.required_child("candidate"), true);
  if (auto k = top.child("kl")) r.kl = parse_kl(*k);
  if (auto m = top.child("mmlu")) r.mmlu = parse_mmlu(*m);
  if (auto b = top.child("bench")) r.bench = parse_bench(*b);
  if (auto t = top.child("targets")) {
    r.targets.kl_mean_max = t->number("kl_mean_max", r.targets.kl_mean_max);
    r.targets.mmlu_recovery_min = t->number("mmlu_recovery_min", r.targets.mmlu_recovery_min);
    if (r.targets.kl_mean_max <= 0) t->fail(t->name("kl_mean_max"), "must be > 0");
    if (r.targets.mmlu_recovery_min <= 0) t->fail(t->name("mmlu_recovery_min"), "must be > 0");
    t->no_unknown_keys();
  }
  if (auto c = top.child("card")) {
    r.card_template = c->str("template");
    r.card_out = c->str("out", r.card_out);
    c->no_unknown_keys();
  }
  top.no_unknown_keys();
  if (!r.kl && !r.mmlu) top.fail("kl", "or 'mmlu' is required: a gate with neither measures no target");
  if (r.candidate.path == r.reference.path) top.fail("candidate.path", "must differ from reference.path");
  return r;
}

Recipe load_recipe(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read the recipe (no such file?)", {.file = path.string()});
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("the recipe is not valid JSON: {}", e.what()), {.file = path.string()});
  }
  return parse_recipe(j, path.string());
}

std::filesystem::path resolve_path(const std::string& p, const std::filesystem::path& out_dir) {
  const std::string prefix = kOutPrefix;
  if (p.rfind(prefix, 0) == 0) return out_dir / p.substr(prefix.size());
  if (p == "{out}") return out_dir;
  return p;
}

}  // namespace qg::gate
