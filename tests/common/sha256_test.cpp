// SHA-256 against FIPS 180-4 / NIST vectors, incremental updates included.
#include "common/sha256.h"

#include <fstream>
#include <string>

#include "catch.h"
#include "common/error.h"
#include "test_paths.h"

using qg::sha256_hex;

TEST_CASE("sha256 matches the NIST test vectors", "[kl][sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(sha256_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 is the same fed in pieces and from a file", "[kl][sha256]") {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7 + 3);
  const std::string whole = sha256_hex(data);
  for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 500u}) {
    qg::Sha256 h;
    for (std::size_t i = 0; i < data.size(); i += piece) h.update(std::string_view(data).substr(i, piece));
    CHECK(h.hex_digest() == whole);
  }
  qg::test::TempDir dir("sha256");
  { std::ofstream(dir / "f.bin", std::ios::binary) << data; }
  CHECK(qg::sha256_file_hex(dir / "f.bin") == whole);
  CHECK_THROWS_AS(qg::sha256_file_hex(dir / "missing"), qg::Error);
}
