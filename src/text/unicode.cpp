#include "text/unicode.h"

#include <algorithm>
#include <vector>

#include "text/unicode_tables.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

// Hangul syllables are (de)composed by arithmetic (Unicode ch. 3.12), not by table.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

// Appends the full canonical decomposition of cp.
void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const int s = static_cast<int>(cp - kSBase);
    out += static_cast<char32_t>(kLBase + s / kNCount);
    out += static_cast<char32_t>(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out += static_cast<char32_t>(kTBase + s % kTCount);
    return;
  }
  if (cp < 0xC0) {  // nothing below U+00C0 decomposes
    out += cp;
    return;
  }
  const auto* begin = tables::kDecompositions;
  const auto* end = begin + tables::kDecompositionCount;
  const auto* it = std::lower_bound(begin, end, cp, [](const tables::Decomposition& d, char32_t c) { return d.cp < c; });
  if (it == end || it->cp != cp) {
    out += cp;
    return;
  }
  decompose(it->first, out);
  if (it->second != 0) decompose(it->second, out);
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* begin = tables::kCompositions;
  const auto* end = begin + tables::kCompositionCount;
  const auto* it = std::lower_bound(begin, end, std::pair{a, b}, [](const tables::Composition& c, std::pair<char32_t, char32_t> k) {
    return c.first < k.first || (c.first == k.first && c.second < k.second);
  });
  if (it != end && it->first == a && it->second == b) return it->composite;
  return 0;
}

// Canonical ordering: stable sort of each run of non-starters by combining class.
void canonical_order(std::u32string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (canonical_combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && canonical_combining_class(s[j]) != 0) ++j;
    std::stable_sort(s.begin() + static_cast<std::ptrdiff_t>(i), s.begin() + static_cast<std::ptrdiff_t>(j),
                     [](char32_t a, char32_t b) { return canonical_combining_class(a) < canonical_combining_class(b); });
    i = j;
  }
}

std::u32string nfd32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) decompose(next_code_point(s, i), out);
  canonical_order(out);
  return out;
}

bool all_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

GeneralCategory general_category(char32_t cp) {
  const auto* begin = tables::kCategoryRuns;
  const auto* end = begin + tables::kCategoryRunCount;
  const auto* it = std::upper_bound(begin, end, cp, [](char32_t c, const tables::CategoryRun& r) { return c < r.first; });
  return static_cast<GeneralCategory>((it - 1)->category);
}

const char* unicode_version() { return tables::kUnicodeVersion; }

std::uint8_t canonical_combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = tables::kCombiningRuns;
  const auto* end = begin + tables::kCombiningRunCount;
  const auto* it = std::upper_bound(begin, end, cp, [](char32_t c, const tables::CombiningRun& r) { return c < r.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

std::string nfd(std::string_view s) {
  if (all_ascii(s)) return std::string(s);
  return to_utf8(nfd32(s));
}

std::string nfc(std::string_view s) {
  if (all_ascii(s)) return std::string(s);
  std::u32string d = nfd32(s);
  // Canonical composition (Unicode ch. 3.11): a character combines with the last starter unless a
  // character between them blocks it (same or higher combining class, or a starter).
  std::u32string out;
  out.reserve(d.size());
  std::ptrdiff_t starter = -1;
  int last_ccc = -1;
  for (char32_t c : d) {
    const int ccc = canonical_combining_class(c);
    if (starter >= 0) {
      const bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= ccc);
      if (!blocked) {
        if (const char32_t comp = compose_pair(out[static_cast<std::size_t>(starter)], c)) {
          out[static_cast<std::size_t>(starter)] = comp;
          continue;
        }
      }
    }
    if (ccc == 0) {
      starter = static_cast<std::ptrdiff_t>(out.size());
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    out += c;
  }
  return to_utf8(out);
}

std::string python_strip(std::string_view s) {
  std::u32string u = to_utf32(s);
  std::size_t b = 0, e = u.size();
  while (b < e && is_python_space(u[b])) ++b;
  while (e > b && is_python_space(u[e - 1])) --e;
  return to_utf8(std::u32string_view(u).substr(b, e - b));
}

}  // namespace qg::text
