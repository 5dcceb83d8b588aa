#include "evals/mmlu_prompts.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "text/unicode.h"

namespace qg::evals {

namespace {
constexpr const char* kLetters[4] = {"A", "B", "C", "D"};

// Python's len(s) - len(s.rstrip()) in bytes: python_strip("x" + s) strips only the tail.
std::size_t trailing_space_bytes(const std::string& s) {
  const std::string stripped = text::python_strip("x" + s);
  return s.size() + 1 - stripped.size();
}
}  // namespace

std::string mmlu_description(const std::string& subject) {
  std::string s = subject;
  std::replace(s.begin(), s.end(), '_', ' ');
  return "The following are multiple choice questions (with answers) about " + s + ".\n\n";
}

std::string mmlu_question_text(const MmluRecord& r) {
  return text::python_strip(r.question) + "\nA. " + r.choices[0] + "\nB. " + r.choices[1] + "\nC. " + r.choices[2] +
         "\nD. " + r.choices[3] + "\nAnswer:";
}

std::string mmlu_context(const std::string& subject, const std::vector<MmluRecord>& dev, const MmluRecord& record, int shots) {
  if (shots < 0 || shots > kMmluMaxShots || static_cast<std::size_t>(shots) > dev.size())
    throw Error(fmt::format("subject '{}': {} shots asked, {} dev records (0..5 allowed)", subject, shots, dev.size()));
  std::string out = mmlu_description(subject);
  for (int i = 0; i < shots; ++i) out += mmlu_question_text(dev[i]) + " " + kLetters[dev[i].answer] + "\n\n";
  return out + mmlu_question_text(record);
}

std::vector<text::ChatMessage> mmlu_chat_messages(const std::string& subject, const std::vector<MmluRecord>& dev,
                                                  const MmluRecord& record, int shots, bool multiturn) {
  if (shots < 0 || shots > kMmluMaxShots || static_cast<std::size_t>(shots) > dev.size())
    throw Error(fmt::format("subject '{}': {} shots asked, {} dev records (0..5 allowed)", subject, shots, dev.size()));
  std::string desc = mmlu_description(subject);
  std::vector<text::ChatMessage> msgs;
  msgs.push_back({"system", desc});
  if (multiturn) {
    for (int i = 0; i < shots; ++i) {
      msgs.push_back({"user", mmlu_question_text(dev[i])});
      msgs.push_back({"assistant", kLetters[dev[i].answer]});
    }
    msgs.push_back({"user", mmlu_question_text(record)});
  } else {
    const std::string ctx = mmlu_context(subject, dev, record, shots);
    msgs.push_back({"user", ctx.substr(desc.size())});
  }
  return msgs;
}

void mmlu_encode_pair(const text::Tokenizer& tokenizer, const std::string& context_in, const std::string& continuation_in,
                      const std::vector<TokenId>& prefix_ids, std::vector<TokenId>& context_ids,
                      std::vector<TokenId>& continuation_ids) {
  std::string context = context_in, continuation = continuation_in;
  if (const std::size_t n = trailing_space_bytes(context); n > 0) {
    continuation = context.substr(context.size() - n) + continuation;
    context.resize(context.size() - n);
  }
  const auto whole = tokenizer.encode(context + continuation, false, "MMLU prompt");
  const auto ctx = tokenizer.encode(context, false, "MMLU prompt");
  context_ids = prefix_ids;
  context_ids.insert(context_ids.end(), ctx.begin(), ctx.end());
  const std::size_t n_ctx = std::min(ctx.size(), whole.size());
  continuation_ids.assign(whole.begin() + static_cast<std::ptrdiff_t>(n_ctx), whole.end());
  if (continuation_ids.empty())
    throw Error(fmt::format("continuation '{}' encodes to no tokens after its context", continuation_in));
}

std::vector<MmluRequest> build_mmlu_requests(const MmluData& data, const text::Tokenizer& tokenizer,
                                             const MmluPromptOptions& options, MmluTokenization* info) {
  if (options.shots < 0 || options.shots > kMmluMaxShots)
    throw Error(fmt::format("--shots {}: lm-eval's MMLU allows 0..5 (each dev split has 5 records)", options.shots));
  std::vector<TokenId> bos;
  std::string rule;
  std::optional<text::ChatFormat> format;
  if (options.chat) {
    format = text::detect_chat_format(tokenizer);
    rule = fmt::format("chat ({}): the template's own {} only, no second BOS (lm-eval >= v0.4.9.2); continuations without "
                       "a leading space; fewshot_as_multiturn={}",
                       format->name, format->bos_token, options.fewshot_as_multiturn);
  } else {
    const auto& b = tokenizer.bos_rule();
    if (b.model_expects_bos) {
      if (!b.bos_id) throw Error("the tokenizer says the model expects a BOS but defines none", {.file = tokenizer.json_path().string()});
      bos.push_back(*b.bos_id);
      rule = fmt::format("exactly one BOS {} (id {}) before the context (lm-eval >= v0.4.4 for Gemma); {}", b.bos_token, *b.bos_id, b.source);
    } else {
      rule = fmt::format("no BOS (the tokenizer adds none); {}", b.source);
    }
  }
  std::vector<MmluRequest> out;
  out.reserve(data.n_test());
  bool single = true;
  for (const auto& s : data.subjects) {
    if (static_cast<std::size_t>(options.shots) > s.dev.size())
      throw Error(fmt::format("subject '{}': {} shots asked but dev has {} records", s.info.subject, options.shots, s.dev.size()));
    for (const auto& rec : s.test) {
      MmluRequest r;
      r.subject = s.info.subject;
      r.index = rec.index;
      r.gold = rec.answer;
      if (options.chat) {
        const auto msgs = mmlu_chat_messages(s.info.subject, s.dev, rec, options.shots, options.fewshot_as_multiturn);
        r.context = text::render_chat(*format, msgs);
      } else {
        r.context = mmlu_context(s.info.subject, s.dev, rec, options.shots);
      }
      for (int c = 0; c < 4; ++c) {
        r.continuations[c] = options.chat ? std::string(kLetters[c]) : std::string(" ") + kLetters[c];
        std::vector<TokenId> ctx;
        mmlu_encode_pair(tokenizer, r.context, r.continuations[c], bos, ctx, r.continuation_ids[c]);
        if (c == 0) r.context_ids = std::move(ctx);
        else if (ctx != r.context_ids) throw Error("context ids differ between choices (internal)");
        if (r.continuation_ids[c].size() != 1) single = false;
      }
      out.push_back(std::move(r));
    }
  }
  if (info) {
    info->bos_rule = rule;
    info->single_token_choices = single;
  }
  return out;
}

}  // namespace qg::evals
