#include "load/stream_chunk.h"

#include <nlohmann/json.hpp>

namespace qg::load {

namespace {
std::string string_or_empty(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}
std::int64_t int_or(const nlohmann::json& obj, const char* key, std::int64_t fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return fallback;
  return it->get<std::int64_t>();
}
}  // namespace

StreamChunk parse_stream_chunk(std::string_view data) {
  StreamChunk c;
  nlohmann::json j = nlohmann::json::parse(data.begin(), data.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    c.parse_error = j.is_discarded() ? "not valid JSON" : "JSON is not an object";
    return c;
  }
  c.valid_json = true;
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    c.is_error = true;
    if (e->is_object()) {
      c.error_message = string_or_empty(*e, "message");
      if (c.error_message.empty()) c.error_message = e->dump();
    } else {
      c.error_message = e->is_string() ? e->get<std::string>() : e->dump();
    }
  } else if (string_or_empty(j, "object") == "error") {  // older flat vLLM/SGLang error shape
    c.is_error = true;
    c.error_message = string_or_empty(j, "message");
  }
  c.model = string_or_empty(j, "model");
  c.system_fingerprint = string_or_empty(j, "system_fingerprint");
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    c.usage = Usage{int_or(*u, "prompt_tokens", -1), int_or(*u, "completion_tokens", -1)};
  }
  auto ch = j.find("choices");
  if (ch != j.end() && ch->is_array()) {
    c.n_choices = static_cast<int>(ch->size());
    if (!ch->empty() && (*ch)[0].is_object()) {
      const auto& c0 = (*ch)[0];
      c.finish_reason = string_or_empty(c0, "finish_reason");
      c.content = string_or_empty(c0, "text");
      if (auto d = c0.find("delta"); d != c0.end() && d->is_object()) {
        c.has_role = d->contains("role");
        c.content += string_or_empty(*d, "content");
        c.reasoning = string_or_empty(*d, "reasoning_content");
        if (c.reasoning.empty()) c.reasoning = string_or_empty(*d, "reasoning");
      }
      if (auto t = c0.find("token_ids"); t != c0.end() && t->is_array())
        c.n_tokens_hint = static_cast<std::int64_t>(t->size());
    }
  }
  return c;
}

}  // namespace qg::load
