#include "model/kv_cache_size.h"

#include <algorithm>

#include "common/error.h"

namespace qg {

std::uint64_t kv_cache_bytes(const Gemma4TextConfig& c, std::int64_t tokens, int bytes_per_element) {
  if (tokens < 0 || bytes_per_element <= 0) throw Error("kv_cache_bytes: negative tokens or element size");
  std::uint64_t bytes = 0;
  for (const Gemma4LayerConfig& l : c.layers) {
    if (l.kv_shared) continue;
    const std::int64_t held = l.type == LayerType::kSliding ? std::min(tokens, c.sliding_window) : tokens;
    bytes += static_cast<std::uint64_t>(2 * l.n_kv_heads * l.d_head) * static_cast<std::uint64_t>(bytes_per_element) *
             static_cast<std::uint64_t>(held);
  }
  return bytes;
}

}  // namespace qg
