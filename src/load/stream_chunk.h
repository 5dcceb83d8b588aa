#pragma once
// One decoded OpenAI streaming chunk (the JSON of one SSE event) of /v1/completions or
// /v1/chat/completions, reduced to what timing needs. Unknown keys and explicit nulls are ignored (vLLM,
// SGLang and llama.cpp all add extensions); see docs/serving-protocols.md §1.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qg::load {

struct Usage {
  std::int64_t prompt_tokens = -1;
  std::int64_t completion_tokens = -1;
};

struct StreamChunk {
  bool valid_json = false;      // false: the data was not a JSON object (malformed chunk)
  std::string parse_error;      // why, when !valid_json
  int n_choices = 0;            // choices[] size (vllm bench serve's "token event" = n_choices > 0)
  std::string content;          // choices[0].text (completions) or .delta.content (chat)
  std::string reasoning;        // delta.reasoning / delta.reasoning_content
  bool has_role = false;        // delta.role present (chat role-only first chunk)
  std::string finish_reason;    // empty while streaming
  std::optional<Usage> usage;   // present when the chunk carries a non-null usage object
  std::optional<std::int64_t> n_tokens_hint;  // tokens in this chunk when the server says (token_ids size)
  bool is_error = false;        // a top-level "error" object (mid-stream error event)
  std::string error_message;
  std::string model;            // "model" when present
  std::string system_fingerprint;

  bool has_text() const { return !content.empty() || !reasoning.empty(); }
};

StreamChunk parse_stream_chunk(std::string_view data);

}  // namespace qg::load
