#include "text/pretokenize.h"

#include <fmt/format.h>

#include <array>

#include "text/pattern.h"
#include "text/unicode.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const std::string& s, const JsonWhere& where) {
  if (s == "Removed") return Behavior::kRemoved;
  if (s == "Isolated") return Behavior::kIsolated;
  if (s == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::kMergedWithNext;
  if (s == "Contiguous") return Behavior::kContiguous;
  json_fail(where, fmt::format("unknown split behavior '{}' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)", s));
}

// NormalizedString::split (tokenizer/normalizer.rs): turns the match/gap spans into pieces according
// to the behaviour, dropping removed and empty ones.
void split_by_spans(const Piece& piece, std::vector<PatternSpan> spans, bool invert, Behavior behavior, std::vector<Piece>& out) {
  if (invert)
    for (auto& s : spans) s.is_match = !s.is_match;
  struct Cut {
    std::size_t b, e;
    bool remove;
  };
  std::vector<Cut> cuts;
  cuts.reserve(spans.size());
  switch (behavior) {
    case Behavior::kIsolated:
      for (const auto& s : spans) cuts.push_back({s.begin, s.end, false});
      break;
    case Behavior::kRemoved:
      for (const auto& s : spans) cuts.push_back({s.begin, s.end, s.is_match});
      break;
    case Behavior::kContiguous: {
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.is_match == previous_match && !cuts.empty())
          cuts.back().e = s.end;
        else
          cuts.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    }
    case Behavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !cuts.empty())
          cuts.back().e = s.end;
        else
          cuts.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool previous_match = false;
      std::vector<Cut> rev;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !rev.empty())
          rev.back().b = it->begin;
        else
          rev.push_back({it->begin, it->end, false});
        previous_match = it->is_match;
      }
      cuts.assign(rev.rbegin(), rev.rend());
      break;
    }
  }
  for (const auto& c : cuts) {
    if (c.remove || c.e == c.b) continue;
    out.push_back({piece.text.substr(c.b, c.e - c.b), piece.at_origin && c.b == 0});
  }
}

// Spans where `pred` holds for single characters (the Fn(char) -> bool Pattern).
template <typename Pred>
std::vector<std::pair<std::size_t, std::size_t>> char_matches(const std::string& s, Pred pred) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t b = i;
    if (pred(next_code_point(s, i))) out.emplace_back(b, i);
  }
  return out;
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void split(Piece piece, std::vector<Piece>& out) const override {
    std::vector<Piece> cur{std::move(piece)}, next;
    for (const auto& p : items_) {
      next.clear();
      for (auto& c : cur) p->split(std::move(c), next);
      std::swap(cur, next);
    }
    for (auto& c : cur) out.push_back(std::move(c));
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(TextPattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void split(Piece piece, std::vector<Piece>& out) const override {
    auto spans = spans_from_matches(piece.text.size(), pattern_.find_all(piece.text));
    split_by_spans(piece, std::move(spans), invert_, behavior_, out);
  }

 private:
  TextPattern pattern_;
  Behavior behavior_;
  bool invert_;
};

std::array<char32_t, 256> make_bytes_to_chars() {
  std::array<char32_t, 256> table{};
  std::array<bool, 256> direct{};
  for (int b = '!'; b <= '~'; ++b) direct[static_cast<std::size_t>(b)] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[static_cast<std::size_t>(b)] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[static_cast<std::size_t>(b)] = true;
  char32_t n = 0;
  for (int b = 0; b < 256; ++b) table[static_cast<std::size_t>(b)] = direct[static_cast<std::size_t>(b)] ? static_cast<char32_t>(b) : 256 + n++;
  return table;
}

// ByteLevel (pre_tokenizers/byte_level.rs): optional prefix space, the GPT-2 split regex, then every
// byte of each piece replaced by its stand-in character.
class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const std::string& context)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    if (use_regex_) regex_.emplace(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", context);
    std::string s;
    for (int b = 0; b < 256; ++b) {
      s.clear();
      append_utf8(s, byte_level_char(static_cast<unsigned char>(b)));
      mapped_[static_cast<std::size_t>(b)] = s;
    }
  }
  void split(Piece piece, std::vector<Piece>& out) const override {
    if (piece.text.empty()) return;
    if (add_prefix_space_ && piece.text[0] != ' ') piece.text = " " + piece.text;
    std::vector<Piece> parts;
    if (use_regex_) {
      split_by_spans(piece, spans_from_matches(piece.text.size(), regex_->find_all(piece.text)), false, Behavior::kIsolated, parts);
    } else if (!piece.text.empty()) {
      parts.push_back(std::move(piece));
    }
    for (auto& p : parts) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (unsigned char b : p.text) mapped += mapped_[b];
      out.push_back({std::move(mapped), p.at_origin});
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
  std::optional<Regex> regex_;
  std::array<std::string, 256> mapped_;
};

