#pragma once
// Unicode properties and normalization forms that tokenizer.json files rely on, backed by the tables
// that scripts/gen_unicode_tables.py generates (no ICU). Only what tokenizers need: general categories
// (for \p{..} in pre-tokenizer regexes), White_Space, and canonical NFC/NFD.
#include <cstdint>
#include <string>
#include <string_view>

namespace qg::text {

// Unicode general categories, in the generator's order.
enum class GeneralCategory : std::uint8_t {
  Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe,
  Pi, Pf, Po, Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co, Cn
};
constexpr int kGeneralCategoryCount = 30;

GeneralCategory general_category(char32_t cp);
const char* unicode_version();  // of the generated tables, e.g. "15.1.0"

// Category masks: bit (1 << category). Used by regex classes such as \p{L} (kLetterMask).
constexpr std::uint32_t category_bit(GeneralCategory c) { return 1u << static_cast<unsigned>(c); }
constexpr std::uint32_t kLetterMask = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4);
constexpr std::uint32_t kMarkMask = (1u << 5) | (1u << 6) | (1u << 7);
constexpr std::uint32_t kNumberMask = (1u << 8) | (1u << 9) | (1u << 10);
constexpr std::uint32_t kPunctuationMask = 0x7Fu << 11;
constexpr std::uint32_t kSymbolMask = 0xFu << 18;
constexpr std::uint32_t kSeparatorMask = 0x7u << 22;
constexpr std::uint32_t kOtherMask = 0x1Fu << 25;

inline bool in_categories(char32_t cp, std::uint32_t mask) {
  return (mask & category_bit(general_category(cp))) != 0;
}
inline bool is_letter(char32_t cp) { return in_categories(cp, kLetterMask); }
inline bool is_number(char32_t cp) { return in_categories(cp, kNumberMask); }

// Unicode White_Space (Rust char::is_whitespace, Oniguruma \s, regex-crate \s).
inline bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Python's str.isspace(), which Jinja's `trim` (used by chat templates) strips: White_Space plus the
// information separators U+001C..U+001F.
inline bool is_python_space(char32_t cp) { return is_white_space(cp) || (cp >= 0x1C && cp <= 0x1F); }

// Word characters as Oniguruma's and the regex crate's \w: Alphabetic (letters, letter numbers and the
// circled/squared Latin letters of Other_Alphabetic; its marks are covered by M), marks, decimal digits,
// connector punctuation.
inline bool is_word_char(char32_t cp) {
  if (in_categories(cp, kLetterMask | kMarkMask | category_bit(GeneralCategory::Nd) | category_bit(GeneralCategory::Nl) |
                            category_bit(GeneralCategory::Pc)))
    return true;
  return (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
         (cp >= 0x1F170 && cp <= 0x1F189);
}

std::uint8_t canonical_combining_class(char32_t cp);

// Canonical normalization of valid UTF-8 text.
std::string nfd(std::string_view s);
std::string nfc(std::string_view s);

// Python str.strip(): removes leading and trailing is_python_space code points.
std::string python_strip(std::string_view s);

}  // namespace qg::text
