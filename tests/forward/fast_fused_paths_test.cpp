// The fast precision's fused paths end to end. The fixtures' head dims (16/32) take attention by GEMMs and the
// separate norm/RoPE kernels, so the engine-vs-CPU tests (cuda_forward_test.cpp) never run the fused attention
// kernel, the one-pass attention inputs or the merged [q; k; v] GEMM inside a model. Here the same random model with
// head dims 64/128 runs in both precisions: the accurate one takes none of those paths (fp32 K/V, attention
// kernel, separate GEMMs and kernels) and follows the CPU reference on the fixtures to 2e-3; the fast one takes all
// of them. They must agree as closely as the fast precision agrees with the CPU on the fixtures (cuda_forward_test's
// kFast: max |diff| 0.5, mean KL 5e-4, 95 % equal argmax, from a CPU emulation of bf16 GEMM inputs); a wrong stride,
// head or cache row moves logits by whole units and shows.
#include <cmath>
#include <cstdio>
#include <vector>

#include "catch.h"
#include "forward/cuda/cuda_forward.h"
#include "forward_test_util.h"
#include "long_e_style_config.h"

using namespace qg;
using namespace qg::test;

TEST_CASE("cuda engine: the fast precision's fused paths stay within its bounds of the accurate engine", "[gpu]") {
  const Gemma4Config config = long_e_style_config(true);
  auto options = [](GemmInputPrecision p) {
    CudaForwardOptions o;
    o.limits.precision = p;
    o.limits.max_batch_tokens = 128;  // 300-token sequences span steps
    o.limits.max_context = 1024;
    o.limits.logits_rows = 64;
    return o;
  };
  const SyntheticWeights weights{.seed = 11};
  auto accurate = CudaForward::synthetic(config, weights, options(GemmInputPrecision::kAccurate));
  auto fast = CudaForward::synthetic(config, weights, options(GemmInputPrecision::kFast));
  std::vector<std::vector<TokenId>> batch;
  for (int len : {300, 45, 1}) {
    std::vector<TokenId> s(static_cast<std::size_t>(len));
    for (int i = 0; i < len; ++i) s[static_cast<std::size_t>(i)] = i == 0 ? 2 : 3 + (i * 29 + len) % 500;
    batch.push_back(s);
  }
  const auto want = score_all(*accurate, batch), got = score_all(*fast, batch);
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
  std::printf("fast vs accurate, head dims 64/128, %lld rows: max|diff| %.3e  mean KL %.3e  argmax agree %.4f\n",
              static_cast<long long>(rows), max_abs, mean_kl, argmax);
  CHECK(max_abs <= 0.5);
  CHECK(mean_kl <= 5e-4);
  CHECK(argmax >= 0.95);
}
