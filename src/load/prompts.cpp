#include "load/prompts.h"

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace qg::load {

namespace {
std::vector<std::int32_t> random_ids(const TokenCounter& tok, std::mt19937_64& rng, std::int64_t n) {
  std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(tok.vocab_size()) - 1);
  std::vector<std::int32_t> ids;
  ids.reserve(static_cast<std::size_t>(n));
  while (static_cast<std::int64_t>(ids.size()) < n) {
    const std::int32_t id = pick(rng);
    if (!tok.is_special(id)) ids.push_back(id);
  }
  return ids;
}

// Text whose encoding has exactly `target` tokens, starting from random ids (best effort: returns the
// closest found and its real count).
std::pair<std::string, std::int64_t> exact_text(const TokenCounter& tok, std::mt19937_64& rng,
                                                const std::string& prefix, std::int64_t target) {
  std::vector<std::int32_t> ids = tok.encode(prefix);
  const std::int64_t prefix_n = static_cast<std::int64_t>(ids.size());
  if (prefix_n < target) {
    auto more = random_ids(tok, rng, target - prefix_n);
    ids.insert(ids.end(), more.begin(), more.end());
  }
  std::string text;
  std::int64_t n = -1;
  for (int iter = 0; iter < 32; ++iter) {
    text = tok.decode(ids);
    auto re = tok.encode(text);
    n = static_cast<std::int64_t>(re.size());
    if (n == target) break;
    if (n > target) {
      re.resize(static_cast<std::size_t>(target));
      ids = std::move(re);
    } else {
      ids = std::move(re);
      auto more = random_ids(tok, rng, target - n);
      ids.insert(ids.end(), more.begin(), more.end());
    }
  }
  return {text, n};
}
}  // namespace

std::vector<Prompt> random_token_prompts(const TokenCounter& tok, const RandomPromptOptions& o) {
  if (o.input_len <= 0) throw Error("--input-len must be positive");
  if (tok.vocab_size() == 0) throw Error("tokenizer has an empty vocabulary");
  std::mt19937_64 rng(o.seed);
  std::string prefix;
  if (o.shared_prefix_len > 0) prefix = exact_text(tok, rng, "", std::min(o.shared_prefix_len, o.input_len)).first;
  std::vector<Prompt> out;
  out.reserve(o.count);
  for (std::size_t i = 0; i < o.count; ++i) {
    auto [text, n] = exact_text(tok, rng, prefix, o.input_len);
    out.push_back(Prompt{std::move(text), n, -1});
  }
  return out;
}

std::vector<Prompt> random_word_prompts(const RandomPromptOptions& o) {
  static const char* kWords[] = {"time", "river", "stone", "light", "green", "paper", "music", "north",
                                 "table", "cloud", "seven", "quiet", "bread", "glass", "horse", "winter"};
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int> pick(0, 15);
  std::string prefix;
  for (std::int64_t i = 0; i < o.shared_prefix_len; ++i) prefix += std::string(i ? " " : "") + kWords[pick(rng)];
  std::vector<Prompt> out;
  for (std::size_t p = 0; p < o.count; ++p) {
    std::string text = prefix;
    for (std::int64_t i = o.shared_prefix_len; i < o.input_len; ++i)
      text += std::string(text.empty() ? "" : " ") + kWords[pick(rng)];
    out.push_back(Prompt{std::move(text), -1, -1});
  }
  return out;
}

std::vector<Prompt> load_prompt_file(const std::filesystem::path& path, const TokenCounter* tok) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open prompt file", {.file = path.string()});
  std::vector<Prompt> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("prompt") || !j["prompt"].is_string())
      throw Error("line " + std::to_string(line_no) + ": expected a JSON object with a string \"prompt\"",
                  {.file = path.string()});
    Prompt p;
    p.text = j["prompt"].get<std::string>();
    for (const char* k : {"output_len", "max_tokens"})
      if (j.contains(k) && j[k].is_number_integer()) p.output_len = j[k].get<std::int64_t>();
    if (tok) p.n_tokens = static_cast<std::int64_t>(tok->encode(p.text).size());
    out.push_back(std::move(p));
  }
  if (out.empty()) throw Error("prompt file has no prompts", {.file = path.string()});
  return out;
}

}  // namespace qg::load
