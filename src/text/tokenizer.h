#pragma once
// qg::text::Tokenizer: a Hugging Face tokenizer.json (BPE) in C++, giving the same ids as the
// `tokenizers` library (0.23): added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor.
// Load it from a tokenizer.json or from a checkpoint directory that has one; tokenizer_config.json
// (special tokens, add_bos_token, chat_template) and chat_template.jinja beside it are read when present.
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/bpe.h"

namespace qg::text {

// What tokenizer_config.json says (all optional: the file itself may be absent).
struct TokenizerConfig {
  bool present = false;
  std::filesystem::path path;
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::optional<std::string> chat_template;  // the default template, if any
  std::string chat_template_source;          // where it was read, e.g. "tokenizer_config.json chat_template"
  std::string tokenizer_class;
};

// The BOS rule, read from the files and stated, never guessed: what encode(..., add_special_tokens=true)
// does, and whether the model expects a BOS first (Gemma does: its post-processor or tokenizer_config's
// add_bos_token or its chat template says so).
struct BosRule {
  std::optional<TokenId> bos_id;
  std::string bos_token;            // empty when the files name no BOS token
  bool encode_adds_bos = false;     // the post-processor puts bos_id first when add_special_tokens
  bool model_expects_bos = false;   // raw documents fed to the model should start with exactly one BOS
  std::string source;               // the evidence, for reports and `quantgate tokenize`
  std::string warning;              // set when the files disagree (e.g. add_bos_token vs post-processor)
};

// encode/decode are const and safe to call from several threads at once (the word cache is locked).
class Tokenizer {
 public:
  // PATH: a tokenizer.json, or a directory with one. Throws qg::Error naming the file and what was
  // expected for missing or malformed files and for component types we do not implement (named).
  static Tokenizer load(const std::filesystem::path& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text (UTF-8) -> ids, as `tokenizers`' encode(text, add_special_tokens). Invalid UTF-8 is a qg::Error
  // that names `input_name` and the byte offset.
  std::vector<TokenId> encode(std::string_view text, bool add_special_tokens, const std::string& input_name = "input") const;

  // The ids a model sees for a raw document: encode(text, false) with exactly one BOS in front when
  // bos_rule().model_expects_bos. Throws when the model expects a BOS the files do not define.
  std::vector<TokenId> encode_for_model(std::string_view text, const std::string& input_name = "input") const;

  // Ids -> text, as `tokenizers`' decode(ids, skip_special_tokens). Unknown ids are skipped, as there.
  std::string decode(std::span<const TokenId> ids, bool skip_special_tokens) const;

  std::optional<TokenId> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(TokenId id) const;
  bool is_special(TokenId id) const;
  std::size_t vocab_size() const;  // model vocab plus added tokens (get_vocab_size(with_added_tokens=true))

  const BosRule& bos_rule() const;
  const TokenizerConfig& config() const;
  const std::filesystem::path& json_path() const;
  // Whether decode(encode(x)) == x is expected for text without unknown characters (false when a
  // normalizer such as NFC or Strip changes text irreversibly).
  bool roundtrip_lossless() const;
  std::string summary() const;  // one line: model, vocab, merges, components

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::text