// Metaspace (pre_tokenizers/metaspace.rs): spaces -> replacement, optional prefix, split before each
// replacement character.
class MetaspacePreTokenizer : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  MetaspacePreTokenizer(char32_t replacement, Prepend prepend, bool split)
      : replacement_(replacement), prepend_(prepend), split_(split) {
    append_utf8(rep_, replacement);
  }
  void split(Piece piece, std::vector<Piece>& out) const override {
    std::string s;
    s.reserve(piece.text.size() + rep_.size());
    for (char c : piece.text) {
      if (c == ' ')
        s += rep_;
      else
        s += c;
    }
    const bool starts_with_rep = s.compare(0, rep_.size(), rep_) == 0;
    if (!s.empty() && !starts_with_rep &&
        (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && piece.at_origin)))
      s = rep_ + s;
    Piece p{std::move(s), piece.at_origin};
    if (!split_) {
      if (!p.text.empty()) out.push_back(std::move(p));
      return;
    }
    const char32_t rep = replacement_;
    auto spans = spans_from_matches(p.text.size(), char_matches(p.text, [rep](char32_t c) { return c == rep; }));
    split_by_spans(p, std::move(spans), false, Behavior::kMergedWithNext, out);
  }

 private:
  char32_t replacement_;
  Prepend prepend_;
  bool split_;
  std::string rep_;
};

class CharClassPreTokenizer : public PreTokenizer {
 public:
  enum class Kind { kDigits, kWhitespaceSplit };
  CharClassPreTokenizer(Kind kind, Behavior behavior) : kind_(kind), behavior_(behavior) {}
  void split(Piece piece, std::vector<Piece>& out) const override {
    std::vector<std::pair<std::size_t, std::size_t>> m;
    if (kind_ == Kind::kDigits)
      m = char_matches(piece.text, [](char32_t c) { return is_number(c); });  // Rust char::is_numeric
    else
      m = char_matches(piece.text, [](char32_t c) { return is_white_space(c); });
    split_by_spans(piece, spans_from_matches(piece.text.size(), m), false, behavior_, out);
  }

 private:
  Kind kind_;
  Behavior behavior_;
};

}  // namespace

char32_t byte_level_char(unsigned char b) {
  static const std::array<char32_t, 256> table = make_bytes_to_chars();  // constant data, built once
  return table[b];
}

int byte_level_byte(char32_t c) {
  static const std::array<std::int16_t, 512> inverse = [] {  // constant data, built once
    std::array<std::int16_t, 512> t{};
    t.fill(-1);
    for (int b = 0; b < 256; ++b) t[byte_level_char(static_cast<unsigned char>(b))] = static_cast<std::int16_t>(b);
    return t;
  }();
  return c < 512 ? inverse[c] : -1;
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const nlohmann::json& j, const JsonWhere& where) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  const std::string context = where.file + ": " + where.path;
  if (type == "Sequence") {
    const auto& arr = require_array(j, "pretokenizers", where);
    std::vector<std::unique_ptr<PreTokenizer>> items;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      auto p = parse_pre_tokenizer(arr[i], where.at("pretokenizers").index(i));
      if (p) items.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(items));
  }
  if (type == "Split") {
    bool is_regex = false;
    std::string pattern = pattern_field(j, where, is_regex);
    const Behavior behavior = parse_behavior(require_string(j, "behavior", where), where.at("behavior"));
    return std::make_unique<SplitPreTokenizer>(TextPattern(std::move(pattern), is_regex, context), behavior,
                                               optional_bool(j, "invert", false, where));
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(optional_bool(j, "add_prefix_space", true, where),
                                                   optional_bool(j, "use_regex", true, where), context);
  if (type == "Metaspace") {
    const std::string rep = require_string(j, "replacement", where);
    std::size_t i = 0;
    if (rep.empty() || (next_code_point(rep, i), i != rep.size())) json_fail(where.at("replacement"), "expected exactly one character");
    i = 0;
    const char32_t rep_cp = next_code_point(rep, i);
    MetaspacePreTokenizer::Prepend prepend = MetaspacePreTokenizer::Prepend::kAlways;
    if (auto scheme = optional_string(j, "prepend_scheme", where)) {
      if (*scheme == "always") prepend = MetaspacePreTokenizer::Prepend::kAlways;
      else if (*scheme == "first") prepend = MetaspacePreTokenizer::Prepend::kFirst;
      else if (*scheme == "never") prepend = MetaspacePreTokenizer::Prepend::kNever;
      else json_fail(where.at("prepend_scheme"), fmt::format("unknown prepend_scheme '{}' (expected always, first or never)", *scheme));
    }
    if (!optional_bool(j, "add_prefix_space", true, where)) {
      if (prepend != MetaspacePreTokenizer::Prepend::kNever && j.contains("prepend_scheme"))
        json_fail(where, "add_prefix_space does not match declared prepend_scheme");
      prepend = MetaspacePreTokenizer::Prepend::kNever;
    }
    return std::make_unique<MetaspacePreTokenizer>(rep_cp, prepend, optional_bool(j, "split", true, where));
  }
  if (type == "Digits")
    return std::make_unique<CharClassPreTokenizer>(CharClassPreTokenizer::Kind::kDigits,
                                                   optional_bool(j, "individual_digits", false, where) ? Behavior::kIsolated : Behavior::kContiguous);
  if (type == "WhitespaceSplit")
    return std::make_unique<CharClassPreTokenizer>(CharClassPreTokenizer::Kind::kWhitespaceSplit, Behavior::kRemoved);
  if (type == "Whitespace")
    return std::make_unique<SplitPreTokenizer>(TextPattern(R"(\w+|[^\w\s]+)", true, context), Behavior::kRemoved, true);
  json_fail(where, fmt::format("pre_tokenizer type '{}' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits, "
                               "WhitespaceSplit, Whitespace)", type));
}

}  // namespace qg::text
