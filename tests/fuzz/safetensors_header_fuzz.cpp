// libFuzzer target for the safetensors header parser: any input must either parse or throw qg::Error.
// Anything else (a crash, a sanitizer report, another exception type) is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "checkpoint/safetensors_header.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto header =
        qg::parse_safetensors_header(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz-input");
    // A parsed header must describe ranges inside the input.
    for (const auto& t : header.tensors)
      if (header.data_offset + t.end > size) __builtin_trap();
  } catch (const qg::Error&) {
  }
  return 0;
}
