#include "text/added_tokens.h"

#include <algorithm>

#include "text/normalize.h"
#include "text/unicode.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

// The code point that ends s[0, end) (s valid UTF-8, end > 0).
char32_t last_code_point(std::string_view s, std::size_t end) {
  std::size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  return next_code_point(s, b);
}

// \w of the regex crate, which added_vocabulary.rs uses for single_word.
bool word_char(char32_t c) { return is_word_char(c) || c == 0x200C || c == 0x200D; }

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view pattern, TokenId id) {
  if (pattern.empty()) return;
  std::int32_t node = 0;
  for (unsigned char b : pattern) {
    auto& edges = nodes_[static_cast<std::size_t>(node)].edges;
    auto it = std::lower_bound(edges.begin(), edges.end(), b, [](const auto& e, unsigned char k) { return e.first < k; });
    if (it != edges.end() && it->first == b) {
      node = it->second;
    } else {
      const auto child = static_cast<std::int32_t>(nodes_.size());
      edges.insert(it, {b, child});
      nodes_.emplace_back();
      node = child;
    }
  }
  nodes_[static_cast<std::size_t>(node)].value = id;
  first_byte_[static_cast<unsigned char>(pattern[0])] = true;
}

std::vector<AddedVocabulary::Trie::Match> AddedVocabulary::Trie::find_all(std::string_view s) const {
  std::vector<Match> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (!first_byte_[static_cast<unsigned char>(s[i])]) {
      ++i;
      continue;
    }
    std::int32_t node = 0;
    std::size_t best_end = 0;
    TokenId best = -1;
    for (std::size_t k = i; k < s.size(); ++k) {
      const auto& edges = nodes_[static_cast<std::size_t>(node)].edges;
      const unsigned char b = static_cast<unsigned char>(s[k]);
      auto it = std::lower_bound(edges.begin(), edges.end(), b, [](const auto& e, unsigned char key) { return e.first < key; });
      if (it == edges.end() || it->first != b) break;
      node = it->second;
      if (nodes_[static_cast<std::size_t>(node)].value >= 0) {
        best = nodes_[static_cast<std::size_t>(node)].value;
        best_end = k + 1;
      }
    }
    if (best >= 0) {
      out.push_back({i, best_end, best});
      i = best_end;
    } else {
      ++i;
    }
  }
  return out;
}

AddedVocabulary::AddedVocabulary(const std::vector<AddedToken>& tokens, const Normalizer* normalizer) {
  for (const AddedToken& t : tokens) {
    by_id_[t.id] = t;
    by_content_[t.content] = t.id;
    if (t.special) special_contents_[t.content] = true;
    if (t.normalized && normalizer) {
      std::string s = t.content;
      normalizer->normalize(s);
      if (s != t.content) normalized_content_[t.id] = s;
    }
  }
  for (const auto& [id, t] : by_id_) {
    if (t.normalized) {
      auto it = normalized_content_.find(id);
      normalized_trie_.insert(it != normalized_content_.end() ? it->second : t.content, id);
    } else {
      raw_trie_.insert(t.content, id);
    }
  }
}

std::optional<TokenId> AddedVocabulary::id_of(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::by_id(TokenId id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

const std::string* AddedVocabulary::decode_string(TokenId id) const {
  if (auto it = normalized_content_.find(id); it != normalized_content_.end()) return &it->second;
  if (auto it = by_id_.find(id); it != by_id_.end()) return &it->second.content;
  return nullptr;
}

bool AddedVocabulary::is_special_content(std::string_view content) const {
  return special_contents_.count(std::string(content)) > 0;
}

// find_matches + split_with_indices of added_vocabulary.rs for one segment.
void AddedVocabulary::split(const Segment& seg, const Trie& trie, std::vector<Segment>& out) const {
  const std::string& s = seg.text;
  auto push = [&](std::size_t b, std::size_t e, TokenId token) {
    if (e <= b) return;  // empty splits are dropped (PreTokenizedString::split)
    out.push_back({s.substr(b, e - b), token, seg.at_origin && b == 0});
  };
  if (trie.empty()) {
    push(0, s.size(), -1);
    return;
  }
  std::size_t start_offset = 0;
  for (const auto& m : trie.find_all(s)) {
    std::size_t start = m.begin, stop = m.end;
    const AddedToken& tok = by_id_.at(m.id);
    if (tok.single_word) {
      const bool start_space = start == 0 || !word_char(last_code_point(s, start));
      std::size_t k = stop;
      const bool stop_space = stop == s.size() || !word_char(next_code_point(s, k));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) {  // absorb the whitespace before the token (not what an earlier match took)
      std::size_t b = start;
      while (b > 0 && is_white_space(last_code_point(s, b))) {
        std::size_t p = b - 1;
        while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
        b = p;
      }
      start = std::max(b, start_offset);
    }
    if (tok.rstrip) {  // absorb the whitespace after it
      std::size_t k = stop;
      while (k < s.size()) {
        std::size_t next = k;
        if (!is_white_space(next_code_point(s, next))) break;
        k = next;
      }
      stop = k;
    }
    if (start_offset < start) push(start_offset, start, -1);
    // `tokenizers` slices [start, stop) even when an rstrip of the previous match overlaps it.
    out.push_back({s.substr(start, stop - start), m.id, seg.at_origin && start == 0});
    start_offset = stop;
  }
  if (start_offset < s.size()) push(start_offset, s.size(), -1);
}

std::vector<Segment> AddedVocabulary::extract_and_normalize(std::string_view text, const Normalizer* normalizer) const {
  std::vector<Segment> pass1;
  split(Segment{std::string(text), -1, true}, raw_trie_, pass1);
  std::vector<Segment> out;
  out.reserve(pass1.size());
  for (Segment& seg : pass1) {
    if (seg.token >= 0) {
      out.push_back(std::move(seg));
      continue;
    }
    if (normalizer) normalizer->normalize(seg.text);
    split(seg, normalized_trie_, out);
  }
  return out;
}

}  // namespace qg::text
