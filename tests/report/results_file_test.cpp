// The results envelope (schema quantgate.results/1): written by results_envelope + provenance_json, read back
// by load_results_file; every other schema, version or non-results JSON is a qg::Error naming the file.
#include <fstream>

#include "catch.h"
#include "common/error.h"
#include "report/provenance.h"
#include "report/results_file.h"
#include "test_paths.h"

namespace {

std::string write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p.string();
}

// Loads and expects a qg::Error whose text contains every piece.
void expect_error(const std::filesystem::path& p, std::initializer_list<std::string> pieces) {
  try {
    qg::load_results_file(p);
    FAIL("no error for " << p);
  } catch (const qg::Error& e) {
    const std::string what = e.what();
    for (const auto& piece : pieces) {
      INFO(what << "\n  must contain: " << piece);
      CHECK(what.find(piece) != std::string::npos);
    }
  }
}

nlohmann::json valid_inspect() {
  nlohmann::json j = qg::results_envelope(
      "inspect", qg::provenance_json({.argv = {"quantgate", "inspect", "x"}, .flags = {{"PATH", "x"}}}));
  j.update(nlohmann::json{{"source", nlohmann::json::object()}, {"model", nlohmann::json::object()},
                          {"text_config", nlohmann::json::object()}, {"quantization", nlohmann::json::object()}});
  return j;
}

}  // namespace

TEST_CASE("results envelope: provenance carries every required key", "[results]") {
  const nlohmann::json p = qg::provenance_json({.argv = {"quantgate", "kl"},
                                                .flags = {{"max-kl", "0.014"}},
                                                .checkpoints = {{"candidate", {{"dir", "c"}}}},
                                                .datasets = {{"corpus", {{"sha256", "ab"}}}},
                                                .seeds = {{"bootstrap", 1234}}});
  for (const char* key : {"quantgate_version", "git_sha", "host", "time_utc", "argv", "flags", "gpu", "checkpoints",
                          "datasets", "seeds"})
    CHECK(p.contains(key));
  CHECK(p["flags"]["max-kl"] == "0.014");
  CHECK(p["seeds"]["bootstrap"] == 1234);
  CHECK(p["checkpoints"]["candidate"]["dir"] == "c");
  // A host without NVML (this CI machine) says so; one with a GPU names it with its driver.
  if (p["gpu"].is_null()) {
    CHECK_FALSE(p["gpu_note"].get<std::string>().empty());
  } else {
    CHECK_FALSE(p["gpu"]["name"].get<std::string>().empty());
    CHECK_FALSE(p["gpu"]["driver_version"].get<std::string>().empty());
  }
  CHECK_THROWS_AS(qg::results_envelope("perplexity", p), qg::Error);
}

TEST_CASE("results file: round trip of every kind's fixture and of a fresh envelope", "[results]") {
  qg::test::TempDir tmp("results");
  const nlohmann::json j = valid_inspect();
  const auto path = write(tmp / "r.json", j.dump(2));
  const qg::ResultsFile r = qg::load_results_file(path);
  CHECK(r.kind == "inspect");
  CHECK(r.path == path);
  CHECK(r.json == j);  // nothing lost or added on the way through a file
  for (const char* f : {"kl", "mmlu", "bench", "inspect_w4a16", "inspect_bf16"}) {
    const auto fixture = qg::test::fixtures_dir() / "card" / (std::string(f) + ".json");
    CHECK(qg::load_results_file(fixture).kind == std::string(f).substr(0, std::string(f).find('_')));
  }
}

TEST_CASE("results file: another schema, version or a non-results JSON is refused", "[results]") {
  qg::test::TempDir tmp("results_bad");
  nlohmann::json j = valid_inspect();
  j["schema"] = "quantgate.inspect/1";  // what inspect wrote before the envelope
  expect_error(write(tmp / "old.json", j.dump()), {"old.json", "'quantgate.inspect/1' found", "expected 'quantgate.results/1'"});
  j["schema"] = "quantgate.results/2";
  expect_error(write(tmp / "v2.json", j.dump()), {"v2.json", "'quantgate.results/2' found"});
  expect_error(write(tmp / "other.json", R"({"model_type": "gemma4"})"), {"other.json", "not a quantgate results file"});
  expect_error(write(tmp / "array.json", "[1, 2]"), {"array.json", "not a quantgate results file"});
  expect_error(write(tmp / "text.json", "{\"schema\": "), {"text.json", "not valid JSON"});
  expect_error(tmp / "missing.json", {"missing.json", "cannot read"});

  j = valid_inspect();
  j["kind"] = "perplexity";
  expect_error(write(tmp / "kind.json", j.dump()), {"kind.json", "unknown results kind 'perplexity'"});
  j = valid_inspect();
  j["provenance"].erase("seeds");
  expect_error(write(tmp / "prov.json", j.dump()), {"prov.json", "lacks \"seeds\""});
  j = valid_inspect();
  j["provenance"]["gpu"] = nullptr;
  j["provenance"].erase("gpu_note");
  expect_error(write(tmp / "gpu.json", j.dump()), {"gpu.json", "without a \"gpu_note\""});
  j = valid_inspect();
  j.erase("text_config");
  expect_error(write(tmp / "body.json", j.dump()), {"body.json", "inspect results lack the \"text_config\" key"});
  nlohmann::json kl = qg::load_results_file(qg::test::fixtures_dir() / "card" / "kl.json").json;
  kl["provenance"]["checkpoints"].erase("candidate");
  expect_error(write(tmp / "kl.json", kl.dump()), {"kl.json", "provenance.checkpoints.candidate"});
}
