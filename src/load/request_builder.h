#pragma once
// Request bodies for OpenAI-compatible streaming endpoints, as `vllm bench serve` sends them
// (docs/serving-protocols.md §2): stream=true, stream_options.include_usage, ignore_eos for fixed output
// lengths, and for chat both max_completion_tokens and max_tokens (older llama.cpp ignores the former).
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace qg::load {

enum class Endpoint { kCompletions, kChat };

Endpoint parse_endpoint(const std::string& name);  // "completions" | "chat" | a path ending in either
const char* endpoint_path(Endpoint e);              // "/v1/completions" | "/v1/chat/completions"

struct Prompt {
  std::string text;
  std::int64_t n_tokens = -1;        // exact count by our tokenizer; -1 when unknown
  std::int64_t output_len = -1;      // per-prompt output length (prompt files); -1 = the run's --output-len
};

struct RequestOptions {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::int64_t max_tokens = 128;
  bool ignore_eos = true;
  std::optional<double> temperature;
  bool include_usage = true;
  nlohmann::json extra_body = nlohmann::json::object();  // merged last (--extra-body)
};

std::string build_request_body(const RequestOptions& options, const Prompt& prompt);

}  // namespace qg::load
