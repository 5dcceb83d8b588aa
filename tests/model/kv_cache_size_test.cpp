// The serving K/V-cache formula of model/kv_cache_size.h on the real configs, computed by hand.
#include "catch.h"
#include "model/gemma4_config.h"
#include "model/kv_cache_size.h"
#include "test_paths.h"

using namespace qg;

namespace {
Gemma4TextConfig config(const char* file) {
  return read_gemma4_config((test::fixtures_dir() / "configs" / file).string()).text;
}
}  // namespace

TEST_CASE("kv_cache_bytes: E4B at 32k, fp8 and bf16, by hand", "[model]") {
  // E4B: layers 0-23 own K/V; 20 sliding (2 kv heads x 256, window 512) and 4 full (5, 11, 17, 23: 2 x 512).
  //   sliding: 20 * 2 * 2 * 256 * 512 tokens = 10,485,760 B per byte of element
  //   full:     4 * 2 * 2 * 512 * 32768       = 268,435,456 B
  const Gemma4TextConfig c = config("gemma4_e4b.json");
  CHECK(kv_cache_bytes(c, 32768, 1) == 10'485'760ull + 268'435'456ull);  // 266 MiB in fp8
  CHECK(kv_cache_bytes(c, 32768, 2) == 2 * (10'485'760ull + 268'435'456ull));
  // Below the window every layer holds every token: 24 layers' worth per token.
  CHECK(kv_cache_bytes(c, 100, 2) == 100ull * (20 * 2 * 2 * 256 + 4 * 2 * 2 * 512) * 2);
  CHECK(kv_cache_bytes(c, 0, 1) == 0);
}

TEST_CASE("kv_cache_bytes: 31B (no KV sharing, k_eq_v full layers) at 32k fp8, by hand", "[model]") {
  // 60 layers, no sharing: 50 sliding (16 kv heads x 256, window 1024), 10 full (k_eq_v: 4 global kv heads x 512).
  //   sliding: 50 * 2 * 16 * 256 * 1024 = 419,430,400;  full: 10 * 2 * 4 * 512 * 32768 = 1,342,177,280
  const Gemma4TextConfig c = config("gemma4_31b.json");
  CHECK(kv_cache_bytes(c, 32768, 1) == 419'430'400ull + 1'342'177'280ull);
}
