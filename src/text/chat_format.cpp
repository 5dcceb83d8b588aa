#include "text/chat_format.h"

#include <fmt/format.h>

#include "common/error.h"
#include "text/unicode.h"

namespace qg::text {

namespace {

// Families we recognise but do not format, so the error can say what the template is.
std::string guess_family(const std::string& tpl) {
  struct Marker {
    const char* text;
    const char* family;
  };
  const Marker markers[] = {
      {"<|im_start|>", "ChatML (Qwen, SmolLM, ...)"},
      {"<|start_header_id|>", "Llama 3"},
      {"[INST]", "Llama 2 / Mistral"},
      {"<|user|>", "Phi-3 / Zephyr"},
      {"<|start_of_role|>", "Granite"},
      {"<｜User｜>", "DeepSeek"},
  };
  for (const auto& m : markers)
    if (tpl.find(m.text) != std::string::npos) return fmt::format("it looks like {} (uses '{}')", m.family, m.text);
  return "no known turn markers found";
}

std::string first_line(const std::string& s, std::size_t max_chars) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

bool contains(const std::string& s, std::string_view needle) { return s.find(needle) != std::string::npos; }

// Gemma 4's strip_thinking macro: drops "<|channel>...<channel|>" thought blocks, then trims.
std::string strip_thinking(const std::string& text) {
  std::string result;
  const std::string close = "<channel|>", open = "<|channel>";
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(close, start);
    const std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const std::size_t o = part.find(open);
    result += o == std::string::npos ? part : part.substr(0, o);
    if (end == std::string::npos) break;
    start = end + close.size();
  }
  return python_strip(result);
}

void check_role(const ChatMessage& m, std::initializer_list<const char*> allowed, const char* format) {
  for (const char* a : allowed)
    if (m.role == a) return;
  throw Error(fmt::format("chat role '{}' is not supported by the {} format (expected one of: {})", m.role, format, fmt::join(allowed, ", ")));
}

std::string render_gemma3(const ChatFormat& f, std::span<const ChatMessage> messages, const ChatOptions& o) {
  std::string out = f.bos_token;
  std::string first_user_prefix;
  std::size_t begin = 0;
  if (!messages.empty() && messages[0].role == "system") {
    first_user_prefix = messages[0].content + "\n\n";  // not trimmed, as in the template
    begin = 1;
  }
  for (std::size_t i = begin; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    check_role(m, {"user", "assistant", "model"}, "Gemma 3");
    const std::size_t k = i - begin;
    if ((m.role == "user") != (k % 2 == 0))
      throw Error("Conversation roles must alternate user/assistant/user/assistant/... (Gemma 3 chat template)");
    const std::string role = m.role == "assistant" ? "model" : m.role;
    out += "<start_of_turn>" + role + "\n" + (k == 0 ? first_user_prefix : std::string());
    out += python_strip(m.content);  // Jinja's trim is Python str.strip()
    out += "<end_of_turn>\n";
  }
  if (o.add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

std::string render_gemma4(const ChatFormat& f, std::span<const ChatMessage> messages, const ChatOptions& o) {
  std::string out = f.bos_token;
  std::size_t begin = 0;
  const bool has_system = !messages.empty() && (messages[0].role == "system" || messages[0].role == "developer");
  if (o.enable_thinking || has_system) {
    out += "<|turn>system\n";
    if (o.enable_thinking) out += "<|think|>\n";
    if (has_system) {
      out += python_strip(messages[0].content);
      begin = 1;
    }
    out += "<turn|>\n";
  }
  std::string prev_role;
  for (std::size_t i = begin; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    check_role(m, {"user", "assistant", "model"}, "Gemma 4");
    const std::string role = m.role == "assistant" ? "model" : m.role;
    // Consecutive assistant messages continue one model turn (the template's continue_same_model_turn).
    if (!(role == "model" && prev_role == "assistant")) out += "<|turn>" + role + "\n";
    out += role == "model" ? strip_thinking(m.content) : python_strip(m.content);
    out += "<turn|>\n";
    prev_role = m.role;
  }
  if (o.add_generation_prompt) {
    out += "<|turn>model\n";
    if (o.enable_thinking && f.open_thought_when_thinking) out += "<|channel>thought\n";
    if (!o.enable_thinking && f.empty_thought_block_when_not_thinking) out += "<|channel>thought\n<channel|>";
  }
  return out;
}

}  // namespace

ChatFormat detect_chat_format(const std::optional<std::string>& chat_template, const std::string& template_source,
                              const std::function<bool(std::string_view)>& has_token, const std::string& bos_token,
                              const std::string& where) {
  ChatFormat f;
  f.bos_token = bos_token;
  bool gemma4 = false, gemma3 = false;
  if (chat_template && !chat_template->empty()) {
    const std::string& t = *chat_template;
    gemma4 = contains(t, "<|turn>");
    gemma3 = !gemma4 && contains(t, "<start_of_turn>");
    if (!gemma4 && !gemma3)
      throw Error(fmt::format("unknown chat template in {} (\"{}\"): {}; quantgate formats Gemma 4 (<|turn>) and Gemma 3 "
                              "(<start_of_turn>) chats only",
                              template_source, first_line(t, 70), guess_family(t)),
                  {.file = where});
    f.evidence = fmt::format("{} uses '{}'", template_source, gemma4 ? "<|turn>" : "<start_of_turn>");
    if (gemma4) {
      // The generation-prompt tail differs between Gemma 4 template revisions; read it from the part of
      // the template after its last add_generation_prompt test (earlier thought blocks render history).
      // Jinja source writes the newline as the two characters '\' 'n'.
      const std::size_t gen = t.rfind("add_generation_prompt");
      const std::string tail = gen == std::string::npos ? std::string() : t.substr(gen);
      f.empty_thought_block_when_not_thinking =
          contains(tail, "'<|channel>thought\\n<channel|>'") || contains(tail, "'<|channel>thought\n<channel|>'");
      f.open_thought_when_thinking = contains(tail, "'<|channel>thought\\n'") || contains(tail, "'<|channel>thought\n'");
    }
    if (!contains(t, "bos_token") && !bos_token.empty() && !contains(t, bos_token)) f.bos_token.clear();
  } else {
    gemma4 = has_token("<|turn>") && has_token("<turn|>");
    gemma3 = !gemma4 && has_token("<start_of_turn>") && has_token("<end_of_turn>");
    if (!gemma4 && !gemma3)
      throw Error("no chat template, and neither Gemma 4 (<|turn>, <turn|>) nor Gemma 3 (<start_of_turn>, <end_of_turn>) turn tokens "
                  "in the vocabulary: unknown chat format",
                  {.file = where, .hint = "instruction checkpoints ship a chat_template in tokenizer_config.json or chat_template.jinja"});
    f.evidence = fmt::format("no chat template; the vocabulary has {}", gemma4 ? "<|turn> and <turn|>" : "<start_of_turn> and <end_of_turn>");
  }
  f.kind = gemma4 ? ChatFormatKind::kGemma4 : ChatFormatKind::kGemma3;
  f.name = gemma4 ? "Gemma 4 (<|turn>role ... <turn|>)" : "Gemma 3 (<start_of_turn>role ... <end_of_turn>)";
  // The turn markers must be single tokens of this vocabulary, or the prompt would be tokenized as text.
  const std::vector<std::string> markers = gemma4 ? std::vector<std::string>{"<|turn>", "<turn|>"}
                                                 : std::vector<std::string>{"<start_of_turn>", "<end_of_turn>"};
  for (const std::string& tok : markers)
    if (!has_token(tok))
      throw Error(fmt::format("the {} chat format needs the token '{}', which this tokenizer does not have", gemma4 ? "Gemma 4" : "Gemma 3", tok),
                  {.file = where, .hint = "the chat template and tokenizer.json come from different checkpoints?"});
  return f;
}

ChatFormat detect_chat_format(const Tokenizer& tokenizer) {
  const auto& cfg = tokenizer.config();
  auto has_token = [&](std::string_view t) { return tokenizer.token_to_id(t).has_value(); };
  const std::string where = cfg.present ? cfg.path.string() : tokenizer.json_path().string();
  return detect_chat_format(cfg.chat_template, cfg.chat_template_source, has_token, tokenizer.bos_rule().bos_token, where);
}

std::string render_chat(const ChatFormat& format, std::span<const ChatMessage> messages, const ChatOptions& options) {
  return format.kind == ChatFormatKind::kGemma4 ? render_gemma4(format, messages, options) : render_gemma3(format, messages, options);
}

std::vector<TokenId> encode_chat(const Tokenizer& tokenizer, const ChatFormat& format, std::span<const ChatMessage> messages,
                                 const ChatOptions& options) {
  return tokenizer.encode(render_chat(format, messages, options), false, "chat messages");
}

}  // namespace qg::text
