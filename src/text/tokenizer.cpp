// Encoding and decoding with a loaded tokenizer (the pipeline of tokenizers' TokenizerImpl).
#include <fmt/format.h>


#include "common/error.h"
#include "text/tokenizer_impl.h"
#include "text/utf8.h"

namespace qg::text {

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special_tokens, const std::string& input_name) const {
  check_utf8(text, input_name);
  const Impl& t = *impl_;
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids.insert(ids.end(), t.wrap.before.begin(), t.wrap.before.end());

  // 1. Added tokens out, the rest normalized (AddedVocabulary::extract_and_normalize).
  std::vector<Piece> words;
  for (Segment& seg : t.added.extract_and_normalize(text, t.normalizer.get())) {
    if (seg.token >= 0) {
      ids.push_back(seg.token);
      continue;
    }
    // 2. Pre-tokenize into words, 3. BPE each word.
    words.clear();
    Piece piece{std::move(seg.text), seg.at_origin};
    if (t.pre_tokenizer) {
      t.pre_tokenizer->split(std::move(piece), words);
    } else if (!piece.text.empty()) {
      words.push_back(std::move(piece));
    }
    for (const Piece& w : words) t.model->encode_word(w.text, ids);
  }
  // 4. Post-process.
  if (add_special_tokens) ids.insert(ids.end(), t.wrap.after.begin(), t.wrap.after.end());
  return ids;
}

std::vector<TokenId> Tokenizer::encode_for_model(std::string_view text, const std::string& input_name) const {
  std::vector<TokenId> ids = encode(text, false, input_name);
  if (impl_->bos.model_expects_bos) {
    if (!impl_->bos.bos_id) throw Error("the model expects a BOS token but the tokenizer files define none", {.file = impl_->json_path.string()});
    ids.insert(ids.begin(), *impl_->bos.bos_id);
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (TokenId id : ids) {
    const std::string* s = t.added.decode_string(id);
    if (!s) s = t.model->id_to_token(id);
    if (!s) continue;  // unknown ids are dropped, as in `tokenizers`
    if (skip_special_tokens && t.added.is_special_content(*s)) continue;
    tokens.push_back(*s);
  }
  if (!t.decoder) return fmt::format("{}", fmt::join(tokens, " "));
  std::string out;
  for (const auto& piece : t.decoder->decode_chain(std::move(tokens))) out += piece;
  return out;
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  if (auto a = impl_->added.id_of(token)) return a;
  const TokenId id = impl_->model->token_to_id(token);
  return id >= 0 ? std::optional<TokenId>(id) : std::nullopt;
}

std::optional<std::string> Tokenizer::id_to_token(TokenId id) const {
  if (const AddedToken* a = impl_->added.by_id(id)) return a->content;
  if (const std::string* s = impl_->model->id_to_token(id)) return *s;
  return std::nullopt;
}

bool Tokenizer::is_special(TokenId id) const {
  const AddedToken* a = impl_->added.by_id(id);
  return a && a->special;
}

std::size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
const BosRule& Tokenizer::bos_rule() const { return impl_->bos; }
const TokenizerConfig& Tokenizer::config() const { return impl_->config; }
const std::filesystem::path& Tokenizer::json_path() const { return impl_->json_path; }

bool Tokenizer::roundtrip_lossless() const { return !impl_->normalizer || !impl_->normalizer->lossy(); }

std::string Tokenizer::summary() const {
  const Impl& t = *impl_;
  return fmt::format("BPE, {} tokens ({} in the model vocab, {} added), {} merges{}{}; {}", t.vocab_size, t.model->vocab_size(),
                     t.added.size(), t.model->merge_count(), t.model->options().byte_fallback ? ", byte_fallback" : "",
                     t.model->options().ignore_merges ? ", ignore_merges" : "", t.components);
}

}  // namespace qg::text
