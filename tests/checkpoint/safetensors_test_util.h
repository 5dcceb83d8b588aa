#pragma once
// Helpers for building and corrupting safetensors files byte by byte in tests.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "catch.h"
#include "common/error.h"

namespace qg::test {

// Writes <8-byte little-endian len><header><data> exactly as given (no validation, no padding).
inline void write_raw_safetensors(const std::filesystem::path& path, const std::string& header,
                                  const std::vector<std::uint8_t>& data, std::uint64_t declared_len = UINT64_MAX) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const std::uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  for (int b = 0; b < 8; ++b) out.put(static_cast<char>((n >> (8 * b)) & 0xff));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Runs `fn`, requires a qg::Error whose file contains `file_part`, whose tensor equals `tensor`
// (empty: no tensor) and whose text contains `message_part`.
inline void require_error(const std::function<void()>& fn, const std::string& file_part, const std::string& tensor,
                          const std::string& message_part) {
  try {
    fn();
  } catch (const qg::Error& e) {
    INFO("error was: " << e.what());
    CHECK(e.file().find(file_part) != std::string::npos);
    CHECK(e.tensor() == tensor);
    CHECK(std::string(e.what()).find(message_part) != std::string::npos);
    return;
  }
  FAIL("expected a qg::Error containing '" << message_part << "'");
}

}  // namespace qg::test
