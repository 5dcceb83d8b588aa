// libFuzzer target: the SSE parser and the chunk decoder on arbitrary bytes, fed in arbitrary splits.
// Invariants: no crash/UB (ASan/UBSan); the events seen do not depend on how the bytes were split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "load/sse_parser.h"
#include "load/stream_chunk.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // First byte picks the split size; the rest is the stream.
  const std::size_t piece = 1 + data[0] % 17;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> whole, split;
  qg::load::SseParser a(1 << 16), b(1 << 16);
  const bool ok_a = a.feed(bytes, [&](std::string_view d) {
    whole.emplace_back(d);
    (void)qg::load::parse_stream_chunk(d);
  });
  bool ok_b = true;
  for (std::size_t i = 0; i < bytes.size() && ok_b; i += piece)
    ok_b = b.feed(bytes.substr(i, piece), [&](std::string_view d) { split.emplace_back(d); });
  if (ok_a && ok_b && (whole != split || a.done() != b.done())) std::abort();
  return 0;
}
