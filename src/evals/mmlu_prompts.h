#pragma once
// lm-eval-harness's `mmlu` prompts (shared/docs/mmlu-lm-eval.md sections 2-4), byte for byte, and its
// HF-backend token split: _encode_pair moves the context's trailing whitespace into the continuation,
// encodes context+continuation and context, and takes the continuation's ids as the tail by length.
// BOS: plain prompts get exactly one BOS when the tokenizer's rule says the model expects one (Gemma:
// id 2), as lm-eval v0.4.4+ does for Gemma; chat prompts carry the template's own <bos> and get no other.
#include <array>
#include <string>
#include <vector>

#include "evals/mmlu_data.h"
#include "forward/forward.h"
#include "text/chat_format.h"
#include "text/tokenizer.h"

namespace qg::evals {

inline constexpr int kMmluMaxShots = 5;

// "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
std::string mmlu_description(const std::string& subject);
// question.strip() + "\nA. " + c0 + ... + "\nD. " + c3 + "\nAnswer:"
std::string mmlu_question_text(const MmluRecord& record);
// The plain (no chat template) context with the first k dev records as shots.
std::string mmlu_context(const std::string& subject, const std::vector<MmluRecord>& dev, const MmluRecord& record, int shots);
// The chat messages lm-eval builds for --apply_chat_template (multiturn: --fewshot_as_multiturn).
std::vector<text::ChatMessage> mmlu_chat_messages(const std::string& subject, const std::vector<MmluRecord>& dev,
                                                  const MmluRecord& record, int shots, bool fewshot_as_multiturn);

struct MmluPromptOptions {
  int shots = 5;  // 0..5
  bool chat = false;
  bool fewshot_as_multiturn = false;  // only with chat
};

// One test question ready to score: its exact strings and ids (context ids include the BOS).
struct MmluRequest {
  std::string subject;
  std::size_t index = 0;  // record number in test/<subject>_test.csv
  int gold = 0;
  std::string context;                        // the exact string (chat: the rendered template)
  std::array<std::string, 4> continuations;   // " A".." D" (chat: "A".."D")
  std::vector<TokenId> context_ids;           // after _encode_pair's whitespace move
  std::array<std::vector<TokenId>, 4> continuation_ids;
};

struct MmluTokenization {
  std::string bos_rule;  // stated in every report
  bool single_token_choices = true;  // every request's four continuations are one token each
};

// lm-eval's _encode_pair for a context and continuation; `prefix_ids` is put before the context ids.
void mmlu_encode_pair(const text::Tokenizer& tokenizer, const std::string& context, const std::string& continuation,
                      const std::vector<TokenId>& prefix_ids, std::vector<TokenId>& context_ids,
                      std::vector<TokenId>& continuation_ids);

// Every test question of `data` as a request (subjects in order, records in file order). Throws qg::Error
// for shots outside 0..5 or fewer dev records than shots (naming the subject).
std::vector<MmluRequest> build_mmlu_requests(const MmluData& data, const text::Tokenizer& tokenizer,
                                             const MmluPromptOptions& options, MmluTokenization* info = nullptr);

}  // namespace qg::evals
