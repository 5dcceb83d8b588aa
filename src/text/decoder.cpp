#include "text/decoder.h"

#include <fmt/format.h>

#include "text/pattern.h"
#include "text/pretokenize.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> items) : items_(std::move(items)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& d : items_) tokens = d->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(TextPattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      for (const auto& span : spans_from_matches(t.size(), pattern_.find_all(t)))
        out += span.is_match ? content_ : t.substr(span.begin, span.end - span.begin);
      t = std::move(out);
    }
    return tokens;
  }

 private:
  TextPattern pattern_;
  std::string content_;
};

// <0xXX> tokens -> bytes; a run of them that is not valid UTF-8 becomes one U+FFFD per byte.
class ByteFallbackDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    std::size_t n_bytes = 0;
    auto flush = [&]() {
      if (n_bytes == 0) return;
      if (find_invalid_utf8(bytes) == std::string::npos) {
        out.push_back(bytes);
      } else {
        for (std::size_t i = 0; i < n_bytes; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      n_bytes = 0;
    };
    for (auto& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
        const int hi = hex(t[3]), lo = hex(t[4]);
        if (hi >= 0 && lo >= 0) value = hi * 16 + lo;
      }
      if (value >= 0) {
        bytes += static_cast<char>(value);
        ++n_bytes;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
};

// Strip: removes up to `start` leading and `stop` trailing copies of `content` from each token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop) : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::u32string u = to_utf32(t);
      std::size_t b = 0;
      for (std::size_t i = 0; i < start_ && i < u.size() && u[i] == content_; ++i) b = i + 1;
      std::size_t e = u.size();
      for (std::size_t i = 0; i < stop_ && i < u.size(); ++i) {
        const std::size_t index = u.size() - i - 1;
        if (u[index] != content_) break;
        e = index;
      }
      t = e > b ? to_utf8(std::u32string_view(u).substr(b, e - b)) : std::string();
    }
    return tokens;
  }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

// ByteLevel: stand-in characters back to bytes (a token with any other character keeps its UTF-8
// bytes), all tokens fused, then lossy UTF-8 as String::from_utf8_lossy.
class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::string mapped;
      bool ok = true;
      for (std::size_t i = 0; i < t.size();) {
        const int b = byte_level_byte(next_code_point(t, i));
        if (b < 0) {
          ok = false;
          break;
        }
        mapped += static_cast<char>(b);
      }
      bytes += ok ? mapped : t;
    }
    return {utf8_lossy(bytes)};
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepend) : replacement_(replacement), prepend_(prepend) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (std::size_t k = 0; k < t.size();) {
        const std::size_t b = k;
        const char32_t c = next_code_point(t, k);
        if (c == replacement_) {
          if (!(i == 0 && prepend_)) out += ' ';
        } else {
          out.append(t, b, k - b);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool prepend_;
};

char32_t single_char(const std::string& s, const JsonWhere& where) {
  std::size_t i = 0;
  if (s.empty()) json_fail(where, "expected exactly one character");
  const char32_t c = next_code_point(s, i);
  if (i != s.size()) json_fail(where, "expected exactly one character");
  return c;
}

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const nlohmann::json& j, const JsonWhere& where) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "Sequence") {
    const auto& arr = require_array(j, "decoders", where);
    std::vector<std::unique_ptr<Decoder>> items;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      auto d = parse_decoder(arr[i], where.at("decoders").index(i));
      if (d) items.push_back(std::move(d));
    }
    return std::make_unique<SequenceDecoder>(std::move(items));
  }
  if (type == "Replace") {
    bool is_regex = false;
    std::string pattern = pattern_field(j, where, is_regex);
    return std::make_unique<ReplaceDecoder>(TextPattern(std::move(pattern), is_regex, where.file + ": " + where.path),
                                            require_string(j, "content", where));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const auto& start = require(j, "start", where);
    const auto& stop = require(j, "stop", where);
    if (!start.is_number_unsigned() || !stop.is_number_unsigned()) json_fail(where, "start/stop must be non-negative integers");
    return std::make_unique<StripDecoder>(single_char(require_string(j, "content", where), where.at("content")),
                                          start.get<std::size_t>(), stop.get<std::size_t>());
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    const char32_t rep = single_char(require_string(j, "replacement", where), where.at("replacement"));
    bool prepend = true;
    if (auto scheme = optional_string(j, "prepend_scheme", where)) prepend = *scheme != "never";
    if (!optional_bool(j, "add_prefix_space", true, where)) prepend = false;
    return std::make_unique<MetaspaceDecoder>(rep, prepend);
  }
  json_fail(where, fmt::format("decoder type '{}' is not supported (supported: Sequence, Replace, ByteFallback, Fuse, Strip, "
                               "ByteLevel, Metaspace)", type));
}

}  // namespace qg::text
