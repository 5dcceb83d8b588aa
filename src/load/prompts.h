#pragma once
// Prompt sets for `quantgate bench`: random-token prompts of an exact length (by the model's tokenizer),
// a JSONL prompt file, and a shared-prefix variant. The tokenizer is behind TokenCounter so the load
// code does not depend on how text/ implements it.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "load/request_builder.h"

namespace qg::load {

class TokenCounter {
 public:
  virtual ~TokenCounter() = default;
  virtual std::vector<std::int32_t> encode(const std::string& text) const = 0;  // no special tokens
  virtual std::string decode(std::span<const std::int32_t> ids) const = 0;
  virtual std::size_t vocab_size() const = 0;
  virtual bool is_special(std::int32_t id) const = 0;
};

struct RandomPromptOptions {
  std::size_t count = 0;
  std::int64_t input_len = 0;        // tokens per prompt (shared prefix included)
  std::int64_t shared_prefix_len = 0;  // first tokens identical across prompts (prefix-cache workloads)
  std::uint64_t seed = 0;
};

// Random ids, decoded to text and re-encoded until encode(text) has exactly input_len tokens (text
// re-tokenizes differently from the random ids, so we iterate: cut or extend, re-encode). Prompts whose
// length could not be made exact keep n_tokens = their real count; the caller reports the mismatch.
std::vector<Prompt> random_token_prompts(const TokenCounter& tok, const RandomPromptOptions& options);

// Without a tokenizer: random lowercase words, about input_len tokens (n_tokens = -1: not exact).
std::vector<Prompt> random_word_prompts(const RandomPromptOptions& options);

// JSONL: one object per line with "prompt" (string) and optional "output_len"/"max_tokens" (int).
// Counts tokens with `tok` when given. Throws qg::Error naming the file and line.
std::vector<Prompt> load_prompt_file(const std::filesystem::path& path, const TokenCounter* tok);

}  // namespace qg::load
