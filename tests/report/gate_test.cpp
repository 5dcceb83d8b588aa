// `quantgate gate`'s library parts: the recipe parser (strict: version, required keys, unknown keys, types),
// the target verdicts read from results files (tests/fixtures/card's hand-written kl and mmlu results), the
// exit code rule, summary.md and junit.xml. The run itself (child processes) is checked end to end in
// tests/cli/cli_test.sh, which also parses junit.xml with python's xml.etree.
#include <fstream>

#include "catch.h"
#include "common/error.h"
#include "report/gate_junit.h"
#include "report/gate_outcome.h"
#include "report/gate_recipe.h"
#include "report/gate_summary.h"
#include "test_paths.h"

namespace {

using nlohmann::json;

json minimal_recipe() {
  return json::parse(R"({
    "schema": "quantgate.recipe/1", "name": "t", "output_dir": "runs/t",
    "reference": {"path": "ref"}, "candidate": {"path": "cand"},
    "kl": {"corpus": "c.txt"}
  })");
}

bool has(const std::string& s, const std::string& part) {
  INFO(s);
  return s.find(part) != std::string::npos;
}

// The message of the qg::Error `f` throws ("" when it throws none, which the caller's check then fails on).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const qg::Error& e) {
    return e.what();
  }
  return "";
}

// The message of the qg::Error parse_recipe throws.
std::string recipe_error(const json& j) {
  try {
    qg::gate::parse_recipe(j, "evals/bad.json");
  } catch (const qg::Error& e) {
    return e.what();
  }
  FAIL("parse_recipe accepted a bad recipe: " << j.dump());
  return "";
}

qg::ResultsFile fixture(const std::string& name) {
  return qg::load_results_file(qg::test::fixtures_dir() / "card" / name);
}

}  // namespace

TEST_CASE("gate recipe: defaults, comments and {out}/ paths", "[gate]") {
  json j = minimal_recipe();
  j["_why"] = "comments are allowed anywhere";
  j["kl"]["_why"] = "here too";
  const auto r = qg::gate::parse_recipe(j, "x.json");
  CHECK(r.device == "cpu");
  CHECK(r.reference.label == "ref");  // label defaults to the path
  CHECK(!r.candidate.quantize);
  REQUIRE(r.kl);
  CHECK(r.kl->ctx == 2048);
  CHECK(r.kl->score_from == "half");
  CHECK(!r.mmlu);
  CHECK(!r.bench);
  // The issue's defaults: mean KL < 0.014, recovery >= 0.99.
  CHECK(r.targets.kl_mean_max == 0.014);
  CHECK(r.targets.mmlu_recovery_min == 0.99);
  CHECK(r.card_template.empty());
  CHECK(qg::gate::resolve_path("{out}/model", "runs/x") == std::filesystem::path("runs/x/model"));
  CHECK(qg::gate::resolve_path("evals/demo/model", "runs/x") == std::filesystem::path("evals/demo/model"));
}

TEST_CASE("gate recipe: the bundled recipes parse", "[gate]") {
  const auto root = qg::test::fixtures_dir().parent_path().parent_path();
  for (const char* name : {"evals/demo.json", "evals/demo-strict.json", "evals/gemma4-e4b-w4a16.json"}) {
    INFO(name);
    const auto r = qg::gate::load_recipe(root / name);
    CHECK(r.kl);
    CHECK(r.mmlu);
    CHECK(!r.card_template.empty());
  }
  const auto real = qg::gate::load_recipe(root / "evals/gemma4-e4b-w4a16.json");
  CHECK(real.targets.kl_mean_max == 0.014);  // the card's targets
  CHECK(real.targets.mmlu_recovery_min == 0.99);
  CHECK(real.kl->ctx == 2048);
  CHECK(real.mmlu->shots == 5);
  CHECK(real.mmlu->subjects.empty());  // full MMLU
  CHECK(real.device == "cuda");
  REQUIRE(real.bench);
  CHECK(real.bench->max_concurrency == std::vector<std::int64_t>{1, 8});
  CHECK(real.bench->input_len == 32768);
}

