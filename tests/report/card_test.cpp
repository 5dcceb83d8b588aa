// `quantgate card` on the real model card (../shared/cards/Gemma4-E4B-it-W4A16.md) with the hand-written
// results in tests/fixtures/card/ (see its README.md): golden output, only the measured cells change,
// idempotence, "—" with a footnote for what was not measured, refusal of results about another checkpoint.
#include <fstream>
#include <sstream>

#include "catch.h"
#include "common/error.h"
#include "model/kv_cache_size.h"
#include "report/card_fill.h"
#include "report/card_markdown.h"
#include "report/format.h"
#include "report/served_checkpoint.h"
#include "test_paths.h"

namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path card_fixtures() { return qg::test::fixtures_dir() / "card"; }
fs::path checkpoint() { return card_fixtures() / "w4a16"; }
std::string card_template() {
  return read_text(qg::test::shared_datasets_dir().parent_path() / "cards" / "Gemma4-E4B-it-W4A16.md");
}

qg::ResultsFile fixture(const std::string& name) { return qg::load_results_file(card_fixtures() / (name + ".json")); }
std::vector<qg::ResultsFile> all_results() {
  return {fixture("kl"), fixture("mmlu"), fixture("bench"), fixture("inspect_w4a16"), fixture("inspect_bf16")};
}

std::string fill(const std::string& text, std::vector<qg::ResultsFile> results) {
  return qg::card::fill_card(text, qg::card::select_card_sources(checkpoint(), std::move(results))).text;
}

// The line of `text` that starts with `prefix` (exactly one).
std::string line_starting(const std::string& text, const std::string& prefix) {
  std::string found;
  int n = 0;
  for (const auto& l : qg::card::split_lines(text).lines)
    if (l.rfind(prefix, 0) == 0) found = l, ++n;
  INFO(prefix);
  REQUIRE(n == 1);
  return found;
}

