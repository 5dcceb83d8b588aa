// Our quantizer against the oracle (scripts/ct_oracle.py: a torch transcription of compressed-tensors'
// operations, run on CPU and CUDA, which agreed bit for bit): every packed word, scale, zero point and
// dequantized bit of every quantized Linear of the E-style fixture, for W4A16, W4A16_ASYM and W8A16.
#include <cstring>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/json_file.h"
#include "model/fixture_util.h"
#include "model/gemma4_quantize.h"
#include "model/gemma4_weights.h"
#include "quant/quantized_linear.h"

using namespace qg;

namespace {
std::string fnv1a64(const std::vector<std::uint16_t>& v) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
  for (std::size_t i = 0; i < v.size() * 2; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool same_bytes(const TensorView& a, const TensorView& b) {
  return a.dtype == b.dtype && a.shape == b.shape && std::memcmp(a.data, b.data, a.nbytes()) == 0;
}
}  // namespace

TEST_CASE("quantize equals the compressed-tensors oracle bit for bit", "[quant][fixtures]") {
  const std::string scheme = GENERATE("W4A16", "W4A16_ASYM", "W8A16");
  INFO(scheme);
  const auto oracle_dir = qg::test::fixtures_dir() / "quant_oracle";
  const auto hashes = read_json_file(oracle_dir / "e_style_dequant.json");
  REQUIRE(hashes["group_size"] == 16);
  const Checkpoint oracle = Checkpoint::open(oracle_dir / ("e_style_" + scheme + ".safetensors"));

  qg::test::TempDir d("oracle");
  quantize_gemma4_checkpoint(qg::test::gemma4_fixture("e_style"), d / "q", {.scheme = scheme, .group_size = 16});
  const Checkpoint ours = Checkpoint::open(d / "q");
  const Gemma4Weights w = bind_gemma4_weights(ours, read_gemma4_config((d / "q" / "config.json").string()));

  std::size_t layers = 0;
  for (const BoundWeight& b : w.weights) {
    if (!b.quantized) continue;
    const std::string& m = b.quantized->module;
    INFO(m);
    ++layers;
    CHECK(same_bytes(ours.view(m + ".weight_packed"), oracle.view(m + ".weight_packed")));
    CHECK(same_bytes(ours.view(m + ".weight_scale"), oracle.view(m + ".weight_scale")));
    if (scheme == "W4A16_ASYM") CHECK(same_bytes(ours.view(m + ".weight_zero_point"), oracle.view(m + ".weight_zero_point")));
    CHECK(fnv1a64(dequantize_16bit(*b.quantized)) == hashes["dequant_fnv1a64"][scheme + "/" + m].get<std::string>());
  }
  // The oracle quantized exactly the Linears we did (it chose them from transformers' module tree).
  CHECK(layers * (scheme == "W4A16_ASYM" ? 3 : 2) == oracle.tensors().size());
}
