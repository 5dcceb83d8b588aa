#include "text/bpe.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

std::uint64_t pair_key(TokenId a, TokenId b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

struct Symbol {
  TokenId id;
  int prev;
  int next;
  std::size_t len;  // bytes of the word this symbol covers; 0 once merged into its left neighbour
};

// A queued merge. key = rank << 32 | position: the heap pops the lowest rank, leftmost first, the order
// of `tokenizers`' Merge::cmp (word.rs).
struct Merge {
  std::uint64_t key;
  TokenId new_id;
  TokenId left, right;  // the pair when queued: if unchanged, the entry is still valid without a lookup
  int pos() const { return static_cast<int>(key & 0xFFFFFFFFu); }
};

// A 4-ary min-heap on Merge::key (shallower than a binary heap; `tokenizers` uses one too).
class MergeQueue {
 public:
  explicit MergeQueue(std::size_t reserve) { v_.reserve(reserve); }
  bool empty() const { return v_.empty(); }
  void push(const Merge& m) {
    std::size_t i = v_.size();
    v_.push_back(m);
    while (i > 0) {
      const std::size_t parent = (i - 1) / 4;
      if (v_[parent].key <= m.key) break;
      v_[i] = v_[parent];
      i = parent;
    }
    v_[i] = m;
  }
  Merge pop() {
    const Merge top = v_[0];
    const Merge last = v_.back();
    v_.pop_back();
    const std::size_t n = v_.size();
    if (n == 0) return top;
    std::size_t i = 0;
    for (;;) {
      const std::size_t first = 4 * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      const std::size_t end = std::min(first + 4, n);
      for (std::size_t c = first + 1; c < end; ++c)
        if (v_[c].key < v_[best].key) best = c;
      if (last.key <= v_[best].key) break;
      v_[i] = v_[best];
      i = best;
    }
    v_[i] = last;
    return top;
  }

 private:
  std::vector<Merge> v_;
};

std::uint64_t merge_key(std::uint64_t packed_value, int pos) {
  return (packed_value & 0xFFFFFFFF00000000ull) | static_cast<std::uint32_t>(pos);
}
TokenId merged_id(std::uint64_t packed_value) { return static_cast<TokenId>(packed_value & 0xFFFFFFFFu); }

}  // namespace

BpeModel::BpeModel(std::vector<std::pair<std::string, TokenId>> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
                   const std::string& file)
    : options_(std::move(options)) {
  vocab_.reserve(vocab.size());
  TokenId max_id = -1;
  for (const auto& [tok, id] : vocab) {
    if (id < 0) throw Error(fmt::format("model.vocab: token '{}' has negative id {}", tok, id), {.file = file});
    vocab_.set(tok, id);
    max_id = std::max(max_id, id);
  }
  vocab_r_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  vocab_r_present_.assign(static_cast<std::size_t>(max_id + 1), 0);
  for (auto& [tok, id] : vocab) {
    vocab_r_[static_cast<std::size_t>(id)] = std::move(tok);
    vocab_r_present_[static_cast<std::size_t>(id)] = 1;
  }

  // Merges: rank = position in the list; a later duplicate of a pair overrides an earlier one, as the
  // `tokenizers` HashMap collect does. The merged token drops the right side's continuing-subword prefix.
  const std::size_t prefix_len = options_.continuing_subword_prefix ? options_.continuing_subword_prefix->size() : 0;
  merges_.reserve(merges.size());
  std::string merged;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const TokenId a_id = vocab_.find(a), b_id = vocab_.find(b);
    if (a_id < 0 || b_id < 0)
      throw Error(fmt::format("model.merges[{}] ('{}' '{}'): token '{}' is not in model.vocab", rank, a, b, a_id < 0 ? a : b),
                  {.file = file});
    merged.assign(a);
    merged.append(b.size() >= prefix_len ? std::string_view(b).substr(prefix_len) : std::string_view());
    const TokenId m_id = vocab_.find(merged);
    if (m_id < 0)
      throw Error(fmt::format("model.merges[{}] ('{}' '{}'): merged token '{}' is not in model.vocab", rank, a, b, merged),
                  {.file = file});
    merges_.set(pair_key(a_id, b_id), (static_cast<std::uint64_t>(rank) << 32) | static_cast<std::uint32_t>(m_id));
  }

  all_byte_tokens_ = true;
  for (int b = 0; b < 256; ++b) {
    byte_ids_[static_cast<std::size_t>(b)] = vocab_.find(fmt::format("<0x{:02X}>", b));
    if (byte_ids_[static_cast<std::size_t>(b)] < 0) all_byte_tokens_ = false;
  }
  if (options_.unk_token) unk_id_ = vocab_.find(*options_.unk_token);

  // One-character tokens of the BMP by code point: the first step of every word looks each character up.
  single_cp_ids_.assign(0x10000, -1);
  for (std::size_t id = 0; id < vocab_r_.size(); ++id) {
    if (!vocab_r_present_[id]) continue;
    const std::string& t = vocab_r_[id];
    if (t.empty() || t.size() > 3 || find_invalid_utf8(t) != std::string_view::npos) continue;
    std::size_t i = 0;
    const char32_t cp = next_code_point(t, i);
    if (i == t.size() && cp < 0x10000 && vocab_.find(t) == static_cast<TokenId>(id)) single_cp_ids_[cp] = static_cast<TokenId>(id);
  }
}

