#pragma once
// The parts of a loaded tokenizer (shared by tokenizer_json.cpp, which builds them, and tokenizer.cpp,
// which runs them). Not a public header.
#include <memory>
#include <string>

#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/decoder.h"
#include "text/normalize.h"
#include "text/post_process.h"
#include "text/pretokenize.h"
#include "text/tokenizer.h"

namespace qg::text {

struct Tokenizer::Impl {
  std::filesystem::path json_path;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  AddedVocabulary added;
  SpecialWrap wrap;
  std::unique_ptr<Decoder> decoder;
  TokenizerConfig config;
  BosRule bos;
  std::size_t vocab_size = 0;
  std::string components;  // for summary()
};

}  // namespace qg::text
