// inspect's quantization audit on the committed W4A16 fixture (made by `quantgate quantize`) and on a
// config that leaves a Linear neither quantized nor ignored.
#include <fstream>

#include "catch.h"
#include "checkpoint/json_file.h"
#include "model/fixture_util.h"
#include "model/inspection.h"

using namespace qg;
using qg::test::TempDir;

TEST_CASE("audit of our W4A16 output: every Linear quantized or ignored by name", "[quant][fixtures]") {
  const ModelInspection m = inspect_model(qg::test::gemma4_fixture("e_style_w4a16"));
  const QuantAudit& a = m.quant_audit;
  REQUIRE(a.quantized);
  CHECK(a.pass());
  REQUIRE(a.schemes.size() == 1);
  CHECK(a.schemes[0].description == "int4 symmetric group 16, pack-quantized");
  // 4 layers x (q, o, gate, up, down, PLE gate, PLE projection) + k, v on the 2 non-shared layers.
  CHECK(a.schemes[0].modules.size() == 4 * 7 + 2 * 2);
  REQUIRE(a.kept_16bit.size() == 1);
  CHECK(a.kept_16bit[0].module == "model.per_layer_model_projection");
  CHECK(a.kept_16bit[0].pattern == "re:.*per_layer_model_projection.*");
  // Same parameter count as the BF16 source: quantization changes storage, not the model.
  CHECK(m.inventory.text_decoder_params == inspect_model(qg::test::gemma4_fixture("e_style")).inventory.text_decoder_params);
}

TEST_CASE("audit fails for a Linear that is neither quantized nor ignored", "[quant][fixtures]") {
  TempDir d("audit");
  qg::test::copy_fixture("e_style_w4a16", d.path());
  auto cfg = read_json_file(d / "config.json");
  auto& q = cfg["quantization_config"];
  q["config_groups"]["group_0"]["targets"] = {"re:.*layers.*"};
  nlohmann::json ignore = nlohmann::json::array();
  for (const auto& x : q["ignore"])
    if (x != "re:.*per_layer_model_projection.*") ignore.push_back(x);
  q["ignore"] = ignore;
  std::ofstream(d / "config.json") << cfg.dump();
  const QuantAudit a = inspect_model(d.path()).quant_audit;
  CHECK_FALSE(a.pass());
  REQUIRE(a.untargeted.size() == 1);
  CHECK(a.untargeted[0].module == "model.per_layer_model_projection");
}