const std::string* BpeModel::id_to_token(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= vocab_r_.size() || !vocab_r_present_[static_cast<std::size_t>(id)]) return nullptr;
  return &vocab_r_[static_cast<std::size_t>(id)];
}

TokenId BpeModel::symbol_id(std::string_view piece, bool first, bool last) const {
  const bool prefixed = !first && options_.continuing_subword_prefix;
  const bool suffixed = last && options_.end_of_word_suffix;
  if (!prefixed && !suffixed) {
    if (piece.size() <= 3) {
      std::size_t i = 0;
      const char32_t cp = next_code_point(piece, i);
      if (cp < 0x10000) return single_cp_ids_[cp];
    }
    return vocab_.find(piece);
  }
  std::string s;
  if (prefixed) s += *options_.continuing_subword_prefix;
  s += piece;
  if (suffixed) s += *options_.end_of_word_suffix;
  return vocab_.find(s);
}

void BpeModel::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {  // Llama 3: a word that is itself a token is never split
    const TokenId id = vocab_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheMaxWordBytes;
  CacheShard& shard = cache_[hash_bytes(word) % kCacheShards];
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (auto it = shard.map.find(key); it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const std::size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.map.size() < kCacheCapacityPerShard)
      shard.map.emplace(std::move(key), std::vector<TokenId>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
  }
}

