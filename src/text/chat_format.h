#pragma once
// Chat formatting for instruction-tuned checkpoints without a Jinja engine. We recognise the turn
// format of the checkpoint's own chat template (or, without one, its turn tokens) and render it in C++:
//   Gemma 4: <bos><|turn>system\n...<turn|>\n<|turn>user\n...<turn|>\n<|turn>model\n
//   Gemma 3: <bos><start_of_turn>user\n[system\n\n]...<end_of_turn>\n<start_of_turn>model\n
// A template we do not know is a qg::Error that names it (and the family it looks like), never a
// silent fallback. The renderers reproduce the official templates' string output exactly (checked
// against Jinja renders in tests).
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace qg::text {

struct ChatMessage {
  std::string role;  // "system", "developer" (Gemma 4), "user", "assistant" (rendered as "model")
  std::string content;
};

enum class ChatFormatKind { kGemma3, kGemma4 };

struct ChatFormat {
  ChatFormatKind kind = ChatFormatKind::kGemma3;
  std::string name;       // "Gemma 4 (<|turn>role ... <turn|>)"
  std::string bos_token;  // what the template puts first ("<bos>")
  // Gemma 4 26B/31B-style templates close an empty thought block after the generation prompt when
  // thinking is off; E2B/E4B-style ones do not. Read from the template text.
  bool empty_thought_block_when_not_thinking = false;
  // The llama.cpp/Google 31B template opens "<|channel>thought\n" after the generation prompt when
  // thinking is on.
  bool open_thought_when_thinking = false;
  std::string evidence;   // why this format was chosen
};

struct ChatOptions {
  bool add_generation_prompt = true;
  bool enable_thinking = false;  // Gemma 4 only: <|think|> in the system turn
};

// From the tokenizer's chat template (tokenizer_config.json / chat_template.jinja), else its turn tokens.
ChatFormat detect_chat_format(const Tokenizer& tokenizer);
// The same from parts: `chat_template` may be empty (none); `has_token` says whether a token string
// exists; `where` names the source for errors.
ChatFormat detect_chat_format(const std::optional<std::string>& chat_template, const std::string& template_source,
                              const std::function<bool(std::string_view)>& has_token, const std::string& bos_token,
                              const std::string& where);

// The prompt text, as apply_chat_template(messages, tokenize=False, add_generation_prompt=...) renders it.
std::string render_chat(const ChatFormat& format, std::span<const ChatMessage> messages, const ChatOptions& options = {});

// Its ids: encode(render_chat(...), add_special_tokens=false), as apply_chat_template(tokenize=True) does
// (the template already wrote the BOS).
std::vector<TokenId> encode_chat(const Tokenizer& tokenizer, const ChatFormat& format, std::span<const ChatMessage> messages,
                                 const ChatOptions& options = {});

}  // namespace qg::text
