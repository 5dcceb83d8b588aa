#pragma once
// The BPE model of a tokenizer.json: vocab, ranked merges, unk / byte fallback, with the exact merge
// order of `tokenizers` (models/bpe/word.rs): repeatedly merge the lowest-rank adjacent pair, leftmost
// first, via a min-heap. Results of short words are cached, as `tokenizers` does.
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/flat_map.h"

namespace qg::text {

using TokenId = std::int32_t;

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // `merges` are (left, right) token strings in rank order. Throws qg::Error (naming `file`) when a merge
  // names a token that is not in the vocab, as `tokenizers` refuses such files.
  BpeModel(std::vector<std::pair<std::string, TokenId>> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options, const std::string& file);

  // Appends the ids of one pre-tokenized word.
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;

  TokenId token_to_id(std::string_view token) const { return vocab_.find(token); }  // -1 if absent
  const std::string* id_to_token(TokenId id) const;
  std::size_t vocab_size() const { return vocab_.size(); }
  std::size_t merge_count() const { return merges_.size(); }
  const BpeOptions& options() const { return options_; }

 private:
  void merge_word(std::string_view word, std::vector<TokenId>& out) const;
  TokenId symbol_id(std::string_view piece, bool first, bool last) const;

  StringIdMap vocab_;
  std::vector<std::string> vocab_r_;            // id -> token ("" for ids the vocab skips)
  std::vector<std::uint8_t> vocab_r_present_;
  U64Map merges_;                               // (left << 32 | right) -> (rank << 32 | merged id)
  std::array<TokenId, 256> byte_ids_{};         // "<0xXX>" tokens for byte fallback, -1 if absent
  bool all_byte_tokens_ = false;
  TokenId unk_id_ = -1;
  std::vector<TokenId> single_cp_ids_;          // code point < 0x10000 -> id of that one-character token, -1 if none
  BpeOptions options_;

  // Word cache (word -> ids), bounded like the `tokenizers` BPE cache (10,000 words under 256 bytes).
  // Sharded so that threads encoding at the same time rarely wait on one lock.
  static constexpr std::size_t kCacheShards = 16;
  static constexpr std::size_t kCacheCapacityPerShard = 10000 / kCacheShards;
  static constexpr std::size_t kCacheMaxWordBytes = 256;
  struct CacheShard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<TokenId>> map;
  };
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace qg::text
