// The fast precision's fused paths end to end. The fixtures' head dims (16/32) take attention by GEMMs and the
// separate norm/RoPE kernels, so the engine-vs-CPU tests (cuda_forward_test.cpp) never run the fused attention
// kernel, the one-pass attention inputs or the merged [q; k; v] GEMM inside a model. Here one random model with head
// dims 64/128 runs in the fast precision twice: with those paths (the default) and without them (fused_kernels =
// false: attention by GEMMs, separate kernels and GEMMs, the paths the fixtures check against the CPU). Both round
// the same GEMM inputs to bf16; they differ only in how attention accumulates (fp16 Q and P either way, tested
// against attention_ref to 8e-3 each in gemm_attention_test.cpp) and the merged GEMM's summation order, so they
// must agree at least as closely as the fast precision agrees with the CPU on the fixtures (cuda_forward_test's
// kFast: max |diff| 0.5, mean KL 5e-4). A wrong stride, head or cache row moves logits by whole units and shows.
// Argmax agreement is printed, not bounded: random weights give near-tied top logits, where it measures ties.
// (Measured first against the accurate engine instead, H200: max |diff| 0.44, mean KL 3.8e-4, argmax 93.6 %: that
// comparison mixes in the bf16 rounding of every GEMM input, which this one shares on both sides.)
#include <cmath>
#include <cstdio>
#include <vector>

#include "catch.h"
#include "engine_options.h"
#include "forward/cuda/cuda_forward.h"
#include "forward_test_util.h"
#include "long_e_style_config.h"

using namespace qg;
using namespace qg::test;

TEST_CASE("cuda engine: the fast precision's fused paths agree with its separate kernels", "[gpu]") {
  const Gemma4Config config = long_e_style_config(true);
  const SyntheticWeights weights{.seed = 11};
  // 128-row steps: the 300-token sequence spans three.
  const CudaForwardOptions fused = engine_options(128, GemmInputPrecision::kFast, 1024, 64);
  CudaForwardOptions unfused = fused;
  unfused.fused_kernels = false;
  auto separate = CudaForward::synthetic(config, weights, unfused);
  auto fast = CudaForward::synthetic(config, weights, fused);
  std::vector<std::vector<TokenId>> batch;
  for (int len : {300, 45, 1}) {
    std::vector<TokenId> s(static_cast<std::size_t>(len));
    for (int i = 0; i < len; ++i) s[static_cast<std::size_t>(i)] = i == 0 ? 2 : 3 + (i * 29 + len) % 500;
    batch.push_back(s);
  }
  const auto want = score_all(*separate, batch), got = score_all(*fast, batch);
  const std::int64_t V = config.text.n_vocab;
  double max_abs = 0, kl_sum = 0;
  std::int64_t rows = 0, agree = 0;
  for (std::size_t b = 0; b < batch.size(); ++b) {
    REQUIRE(got[b].size() == want[b].size());
    for (std::size_t r = 0; r * V < want[b].size(); ++r, ++rows) {
      const float* p = want[b].data() + r * V;
      const float* q = got[b].data() + r * V;
      double pm = p[0], qm = q[0], ps = 0, qs = 0, kl = 0;
      std::int64_t pa = 0, qa = 0;
      for (std::int64_t v = 0; v < V; ++v) {
        max_abs = std::max(max_abs, std::fabs(double(p[v]) - double(q[v])));
        if (p[v] > pm) pm = p[v], pa = v;
        if (q[v] > qm) qm = q[v], qa = v;
      }
      for (std::int64_t v = 0; v < V; ++v) ps += std::exp(p[v] - pm), qs += std::exp(q[v] - qm);
      for (std::int64_t v = 0; v < V; ++v) {
        const double lp = p[v] - pm - std::log(ps), lq = q[v] - qm - std::log(qs);
        kl += std::exp(lp) * (lp - lq);
      }
      kl_sum += kl;
      agree += pa == qa;
    }
  }
  const double mean_kl = kl_sum / static_cast<double>(rows), argmax = static_cast<double>(agree) / static_cast<double>(rows);
  std::printf("fast fused vs separate paths, head dims 64/128, %lld rows: max|diff| %.3e  mean KL %.3e  argmax %.4f\n",
              static_cast<long long>(rows), max_abs, mean_kl, argmax);
  CHECK(max_abs > 0.0);  // the two runs did take different paths
  CHECK(max_abs <= 0.5);
  CHECK(mean_kl <= 5e-4);
}