std::string refusal(std::vector<qg::ResultsFile> results) {
  try {
    qg::card::select_card_sources(checkpoint(), std::move(results));
  } catch (const qg::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("card: the real card filled from every kind of result equals the golden", "[card]") {
  const std::string tmpl = card_template();
  const std::string filled = fill(tmpl, all_results());
  CHECK(filled == read_text(card_fixtures() / "expected_card.md"));

  // Independently of the golden: only the measured lines changed, and each holds the numbers of its source.
  const auto a = qg::card::split_lines(tmpl).lines, b = qg::card::split_lines(filled).lines;
  REQUIRE(a.size() == b.size());  // every value was measured: no footnote block
  int changed = 0;
  for (std::size_t i = 0; i < a.size(); ++i) changed += a[i] != b[i];
  // Disk size; Weights, KV cache, Total; two Benchmarks rows and the Hardware line; Quality header, separator, 2 rows.
  CHECK(changed == 1 + 3 + 3 + 4);

  const auto config = qg::read_gemma4_config((checkpoint() / "config.json").string());
  const std::uint64_t kv = qg::kv_cache_bytes(config.text, 32768, 1);
  CHECK(qg::human_bytes(kv) == "278.92 MB");  // E4B at 32k in fp8, computed by hand in model/kv_cache_size_test
  const std::uint64_t w4 = 9984399164, bf16 = 15882221424;  // source.file_bytes of the two inspect fixtures
  CHECK(line_starting(filled, "| Disk size |") == "| Disk size | " + qg::human_bytes(w4) + " |");
  CHECK(line_starting(filled, "| Weights (disk/VRAM) |") ==
        "| Weights (disk/VRAM) | " + qg::human_bytes(bf16) + " | " + qg::human_bytes(w4) + " |");
  CHECK(line_starting(filled, "| KV cache @ 32k ctx (fp8) |") == "| KV cache @ 32k ctx (fp8) | 278.92 MB | 278.92 MB |");
  CHECK(line_starting(filled, "| Total @ 32k ctx |") ==
        "| Total @ 32k ctx | " + qg::human_bytes(bf16 + kv) + " | " + qg::human_bytes(w4 + kv) + " |");
  CHECK(line_starting(filled, "| Minimum GPU |") == "| Minimum GPU | A100 40GB | 1× RTX 3090 24GB |");  // not measured: kept
  // bench.json: level 1 output_throughput 71.4, TTFT median 2893.6 / p99 3121.2 ms, peak used 46473347072 B.
  CHECK(line_starting(filled, "| vLLM v0.21.0 | W4A16 compressed-tensors | 1 |") ==
        "| vLLM v0.21.0 | W4A16 compressed-tensors | 1 | 32k | 71.4 | 2894 ms | 3121 ms | 46.47 GB |");
  CHECK(line_starting(filled, "| vLLM v0.21.0 | W4A16 compressed-tensors | 8 |") ==
        "| vLLM v0.21.0 | W4A16 compressed-tensors | 8 | 32k | 236.9 | 14982 ms | 23409 ms | 46.60 GB |");
  CHECK(line_starting(filled, "Hardware:") == "Hardware: NVIDIA RTX A6000 (48 GiB), CUDA 12.8, driver 570.133.20.");
  CHECK(line_starting(filled, "| Metric |") == "| Metric | Target | Measured | Result |");
  // kl.json: mean 0.012134, CI 0.011771..0.012508 < 0.014; mmlu.json: recovery 0.98741 (CI 0.98112..0.99357) < 99%.
  CHECK(line_starting(filled, "| KL divergence vs BF16 |") ==
        "| KL divergence vs BF16 | < 0.014 | 0.0121 (95% CI 0.0118–0.0125) | pass |");
  CHECK(line_starting(filled, "| MMLU recovery |") == "| MMLU recovery | ≥ 99% | 98.74% (95% CI 98.11–99.36%) | fail |");
  CHECK(line_starting(filled, "Results pending.") == "Results pending.");  // prose is never edited
}

TEST_CASE("card: filling a filled card gives the same bytes", "[card]") {
  const std::string tmpl = card_template();
  for (const auto& results : {all_results(), std::vector<qg::ResultsFile>{fixture("kl")}, std::vector<qg::ResultsFile>{}}) {
    const std::string once = fill(tmpl, results);
    CHECK(fill(once, results) == once);
  }
  // A card filled with fewer results, refilled with all of them, equals the card filled with all at once.
  CHECK(fill(fill(tmpl, {fixture("kl")}), all_results()) == fill(tmpl, all_results()));
}

TEST_CASE("card: a value not measured stays — with a footnote saying why", "[card]") {
  const std::string tmpl = card_template();
  const std::string filled = fill(tmpl, {fixture("kl")});
  CHECK(line_starting(filled, "| Disk size |") == "| Disk size | —[^qg1] |");
  CHECK(line_starting(filled, "[^qg1]:") ==
        "[^qg1]: not measured: no inspect result of the carded checkpoint among --results");
  CHECK(line_starting(filled, "| Weights (disk/VRAM) |") == "| Weights (disk/VRAM) | —[^qg2] | —[^qg1] |");
  CHECK(line_starting(filled, "[^qg2]:") ==
        "[^qg2]: not measured: no inspect result of the BF16 reference checkpoint among --results");
  // The KV cache is computed from the config, so it is there without any result; Total needs the weights.
  CHECK(line_starting(filled, "| KV cache @ 32k ctx (fp8) |") == "| KV cache @ 32k ctx (fp8) | 278.92 MB | 278.92 MB |");
  CHECK(line_starting(filled, "| Total @ 32k ctx |") == "| Total @ 32k ctx | —[^qg2] | —[^qg1] |");
  CHECK(line_starting(filled, "| vLLM v0.21.0 | W4A16 compressed-tensors | 1 |") ==
        "| vLLM v0.21.0 | W4A16 compressed-tensors | 1 | 32k | —[^qg3] | —[^qg3] | —[^qg3] | —[^qg3] |");
  CHECK(line_starting(filled, "[^qg3]:") ==
        "[^qg3]: not measured: no bench result among --results for vLLM v0.21.0, W4A16 compressed-tensors, "
        "concurrency 1, input length 32768");
  CHECK(line_starting(filled, "Hardware:") == "Hardware: A6000 48 GB, CUDA 12.9, driver 570.");  // nothing measured: kept
  CHECK(line_starting(filled, "| KL divergence vs BF16 |") ==
        "| KL divergence vs BF16 | < 0.014 | 0.0121 (95% CI 0.0118–0.0125) | pass |");
  CHECK(line_starting(filled, "| MMLU recovery |") == "| MMLU recovery | ≥ 99% | —[^qg5] | — |");
  CHECK(line_starting(filled, "[^qg5]:") == "[^qg5]: not measured: no mmlu result of the carded checkpoint among --results");
  // The footnotes are one block at the end, after the template's last line.
  const auto lines = qg::card::split_lines(filled).lines;
  const auto tmpl_lines = qg::card::split_lines(tmpl).lines;
  CHECK(lines[tmpl_lines.size()].empty());
  CHECK(lines[tmpl_lines.size() + 1].rfind("<!-- quantgate card: footnotes", 0) == 0);
  CHECK(lines.size() == tmpl_lines.size() + 2 + 5);
  CHECK(filled.back() == '\n');

  // mmlu without --ref: measured accuracy but no recovery.
  auto mmlu = fixture("mmlu");
  mmlu.json.erase("recovery");
  const std::string no_ref = fill(tmpl, {mmlu});
  CHECK(line_starting(no_ref, "| MMLU recovery |").find("—[^qg") != std::string::npos);
  CHECK(no_ref.find("has no recovery (mmlu was run without --ref)") != std::string::npos);

  // VRAM not sampled: that cell alone is —, with NVML's reason.
  auto bench = fixture("bench");
  bench.json["levels"][0]["quantgate"]["vram"] = {{"measured", false}, {"reason", "disabled by --no-vram"}};
  const std::string no_vram = fill(tmpl, {bench});
  CHECK(line_starting(no_vram, "| vLLM v0.21.0 | W4A16 compressed-tensors | 1 |").find("| 71.4 | 2894 ms | 3121 ms | —[^qg") !=
        std::string::npos);
  CHECK(no_vram.find("disabled by --no-vram") != std::string::npos);
}

TEST_CASE("card: results about another checkpoint, or ambiguous ones, are refused naming the file", "[card]") {
  auto kl = fixture("kl");
  kl.path = "other/kl.json";
  kl.json["provenance"]["checkpoints"]["candidate"]["files"][0]["sha256"] = std::string(64, '0');
  std::string e = refusal({kl});
  CHECK(e.find("other/kl.json") != std::string::npos);
  CHECK(e.find("not about the carded checkpoint") != std::string::npos);
  CHECK(e.find("sha256 differs") != std::string::npos);

  kl = fixture("kl");
  kl.json["provenance"]["checkpoints"]["candidate"]["files"][0]["bytes"] = 1;
  CHECK(refusal({kl}).find("bytes recorded") != std::string::npos);
  kl = fixture("kl");
  kl.json["provenance"]["checkpoints"]["candidate"]["files"].push_back({{"name", "model.safetensors"}, {"bytes", 5}});
  CHECK(refusal({kl}).find("identity files recorded") != std::string::npos);
  kl = fixture("kl");
  kl.json["provenance"]["checkpoints"]["candidate"]["files"][0].erase("sha256");  // then the mtime must agree
  CHECK(refusal({kl}).find("no sha256 recorded") != std::string::npos);

  auto bench = fixture("bench");
  bench.json["provenance"]["checkpoints"].erase("served");
  CHECK(refusal({bench}).find("run bench with --checkpoint DIR") != std::string::npos);

  auto bf16 = fixture("inspect_bf16");
  bf16.json["text_config"]["n_layers"] = 35;
  CHECK(refusal({bf16}).find("not its base model") != std::string::npos);
  auto quantized_other = fixture("inspect_bf16");
  quantized_other.json["model"]["has_quantization_config"] = true;
  CHECK(refusal({quantized_other}).find("cannot be the BF16 reference") != std::string::npos);

  e = refusal({fixture("kl"), fixture("kl")});
  CHECK(e.find("two kl results") != std::string::npos);
  auto partial = fixture("kl");
  partial.json["partial"] = true;
  CHECK(refusal({partial}).find("partial") != std::string::npos);

  // Two bench files measuring the same row: refused when filling.
  try {
    fill(card_template(), {fixture("bench"), fixture("bench")});
    FAIL("two bench results for one row were accepted");
  } catch (const qg::Error& err) {
    CHECK(std::string(err.what()).find("two bench results measure the row") != std::string::npos);
  }
  CHECK_THROWS_AS(qg::card::select_card_sources(checkpoint() / "missing", {}), qg::Error);
}

TEST_CASE("card: bench rows match engine, version, format, batch and ctx exactly", "[card]") {
  const std::string tmpl = card_template();
  const std::string row1 = "| vLLM v0.21.0 | W4A16 compressed-tensors | 1 |";
  auto measured = [&](const qg::ResultsFile& b) {
    return line_starting(fill(tmpl, {b}), row1).find("—") == std::string::npos;
  };
  CHECK(measured(fixture("bench")));
  auto b = fixture("bench");
  b.json["server"]["engine_version"] = "0.20.2";
  CHECK_FALSE(measured(b));
  b = fixture("bench");
  b.json["server"]["engine_version"] = nullptr;  // unknown version: not claimed as v0.21.0
  CHECK_FALSE(measured(b));
  b = fixture("bench");
  b.json["server"]["engine"] = "sglang";
  CHECK_FALSE(measured(b));
  b = fixture("bench");
  b.json["served_checkpoint"]["quantization"]["scheme"] = "W8A16";
  CHECK_FALSE(measured(b));
  b = fixture("bench");
  b.json["workload"]["input_len"] = 32000;  // "32k" is 32768 tokens
  CHECK_FALSE(measured(b));
  b = fixture("bench");
  b.json["levels"][0]["request_rate"] = 4.0;  // a rate-limited level is not a batch-1 row
  CHECK_FALSE(measured(b));
}

TEST_CASE("card: served checkpoint scheme and context parsing", "[card]") {
  const auto w4 = qg::served_checkpoint_json(qg::test::fixtures_dir() / "gemma4" / "e_style_w4a16", false);
  CHECK(w4["quantization"]["scheme"] == "W4A16");
  CHECK(w4["quantization"]["method"] == "compressed-tensors");
  CHECK(w4["quantization"]["format"] == "pack-quantized");
  CHECK(w4["identity"]["files"].size() >= 2);  // config.json and the weights
  const auto bf16 = qg::served_checkpoint_json(qg::test::fixtures_dir() / "gemma4" / "e_style", false);
  CHECK(bf16["quantization"]["scheme"] == "BF16");
  CHECK(bf16["quantization"]["method"].is_null());
  CHECK(qg::card::parse_ctx("32k") == 32768);
  CHECK(qg::card::parse_ctx("4096") == 4096);
  CHECK_FALSE(qg::card::parse_ctx("32 k").has_value());
  CHECK_FALSE(qg::card::parse_ctx("").has_value());
}