TEST_CASE("gate recipe: bad recipes are errors naming the file and the key", "[gate]") {
  json j = minimal_recipe();
  j.erase("schema");
  CHECK(has(recipe_error(j), "evals/bad.json"));
  CHECK(has(recipe_error(j), "'schema'"));

  j = minimal_recipe();
  j["schema"] = "quantgate.recipe/2";
  CHECK(has(recipe_error(j), "quantgate.recipe/1"));

  j = minimal_recipe();
  j["kl"]["max_chunk"] = 4;  // typo of max_chunks
  CHECK(has(recipe_error(j), "'kl.max_chunk'"));
  CHECK(has(recipe_error(j), "not a recipe key"));

  j = minimal_recipe();
  j["colour"] = "blue";
  CHECK(has(recipe_error(j), "'colour'"));

  j = minimal_recipe();
  j["reference"].erase("path");
  CHECK(has(recipe_error(j), "'reference.path'"));
  CHECK(has(recipe_error(j), "required"));

  j = minimal_recipe();
  j.erase("candidate");
  CHECK(has(recipe_error(j), "'candidate'"));

  j = minimal_recipe();
  j["kl"]["ctx"] = "2048";  // a string where a number belongs
  CHECK(has(recipe_error(j), "'kl.ctx'"));
  CHECK(has(recipe_error(j), "integer"));

  j = minimal_recipe();
  j["targets"] = {{"kl_mean_max", -1}};
  CHECK(has(recipe_error(j), "'targets.kl_mean_max'"));

  j = minimal_recipe();
  j["candidate"]["quantize"] = {{"scheme", "W4A16"}, {"from", "somewhere"}};
  CHECK(has(recipe_error(j), "'candidate.quantize.from'"));

  j = minimal_recipe();
  j["mmlu"] = {{"data", "d"}, {"shots", 6}};
  CHECK(has(recipe_error(j), "'mmlu.shots'"));

  j = minimal_recipe();
  j.erase("kl");
  CHECK(has(recipe_error(j), "measures no target"));

  CHECK(has(recipe_error(json::array()), "JSON object"));

  // A file that is not JSON, or is missing: errors naming it.
  qg::test::TempDir tmp("gate_recipe");
  std::ofstream(tmp / "broken.json") << "{\"schema\": ";
  CHECK(has(error_of([&] { (void)qg::gate::load_recipe(tmp / "broken.json"); }), "broken.json"));
  CHECK(has(error_of([&] { (void)qg::gate::load_recipe(tmp / "broken.json"); }), "not valid JSON"));
  CHECK(has(error_of([&] { (void)qg::gate::load_recipe(tmp / "absent.json"); }), "absent.json"));
}

TEST_CASE("gate targets: verdicts from kl and mmlu results files", "[gate]") {
  // tests/fixtures/card: mean KL 0.012134 (CI 0.011771-0.012508), recovery 0.98741 (CI 0.98112-0.99357).
  const auto kl = fixture("kl.json");
  const auto mmlu = fixture("mmlu.json");
  qg::gate::Targets card_targets;  // < 0.014, >= 0.99
  const auto k = qg::gate::kl_target(card_targets, kl, "");
  REQUIRE(k.value);
  CHECK(*k.value == 0.012134);
  CHECK(*k.ci_lo == 0.011771);
  CHECK(*k.ci_hi == 0.012508);
  CHECK(k.pass);
  const auto m = qg::gate::mmlu_target(card_targets, mmlu, "");
  REQUIRE(m.value);
  CHECK(*m.value == 0.98741);
  CHECK(!m.pass);
  CHECK(m.display(*m.value) == "98.74%");

  // The threshold is strict for KL (the card's "< 0.014") and inclusive for recovery ("≥ 99%").
  CHECK(!qg::gate::kl_target({.kl_mean_max = 0.012134}, kl, "").pass);
  CHECK(qg::gate::kl_target({.kl_mean_max = 0.0121341}, kl, "").pass);
  CHECK(qg::gate::mmlu_target({.mmlu_recovery_min = 0.98741}, mmlu, "").pass);

  const auto none = qg::gate::kl_target(card_targets, std::nullopt, "the kl step failed");
  CHECK(!none.value);
  CHECK(none.why_unmeasured == "the kl step failed");

  // An mmlu result without --ref has no recovery: not measured (an error, not a miss).
  auto no_ref = mmlu;
  no_ref.json.erase("recovery");
  const auto nr = qg::gate::mmlu_target(card_targets, no_ref, "");
  CHECK(!nr.value);
  CHECK(has(nr.why_unmeasured, "--ref"));

  // A kl results file without its numbers is corrupt: qg::Error naming it.
  auto broken = kl;
  broken.json["results"].erase("kl_mean_ci");
  CHECK(has(error_of([&] { (void)qg::gate::kl_target(card_targets, broken, ""); }), "kl.json"));
}

