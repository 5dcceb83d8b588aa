// UTF-8 validation, Unicode categories and NFC/NFD from the generated tables.
#include <string>

#include "catch.h"
#include "common/error.h"
#include "text/unicode.h"
#include "text/utf8.h"

using namespace qg::text;

TEST_CASE("invalid UTF-8 is found at its byte offset", "[text]") {
  CHECK(find_invalid_utf8("plain ascii") == std::string::npos);
  CHECK(find_invalid_utf8("caf\xC3\xA9 \xF0\x9F\xA6\x99") == std::string::npos);
  CHECK(find_invalid_utf8("abc\xFF") == 3);                  // never valid
  CHECK(find_invalid_utf8("ab\xC3") == 2);                   // truncated sequence
  CHECK(find_invalid_utf8("\xC0\xAF") == 0);                 // overlong '/'
  CHECK(find_invalid_utf8("x\xED\xA0\x80") == 1);            // UTF-16 surrogate
  CHECK(find_invalid_utf8("0123456789\xF4\x90\x80\x80") == 10);  // above U+10FFFF, after the 8-byte fast path
  CHECK(find_invalid_utf8("\x80") == 0);                     // stray continuation byte
  try {
    check_utf8("ok so far \xE2\x82", "notes.txt");
    FAIL("expected an error");
  } catch (const qg::Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("notes.txt") != std::string::npos);
    CHECK(msg.find("byte offset 10") != std::string::npos);
    CHECK(msg.find("0xE2 0x82") != std::string::npos);
  }
}

TEST_CASE("lossy UTF-8 decoding replaces like Rust's from_utf8_lossy", "[text]") {
  CHECK(utf8_lossy("a\xFF" "b") == "a\xEF\xBF\xBD" "b");
  CHECK(utf8_lossy("\xE2\x82") == "\xEF\xBF\xBD");                      // one U+FFFD for the truncated prefix
  CHECK(utf8_lossy("\xF0\x9F\x98" "x") == "\xEF\xBF\xBD" "x");
  CHECK(utf8_lossy("\xC3\xA9") == "\xC3\xA9");
}

TEST_CASE("general categories come from the generated tables", "[text]") {
  CHECK(general_category(U'A') == GeneralCategory::Lu);
  CHECK(general_category(U'z') == GeneralCategory::Ll);
  CHECK(general_category(U'7') == GeneralCategory::Nd);
  CHECK(general_category(U' ') == GeneralCategory::Zs);
  CHECK(general_category(0x4E2D) == GeneralCategory::Lo);   // 中
  CHECK(general_category(0x0301) == GeneralCategory::Mn);   // combining acute
  CHECK(general_category(0x00BD) == GeneralCategory::No);   // ½
  CHECK(general_category(0x2160) == GeneralCategory::Nl);   // Ⅰ
  CHECK(general_category(0x1F999) == GeneralCategory::So);  // 🦙
  CHECK(general_category(0x0378) == GeneralCategory::Cn);   // unassigned
  CHECK(general_category(0x10FFFF) == GeneralCategory::Cn);
  CHECK(general_category(0xE000) == GeneralCategory::Co);
  CHECK(is_white_space(0x85));
  CHECK(is_white_space(0x3000));
  CHECK_FALSE(is_white_space(0x1C));
  CHECK(is_python_space(0x1C));
  CHECK_FALSE(is_white_space(0x200B));  // zero width space is not White_Space
  CHECK(std::string(unicode_version()) >= "14.0.0");
}

TEST_CASE("NFC and NFD match Unicode's canonical forms", "[text]") {
  CHECK(nfc("cafe\xCC\x81") == "caf\xC3\xA9");                  // e + U+0301 -> é
  CHECK(nfd("caf\xC3\xA9") == "cafe\xCC\x81");
  CHECK(nfc("\xE1\xBA\x9B\xCC\xA3") == "\xE1\xBA\x9B\xCC\xA3");  // ẛ̣ stays (NFC of U+1E9B U+0323)
  CHECK(nfd("\xE1\xBA\x9B\xCC\xA3") == "\xC5\xBF\xCC\xA3\xCC\x87");  // ſ ̣ ̇ (reordered by combining class)
  CHECK(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8") == "\xEA\xB0\x81");  // Hangul L V T -> 각
  CHECK(nfd("\xEA\xB0\x81") == "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
  CHECK(nfc("A\xCC\x8A") == "\xC3\x85");                         // Å
  CHECK(nfc("\xE2\x84\xAB") == "\xC3\x85");                      // Angstrom sign (singleton) -> Å
  CHECK(nfc("a\xCC\x81\xCC\x81") == "\xC3\xA1\xCC\x81");         // second acute is blocked
  CHECK(nfc("plain") == "plain");
}

TEST_CASE("python_strip removes what Python's str.strip() removes", "[text]") {
  CHECK(python_strip("  x y \n") == "x y");
  CHECK(python_strip("\xE3\x80\x80hi\xC2\x85\x1F") == "hi");  // U+3000, U+0085, U+001F
  CHECK(python_strip("\xE2\x80\x8Bzw") == "\xE2\x80\x8Bzw");  // U+200B is not whitespace
  CHECK(python_strip("   ").empty());
}