void BpeModel::merge_word(std::string_view w, std::vector<TokenId>& out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(w.size());
  auto add = [&](TokenId id, std::size_t len) {
    const int n = static_cast<int>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, len});
  };
  auto unk_id = [&]() {
    if (unk_id_ < 0) throw Error(fmt::format("unk_token '{}' is not in the vocab", *options_.unk_token));
    return unk_id_;
  };

  // 1. One symbol per character (models/bpe/model.rs merge_word).
  bool have_unk = false;
  TokenId pending_unk = -1;
  std::size_t pending_unk_len = 0;
  for (std::size_t i = 0; i < w.size();) {
    const std::size_t start = i;
    i += utf8_sequence_length(static_cast<unsigned char>(w[i]));
    const std::string_view ch = w.substr(start, i - start);
    const bool is_first = start == 0, is_last = i >= w.size();
    const TokenId id = symbol_id(ch, is_first, is_last);
    if (id >= 0) {
      if (have_unk) {
        add(pending_unk, pending_unk_len);
        have_unk = false;
      }
      add(id, ch.size());
      continue;
    }
    if (options_.byte_fallback) {
      // The bytes of the (prefixed/suffixed) symbol as <0xXX> tokens, when all of them exist. Like
      // `tokenizers`, a pending unk is not flushed first.
      std::string s;
      if (!is_first && options_.continuing_subword_prefix) s += *options_.continuing_subword_prefix;
      s += ch;
      if (is_last && options_.end_of_word_suffix) s += *options_.end_of_word_suffix;
      bool all = true;
      for (unsigned char b : s)
        if (byte_ids_[b] < 0) all = false;
      if (all) {
        for (unsigned char b : s) add(byte_ids_[b], 1);
        continue;
      }
    }
    if (options_.unk_token) {
      if (have_unk && options_.fuse_unk) {
        pending_unk_len += ch.size();
      } else {
        if (have_unk) add(pending_unk, pending_unk_len);
        pending_unk = unk_id();
        pending_unk_len = ch.size();
        have_unk = true;
      }
    }
    // no unk token: the character is dropped, as in `tokenizers`
  }
  if (have_unk) add(pending_unk, pending_unk_len);

  // 2. Merge the lowest-rank pair first (leftmost on ties) until no known pair is left (word.rs merge_all).
  MergeQueue queue(symbols.size() * 2);
  // The merge table is large (16 MB for Gemma) and lookups are random: start all loads first.
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i) merges_.prefetch(pair_key(symbols[i].id, symbols[i + 1].id));
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const std::uint64_t* m = merges_.find(pair_key(symbols[i].id, symbols[i + 1].id)))
      queue.push({merge_key(*m, static_cast<int>(i)), merged_id(*m), symbols[i].id, symbols[i + 1].id});
  }
  while (!queue.empty()) {
    const Merge top = queue.pop();
    const int top_pos = top.pos();
    Symbol& cur = symbols[static_cast<std::size_t>(top_pos)];
    if (cur.len == 0 || cur.next == -1) continue;
    const int next_pos = cur.next;
    const Symbol right = symbols[static_cast<std::size_t>(next_pos)];
    // Skip stale entries: the pair at this position must still merge into the same token (the test of
    // `tokenizers`, which looks the current pair up; an unchanged pair passes it without the lookup).
    if (cur.id != top.left || right.id != top.right) {
      const std::uint64_t* m = merges_.find(pair_key(cur.id, right.id));
      if (!m || merged_id(*m) != top.new_id) continue;
    }

    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[static_cast<std::size_t>(next_pos)].len = 0;
    if (right.next > -1 && static_cast<std::size_t>(right.next) < symbols.size())
      symbols[static_cast<std::size_t>(right.next)].prev = top_pos;

    const bool has_next = cur.next >= 0 && static_cast<std::size_t>(cur.next) < symbols.size();
    if (cur.prev >= 0) merges_.prefetch(pair_key(symbols[static_cast<std::size_t>(cur.prev)].id, cur.id));
    if (has_next) merges_.prefetch(pair_key(cur.id, symbols[static_cast<std::size_t>(cur.next)].id));
    if (cur.prev >= 0) {
      const Symbol& prev = symbols[static_cast<std::size_t>(cur.prev)];
      if (const std::uint64_t* pm = merges_.find(pair_key(prev.id, cur.id)))
        queue.push({merge_key(*pm, cur.prev), merged_id(*pm), prev.id, cur.id});
    }
    if (has_next) {
      const Symbol& nxt = symbols[static_cast<std::size_t>(cur.next)];
      if (const std::uint64_t* nm = merges_.find(pair_key(cur.id, nxt.id)))
        queue.push({merge_key(*nm, top_pos), merged_id(*nm), cur.id, nxt.id});
    }
  }
  for (const Symbol& s : symbols)
    if (s.len != 0) out.push_back(s.id);
}

}  // namespace qg::text
