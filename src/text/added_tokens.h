#pragma once
// Added tokens of a tokenizer.json (<bos>, <start_of_turn>, "\n\n", ...). As in `tokenizers`
// (tokenizer/added_vocabulary.rs) they are cut out of the text before normalization and BPE, in two
// passes: tokens with normalized=false are matched on the raw text; the rest of the text is normalized,
// then tokens with normalized=true are matched on it. Matching is leftmost-longest; single_word, lstrip
// and rstrip behave as there. Special or not, every added token is matched (encode_special_tokens is
// off, the `tokenizers` default); "special" only matters to decode(skip_special_tokens).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/bpe.h"

namespace qg::text {

class Normalizer;

struct AddedToken {
  std::string content;
  TokenId id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
};

// A stretch of input: either one added token (token >= 0) or text still to pre-tokenize and BPE.
struct Segment {
  std::string text;
  TokenId token = -1;
  bool at_origin = false;  // starts at byte 0 of the original input
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `tokens` in file order; their ids are already resolved (see tokenizer_json.cpp).
  AddedVocabulary(const std::vector<AddedToken>& tokens, const Normalizer* normalizer);

  // Both passes over `text`; normalized, non-empty segments in order.
  std::vector<Segment> extract_and_normalize(std::string_view text, const Normalizer* normalizer) const;

  std::optional<TokenId> id_of(std::string_view content) const;
  const AddedToken* by_id(TokenId id) const;
  // The string decode() uses for an added token id: the normalized content for normalized tokens
  // whose content the normalizer changes (the `tokenizers` normalized_cache), else the content.
  const std::string* decode_string(TokenId id) const;
  bool is_special_content(std::string_view content) const;
  std::size_t size() const { return by_id_.size(); }
  const std::unordered_map<TokenId, AddedToken>& tokens() const { return by_id_; }

 private:
  // A byte trie for leftmost-longest matching (the role daachorse plays in `tokenizers`).
  class Trie {
   public:
    void insert(std::string_view pattern, TokenId id);
    bool empty() const { return nodes_.size() <= 1; }
    struct Match {
      std::size_t begin, end;
      TokenId id;
    };
    std::vector<Match> find_all(std::string_view s) const;

   private:
    struct Node {
      std::vector<std::pair<unsigned char, std::int32_t>> edges;  // sorted by byte
      TokenId value = -1;
    };
    std::vector<Node> nodes_{Node{}};
    bool first_byte_[256] = {};
  };

  void split(const Segment& seg, const Trie& trie, std::vector<Segment>& out) const;

  std::unordered_map<TokenId, AddedToken> by_id_;
  std::unordered_map<std::string, TokenId> by_content_;
  std::unordered_map<TokenId, std::string> normalized_content_;
  std::unordered_map<std::string, bool> special_contents_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace qg::text