namespace {
qg::gate::GateOutcome outcome(bool kl_pass, bool mmlu_pass) {
  qg::gate::GateOutcome o{.recipe_path = "evals/x.json",
                          .recipe_name = "x",
                          .out_dir = "runs/x",
                          .card_path = "runs/x/README.md"};
  o.steps.push_back({.name = "kl",
                     .status = qg::gate::StepStatus::kOk,
                     .exit_code = 0,
                     .seconds = 1.5,
                     .results_path = "runs/x/kl.json",
                     .log_path = "runs/x/logs/kl.log"});
  const auto kl = fixture("kl.json");
  const auto mmlu = fixture("mmlu.json");
  o.targets.push_back(qg::gate::kl_target({.kl_mean_max = kl_pass ? 0.014 : 0.01}, kl, ""));
  o.targets.push_back(qg::gate::mmlu_target({.mmlu_recovery_min = mmlu_pass ? 0.98 : 0.99}, mmlu, ""));
  return o;
}
}  // namespace

TEST_CASE("gate exit code: 0 all pass, 1 a target missed, 2 a step failed or a target not measured",
          "[gate]") {
  CHECK(outcome(true, true).exit_code() == 0);
  CHECK(outcome(false, true).exit_code() == 1);
  CHECK(outcome(true, false).exit_code() == 1);
  auto failed_step = outcome(true, true);
  failed_step.steps.push_back({.name = "bench", .status = qg::gate::StepStatus::kFailed, .exit_code = 2});
  CHECK(failed_step.exit_code() == 2);
  auto unmeasured = outcome(false, true);
  unmeasured.targets[1] = qg::gate::mmlu_target({}, std::nullopt, "the mmlu step failed");
  CHECK(unmeasured.exit_code() == 2);  // an error outranks a miss
  auto errored = outcome(true, true);
  errored.errors.push_back("bad");
  CHECK(errored.exit_code() == 2);
  // A step whose own gate missed (kl/mmlu exit 1) is a measurement, not an error.
  auto own_gate = outcome(true, true);
  own_gate.steps[0].status = qg::gate::StepStatus::kGateMissed;
  CHECK(own_gate.exit_code() == 0);
}

TEST_CASE("gate summary.md: targets, measured values with CIs, verdicts, files", "[gate]") {
  const std::string md = qg::gate::gate_summary_markdown(outcome(true, false));
  CHECK(has(md, "**FAIL (a target was missed)** (exit code 1)"));
  CHECK(has(md, "| Mean KL(reference ‖ candidate) | < 0.014 | 0.0121 | 95% CI 0.0118–0.0125 | pass | `"));
  CHECK(has(md, "| ≥ 99% | 98.74% | 95% CI 98.11%–99.36% | FAIL |"));
  CHECK(has(md, "Filled model card: `runs/x/README.md`"));
  CHECK(has(md, "| kl | ok | 0 | 1.5 | `runs/x/kl.json` | `runs/x/logs/kl.log` |"));
  CHECK(has(qg::gate::gate_summary_markdown(outcome(true, true)), "**PASS** (exit code 0)"));
}

TEST_CASE("gate junit.xml: one testcase per target, failure with the measured value, escaped text",
          "[gate]") {
  auto o = outcome(true, false);
  o.steps.push_back({.name = "bench",
                     .status = qg::gate::StepStatus::kFailed,
                     .exit_code = 2,
                     .log_path = "runs/x/logs/bench.log",
                     .detail = "exited with code 2",
                     .log_tail = "error: <html> & \"quotes\"\x01"});
  const std::string x = qg::gate::gate_junit_xml(o);
  CHECK(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites ", 0) == 0);
  CHECK(has(x, "tests=\"3\" failures=\"1\" errors=\"1\""));
  CHECK(has(x, "<testcase classname=\"quantgate.gate.x\" name=\"kl_mean &lt; 0.014\""));
  CHECK(has(x,
            "<failure type=\"threshold\" message=\"MMLU recovery (candidate acc / reference acc): "
            "measured 98.74% (95% CI 98.11%..99.36%), target &gt;= 99%\""));
  CHECK(has(x, "error: &lt;html&gt; &amp; &quot;quotes&quot;</error>"));  // \x01 dropped
  CHECK(x.find('\x01') == std::string::npos);
  // Balanced elements (the CLI test parses the real file with an XML parser).
  auto count = [&](const std::string& s) {
    std::size_t n = 0;
    for (auto p = x.find(s); p != std::string::npos; p = x.find(s, p + 1)) ++n;
    return n;
  };
  CHECK(count("<testcase ") == 3);
  CHECK(count("</testcase>") == 3);
  CHECK(count("<testsuite ") == 1);
  CHECK(count("</testsuite>") == 1);
  CHECK(qg::gate::xml_escape("a<b>&'\"") == "a&lt;b&gt;&amp;&apos;&quot;");
}
