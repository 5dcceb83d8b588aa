// The CUDA engine's memory plan, checked by hand on the real E4B config (CPU only, runs in CI), and the
// --device parsing every engine-backed command shares.
#include <string>

#include "catch.h"
#include "common/error.h"
#include "forward/memory_plan.h"
#include "forward/open_forward.h"
#include "model/gemma4_config.h"
#include "test_paths.h"

using namespace qg;

namespace {
Gemma4TextConfig e4b() {
  return read_gemma4_config((test::fixtures_dir() / "configs" / "gemma4_e4b.json").string()).text;
}
}  // namespace

TEST_CASE("memory plan: E4B K/V cache bytes per token, by hand", "[memory_plan]") {
  // Layers 0-23 own K/V (18 KV-shared layers read 22 and 23). Of those, 5, 11, 17, 23 are full attention
  // (2 kv heads x 512) and 20 are sliding (2 kv heads x 256); K and V, 2 bytes each in fp16 (fast):
  //   20 * 2 * (2*256) * 2 + 4 * 2 * (2*512) * 2 = 40960 + 16384 = 57344 bytes per token; fp32 (accurate) twice.
  const Gemma4TextConfig c = e4b();
  CHECK(kv_bytes_per_token(c, GemmInputPrecision::kFast) == 57344);
  CHECK(kv_bytes_per_token(c, GemmInputPrecision::kAccurate) == 2 * 57344);
  const MemoryPlan p = plan_memory(c, 9'000'000'000, 52'428'800, EngineLimits{}, 32 << 20);
  CHECK(p.kv_cache == 2 * 57344ull * 32768);  // 3.5 GiB at the default 32k context, accurate
  // fp32 logits [512, 262144] (the default --logits-rows) + the head's input rows: bf16 hi and lo halves and
  // their fp32 staging
  CHECK(p.logits == 512ull * (262144 * 4 + 2560 * (2 + 2 + 4)));
  CHECK(p.attention_scores == 0);  // accurate precision: the attention kernel needs no score blocks
  CHECK(p.total() == p.weights + p.dequant_workspace + p.kv_cache + p.activations + p.logits + p.cublas_workspace);
}

TEST_CASE("memory plan: step widths of E4B", "[memory_plan]") {
  const StepWidths w = step_widths(e4b(), GemmInputPrecision::kFast);
  CHECK(w.residual == 2560);
  CHECK(w.q == 8 * 512);          // full layers: 8 heads x 512
  CHECK(w.kv == 2 * 512);
  CHECK(w.out1 == 42 * 256);      // the PLE context [n_layers * d_ple] is the widest fp32 GEMM output
  CHECK(w.out2 == 10240);
  CHECK(w.gemm_in == 10240);
  CHECK(w.ple == 42 * 256);
  CHECK(w.moe_f32 == 0);
  CHECK(w.q_f16 == 8 * 512);      // fast: fp16 queries for attention by GEMMs
  // per row: 4 * (2560 + 4096 + 2*1024 + 10752 + 10240 + 10752) + 2 * (10240 + 4096) + 28 metadata bytes
  // (ids, positions, kv_start, kv_dest, the kept-row index of the KV-shared layers)
  CHECK(w.bytes_per_row() == 4ull * (2560 + 4096 + 2048 + 10752 + 10240 + 10752) + 2ull * (10240 + 4096) + 28);
  // accurate: an fp32 staging row and a bf16 low-half row of the widest GEMM input in addition, no fp16 queries
  const StepWidths a = step_widths(e4b(), GemmInputPrecision::kAccurate);
  CHECK(a.q_f16 == 0);
  CHECK(a.bytes_per_row() == w.bytes_per_row() + 4ull * 10240 + 2ull * 10240 - 2ull * 4096);
  // fast precision plans one block of attention scores
  CHECK(plan_memory(e4b(), 0, 0, EngineLimits{.precision = GemmInputPrecision::kFast}, 0).attention_scores ==
        kAttentionScoreBytes);
}

TEST_CASE("memory plan: too little memory is refused with needed vs free and a flag that fits", "[memory_plan]") {
  const Gemma4TextConfig c = e4b();
  const MemoryPlan p = plan_memory(c, 9'000'000'000, 52'428'800, EngineLimits{}, 32 << 20);
  CHECK_NOTHROW(check_plan_fits(p, c, p.total(), "e4b on cuda:0"));
  try {  // 1 GiB short: a smaller step or context fits
    check_plan_fits(p, c, p.total() - (1ull << 30), "e4b on cuda:0");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message().find("e4b on cuda:0 needs") != std::string::npos);
    CHECK(e.message().find("free") != std::string::npos);
    CHECK(e.hint().find("would fit") != std::string::npos);
    // The suggested flags really fit.
    EngineLimits l;
    const std::string h = e.hint();
    const auto at = h.find("--max-batch-tokens ");
    REQUIRE(at != std::string::npos);
    l.max_batch_tokens = std::stoll(h.substr(at + 19));
    const auto ctx = h.find("--max-context ");
    if (ctx != std::string::npos) l.max_context = std::stoll(h.substr(ctx + 14));
    CHECK(plan_memory(c, p.weights, p.dequant_workspace, l, p.cublas_workspace).total() <= p.total() - (1ull << 30));
  }
  try {  // less than the weights: no flag helps
    check_plan_fits(p, c, 8'000'000'000, "e4b on cuda:0");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.hint().find("the weights alone need") != std::string::npos);
  }
  CHECK_THROWS_AS(plan_memory(c, 0, 0, EngineLimits{.max_batch_tokens = 0}, 0), Error);
}

TEST_CASE("--device parsing", "[memory_plan]") {
  CHECK(!parse_device("cpu").cuda);
  CHECK(parse_device("cuda").cuda);
  CHECK(parse_device("cuda:3").index == 3);
  CHECK(parse_precision("fast") == GemmInputPrecision::kFast);
  CHECK(parse_precision("accurate") == GemmInputPrecision::kAccurate);
  CHECK_THROWS_AS(parse_precision("fp32"), Error);
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:1x", "CPU", ""}) CHECK_THROWS_AS(parse_device(bad), Error);
}

// The default step size grows to 8192 or 4096 rows only when the extra activations take at most a quarter of what the
// 2048-row plan leaves free; a given --max-batch-tokens is never passed in (the CLI turns growing off).
TEST_CASE("memory plan: the default step grows to 4096 / 8192 rows when memory allows", "[memory_plan]") {
  const Gemma4TextConfig c = e4b();
  const EngineLimits base{.precision = GemmInputPrecision::kFast};
  const std::uint64_t weights = 16'000'000'000, dequant = 0, cublas = 32 << 20;
  auto total = [&](std::int64_t rows) {
    EngineLimits l = base;
    l.max_batch_tokens = rows;
    return plan_memory(c, weights, dequant, l, cublas).total();
  };
  const std::uint64_t t2k = total(2048), t4k = total(4096), t8k = total(8192);
  REQUIRE(t2k < t4k);
  REQUIRE(t4k < t8k);
  // Free after the base plan: exactly 4x the extra of 8192 -> 8192; one byte less -> 4096 if its 4x fits.
  CHECK(grown_batch_tokens(c, weights, dequant, base, cublas, t2k + 4 * (t8k - t2k)) == 8192);
  CHECK(grown_batch_tokens(c, weights, dequant, base, cublas, t2k + 4 * (t8k - t2k) - 4) == 4096);
  CHECK(grown_batch_tokens(c, weights, dequant, base, cublas, t2k + 4 * (t4k - t2k)) == 4096);
  CHECK(grown_batch_tokens(c, weights, dequant, base, cublas, t2k + 4 * (t4k - t2k) - 4) == 2048);
  CHECK(grown_batch_tokens(c, weights, dequant, base, cublas, t2k - 1) == 2048);  // not even the base: reported later
  CHECK(grown_batch_tokens(c, weights, dequant, base, cublas, std::uint64_t{139} << 30) == 8192);  // an H200
  EngineLimits big = base;
  big.max_batch_tokens = 16384;
  CHECK(grown_batch_tokens(c, weights, dequant, big, cublas, std::uint64_t{139} << 30) == 16384);  // never shrinks
}
