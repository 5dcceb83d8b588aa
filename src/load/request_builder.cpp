#include "load/request_builder.h"

#include "common/error.h"

namespace qg::load {

Endpoint parse_endpoint(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (name == "chat" || ends_with("chat/completions")) return Endpoint::kChat;
  if (name == "completions" || ends_with("completions")) return Endpoint::kCompletions;
  throw Error("unknown endpoint '" + name + "'", {.hint = "use completions or chat (/v1/completions, /v1/chat/completions)"});
}

const char* endpoint_path(Endpoint e) {
  return e == Endpoint::kChat ? "/v1/chat/completions" : "/v1/completions";
}

std::string build_request_body(const RequestOptions& o, const Prompt& prompt) {
  nlohmann::ordered_json j;
  j["model"] = o.model;
  const std::int64_t max_tokens = prompt.output_len > 0 ? prompt.output_len : o.max_tokens;
  if (o.endpoint == Endpoint::kChat) {
    j["messages"] = nlohmann::ordered_json::array({{{"role", "user"}, {"content", prompt.text}}});
    j["max_completion_tokens"] = max_tokens;
    j["max_tokens"] = max_tokens;
  } else {
    j["prompt"] = prompt.text;
    j["max_tokens"] = max_tokens;
  }
  j["stream"] = true;
  if (o.include_usage) j["stream_options"] = {{"include_usage", true}};
  if (o.ignore_eos) j["ignore_eos"] = true;
  if (o.temperature) j["temperature"] = *o.temperature;
  for (auto it = o.extra_body.begin(); it != o.extra_body.end(); ++it) j[it.key()] = it.value();
  return j.dump();
}

}  // namespace qg::load
