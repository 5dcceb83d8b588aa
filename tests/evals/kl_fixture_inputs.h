#pragma once
// Inputs shared by the KL driver tests: random corpus ids in the tiny fixtures' vocabulary, and the fixture models
// on the CPU engine.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "forward/cpu/cpu_forward.h"
#include "model/fixture_util.h"

namespace qg::test {

// n ids drawn uniformly from [3, 511] (the fixtures' 512-id vocabulary without its special ids).
inline std::vector<TokenId> random_fixture_ids(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<TokenId> id(3, 511);
  std::vector<TokenId> ids(static_cast<std::size_t>(n));
  for (auto& x : ids) x = id(rng);
  return ids;
}

inline std::unique_ptr<CpuForward> open_cpu_fixture(const std::string& name, int threads = 2) {
  return CpuForward::open(gemma4_fixture(name), CpuForwardOptions{.n_threads = threads});
}

}  // namespace qg::test
