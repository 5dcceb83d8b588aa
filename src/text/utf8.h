#pragma once
// UTF-8 decoding/encoding. Tokenizers work on Unicode text, so every input is validated once at the
// door: invalid UTF-8 is an error naming the byte offset (our policy: reject, never replace silently).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace qg::text {

// Byte offset of the first invalid UTF-8 sequence (overlong forms, surrogates, > U+10FFFF, truncated
// sequences and stray continuation bytes are all invalid), or npos when `s` is valid.
std::size_t find_invalid_utf8(std::string_view s);

// Throws qg::Error("invalid UTF-8 at byte N ...", {.file = what}) when `s` is not valid UTF-8.
// `what` names the input (a file name, or "--text").
void check_utf8(std::string_view s, const std::string& what);

// Decodes the code point starting at s[i] (s must be valid UTF-8) and advances i past it.
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if (b0 < 0xE0) {
    const char32_t cp = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    const char32_t cp = ((b0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                        (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    i += 3;
    return cp;
  }
  const char32_t cp = ((b0 & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
                      ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
                      (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
  i += 4;
  return cp;
}

// Length in bytes of the UTF-8 sequence whose lead byte is `lead` (1 for continuation bytes).
inline std::size_t utf8_sequence_length(unsigned char lead) {
  return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

void append_utf8(std::string& out, char32_t cp);

// Valid UTF-8 -> code points, and back.
std::u32string to_utf32(std::string_view s);
std::string to_utf8(std::u32string_view s);

// Replaces invalid sequences with U+FFFD the way Rust's String::from_utf8_lossy does (one U+FFFD per
// maximal invalid prefix); used only where `tokenizers` itself does that (byte-level decoding).
std::string utf8_lossy(std::string_view bytes);

}  // namespace qg::text
