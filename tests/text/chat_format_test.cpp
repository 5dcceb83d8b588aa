// Chat formats: Gemma 4 renders against Jinja renders of Google's template (two revisions, see
// fixtures/text/chat_templates/PROVENANCE.md), detection, and errors for templates we do not know.
#include <set>
#include <string>
#include <vector>

#include "catch.h"
#include "test_paths.h"
#include "text/chat_format.h"
#include "text/golden_io.h"
#include "text/text_test_util.h"

using qg::test::contains;
using qg::test::error_of;
using namespace qg::text;

namespace {

// A vocabulary with both Gemma 3 and Gemma 4 turn tokens.
bool has_any_turn_token(std::string_view t) {
  static const std::set<std::string_view> known{"<|turn>", "<turn|>", "<start_of_turn>", "<end_of_turn>", "<bos>"};
  return known.count(t) > 0;
}

std::vector<ChatMessage> messages_of(const nlohmann::json& j) {
  std::vector<ChatMessage> out;
  for (const auto& m : j) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return out;
}

}  // namespace

TEST_CASE("Gemma 4 chat format renders like Google's Jinja template", "[text]") {
  const auto golden = qg::test::read_json(qg::test::fixtures_dir() / "text" / "gemma4_chat_cases.json");
  const auto dir = qg::test::fixtures_dir() / "text" / "chat_templates";
  int checked = 0;
  for (const auto& [file, renders] : golden["templates"].items()) {
    const std::string tpl = qg::test::read_bytes(dir / file);
    const ChatFormat f = detect_chat_format(tpl, file, has_any_turn_token, "<bos>", file);
    CHECK(f.kind == ChatFormatKind::kGemma4);
    for (const auto& c : renders) {
      INFO(file << " / " << c["name"].get<std::string>());
      ChatOptions opt;
      opt.add_generation_prompt = c["add_generation_prompt"].get<bool>();
      opt.enable_thinking = c["enable_thinking"].get<bool>();
      REQUIRE(c.contains("rendered"));
      CHECK(render_chat(f, messages_of(c["messages"]), opt) == c["rendered"].get<std::string>());
      ++checked;
    }
  }
  CHECK(checked >= 16);
}

TEST_CASE("Gemma 4 template revisions are told apart by their generation prompt", "[text]") {
  const auto dir = qg::test::fixtures_dir() / "text" / "chat_templates";
  const auto closing = detect_chat_format(qg::test::read_bytes(dir / "gemma4-31B-it.jinja"), "t", has_any_turn_token, "<bos>", "t");
  const auto opening = detect_chat_format(qg::test::read_bytes(dir / "gemma4-31B-it-open-thought.jinja"), "t", has_any_turn_token, "<bos>", "t");
  CHECK(closing.empty_thought_block_when_not_thinking);
  CHECK_FALSE(closing.open_thought_when_thinking);
  CHECK_FALSE(opening.empty_thought_block_when_not_thinking);
  CHECK(opening.open_thought_when_thinking);
  const std::vector<ChatMessage> msgs{{"user", "Hi"}};
  CHECK(render_chat(closing, msgs) == "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
  CHECK(render_chat(opening, msgs) == "<bos><|turn>user\nHi<turn|>\n<|turn>model\n");
}

TEST_CASE("chat format detection without a template uses the turn tokens", "[text]") {
  auto only_gemma3 = [](std::string_view t) { return t == "<start_of_turn>" || t == "<end_of_turn>"; };
  auto only_gemma4 = [](std::string_view t) { return t == "<|turn>" || t == "<turn|>"; };
  CHECK(detect_chat_format(std::nullopt, "", only_gemma3, "<bos>", "x").kind == ChatFormatKind::kGemma3);
  CHECK(detect_chat_format(std::nullopt, "", only_gemma4, "<bos>", "x").kind == ChatFormatKind::kGemma4);
  const std::string none = error_of([] { detect_chat_format(std::nullopt, "", [](std::string_view) { return false; }, "", "cfg.json"); });
  CHECK(contains(none, "cfg.json"));
  CHECK(contains(none, "unknown chat format"));
}

TEST_CASE("an unknown chat template is an error that names it", "[text]") {
  const std::string chatml =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
  const std::string e = error_of([&] {
    detect_chat_format(chatml, "tokenizer_config.json chat_template", has_any_turn_token, "", "/ckpt/tokenizer_config.json");
  });
  CHECK(contains(e, "/ckpt/tokenizer_config.json"));
  CHECK(contains(e, "unknown chat template"));
  CHECK(contains(e, "ChatML"));
  CHECK(contains(e, "{% for message in messages %}"));
  const std::string llama3 = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}";
  CHECK(contains(error_of([&] { detect_chat_format(llama3, "chat_template.jinja", has_any_turn_token, "", "x"); }), "Llama 3"));
}

TEST_CASE("a Gemma template whose turn tokens the vocabulary lacks is refused", "[text]") {
  auto gemma3_vocab = [](std::string_view t) { return t == "<start_of_turn>" || t == "<end_of_turn>"; };
  const std::string e = error_of([&] { detect_chat_format(std::string("{{ '<|turn>' + role }}"), "t", gemma3_vocab, "<bos>", "x"); });
  CHECK(contains(e, "<|turn>"));
  CHECK(contains(e, "different checkpoints"));
}

TEST_CASE("Gemma 3 refuses roles that do not alternate, as its template does", "[text]") {
  const auto f = detect_chat_format(std::string("<start_of_turn>"), "t", has_any_turn_token, "<bos>", "t");
  const std::vector<ChatMessage> bad{{"user", "a"}, {"user", "b"}};
  CHECK(contains(error_of([&] { render_chat(f, bad); }), "alternate"));
  const std::vector<ChatMessage> tool{{"tool", "x"}};
  CHECK(contains(error_of([&] { render_chat(f, tool); }), "role 'tool'"));
}
