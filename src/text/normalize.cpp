#include "text/normalize.h"

#include <fmt/format.h>

#include <vector>

#include "text/pattern.h"
#include "text/unicode.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(std::string& s) const override {
    for (const auto& n : items_) n->normalize(s);
  }
  bool lossy() const override {
    for (const auto& n : items_)
      if (n->lossy()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(TextPattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& s) const override {
    const auto matches = pattern_.find_all(s);
    if (matches.empty()) return;
    std::string out;
    out.reserve(s.size() + matches.size() * content_.size());
    std::size_t prev = 0;
    for (const auto& [b, e] : matches) {
      out.append(s, prev, b - prev);
      out += content_;
      prev = e;
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }

 private:
  TextPattern pattern_;
  std::string content_;
};

// Prepend: only non-empty text gets the prefix (normalizers/prepend.rs).
class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s = prefix_ + s;
  }

 private:
  std::string prefix_;
};

class NfcNormalizer : public Normalizer {
 public:
  void normalize(std::string& s) const override { s = nfc(s); }
  bool lossy() const override { return true; }
};

class NfdNormalizer : public Normalizer {
 public:
  void normalize(std::string& s) const override { s = nfd(s); }
  bool lossy() const override { return true; }
};

// Strip: leading/trailing Unicode White_Space (char::is_whitespace).
class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    std::size_t b = 0, e = s.size();
    if (left_) {
      while (b < e) {
        std::size_t i = b;
        if (!is_white_space(next_code_point(s, i))) break;
        b = i;
      }
    }
    if (right_) {
      while (e > b) {
        std::size_t start = e - 1;
        while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        std::size_t i = start;
        if (!is_white_space(next_code_point(s, i))) break;
        e = start;
      }
    }
    s = s.substr(b, e - b);
  }
  bool lossy() const override { return true; }

 private:
  bool left_, right_;
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const nlohmann::json& j, const JsonWhere& where) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "Sequence") {
    const auto& arr = require_array(j, "normalizers", where);
    std::vector<std::unique_ptr<Normalizer>> items;
    const JsonWhere aw = where.at("normalizers");
    for (std::size_t i = 0; i < arr.size(); ++i) {
      auto n = parse_normalizer(arr[i], aw.index(i));
      if (n) items.push_back(std::move(n));
    }
    return std::make_unique<SequenceNormalizer>(std::move(items));
  }
  if (type == "Replace") {
    bool is_regex = false;
    std::string pattern = pattern_field(j, where, is_regex);
    return std::make_unique<ReplaceNormalizer>(TextPattern(std::move(pattern), is_regex, where.file + ": " + where.path),
                                               require_string(j, "content", where));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(require_string(j, "prepend", where));
  if (type == "NFC") return std::make_unique<NfcNormalizer>();
  if (type == "NFD") return std::make_unique<NfdNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(optional_bool(j, "strip_left", false, where), optional_bool(j, "strip_right", false, where));
  json_fail(where, fmt::format("normalizer type '{}' is not supported (supported: Sequence, Replace, Prepend, NFC, NFD, Strip)", type));
}

}  // namespace qg::text
