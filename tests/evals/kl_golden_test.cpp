// `quantgate kl`'s per-token numbers against transformers + torch (scripts/make_kl_golden.py, run with
// transformers 5.17 on the GPU machine): e_style vs our W4A16 fixture (dequantized by the independent
// scripts/ct_oracle.py transcription on the transformers side), two chunks of 128 tokens, second half scored.
// Same chunking, same rows, same KL convention (torch's kl_div(log q, log p, log_target=True) summed: checked
// equal to sum p (log p - log q) by the script).
//
// Tolerance. Our logits equal transformers' fp32 logits to <= 1e-4 (forward_golden_test.cpp), and a KL or NLL
// moves by at most about twice the largest logit difference, so 2e-4 absolute bounds what the engines may
// differ by; measured on the CPU engine: 2.7e-6 (KL), 6.4e-6 (NLL), so its bound is tightened to 5e-5. The CUDA engine (accurate precision) is within 5e-4 of the CPU
// logits on the fixtures, so it gets 1e-3. Top-1 ids must be equal (no near-ties in these rows: checked by
// the CPU case, which must match exactly).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "evals/kl_eval.h"
#include "forward/cpu/cpu_forward.h"
#include "model/fixture_util.h"
#ifdef QG_HAVE_CUDA
#include "evals/kl_device_comparer.h"
#include "forward/cuda/cuda_forward.h"
#endif

using namespace qg;

namespace {

struct Golden {
  std::vector<std::vector<TokenId>> chunks;
  std::vector<double> kl, kl_reverse, nll_ref, nll_cand;
  std::vector<std::int64_t> top1_ref, top1_cand;
};

Golden read_golden() {
  const Checkpoint ck = Checkpoint::open(test::fixtures_dir() / "kl" / "golden.safetensors");
  Golden g;
  const TensorView ids = ck.view("ids");
  for (std::int64_t c = 0; c < ids.shape[0]; ++c) {
    std::vector<TokenId> chunk;
    for (std::int64_t j = 0; j < ids.shape[1]; ++j)
      chunk.push_back(static_cast<TokenId>(load_as_f32(ids, c * ids.shape[1] + j)));
    g.chunks.push_back(chunk);
  }
  auto f64 = [&](const char* name) {
    const TensorView v = ck.view(name);
    REQUIRE(v.dtype == DType::kF64);
    std::vector<double> out(static_cast<std::size_t>(v.numel()));
    std::memcpy(out.data(), v.data, out.size() * 8);
    return out;
  };
  auto i64 = [&](const char* name) {
    const TensorView v = ck.view(name);
    REQUIRE(v.dtype == DType::kI64);
    std::vector<std::int64_t> out(static_cast<std::size_t>(v.numel()));
    std::memcpy(out.data(), v.data, out.size() * 8);
    return out;
  };
  g.kl = f64("kl");
  g.kl_reverse = f64("kl_reverse");
  g.nll_ref = f64("nll_ref");
  g.nll_cand = f64("nll_cand");
  g.top1_ref = i64("top1_ref");
  g.top1_cand = i64("top1_cand");
  return g;
}

// The plan `quantgate kl --ctx 128` makes of the golden's corpus: it must reproduce the golden's chunks.
KlChunkPlan golden_plan(const Golden& g) {
  std::vector<TokenId> corpus;
  for (const auto& c : g.chunks) corpus.insert(corpus.end(), c.begin() + 1, c.end());
  KlChunkPlan plan = plan_kl_chunks(corpus, 2, KlChunking{.ctx = 128});
  REQUIRE(plan.chunks == g.chunks);
  REQUIRE(plan.first_scored_row == 64);
  return plan;
}

void check_against_golden(Forward& ref, Forward& cand, KlRowComparer* comparer, double tol, const char* what) {
  const Golden g = read_golden();
  std::vector<metrics::TokenKl> got;
  KlRunOptions o;
  o.on_token = [&](std::int64_t, std::int64_t, TokenId, const metrics::TokenKl& t) { got.push_back(t); };
  const KlRun run = run_kl(ref, cand, golden_plan(g), o, comparer);
  REQUIRE(got.size() == g.kl.size());
  double max_kl = 0, max_nll = 0, mean = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    max_kl = std::max({max_kl, std::fabs(got[i].kl - g.kl[i]), std::fabs(got[i].kl_reverse - g.kl_reverse[i])});
    max_nll = std::max({max_nll, std::fabs(got[i].nll_ref - g.nll_ref[i]), std::fabs(got[i].nll_cand - g.nll_cand[i])});
    CHECK(got[i].top1_ref == g.top1_ref[i]);
    CHECK(got[i].top1_cand == g.top1_cand[i]);
    mean += g.kl[i] / static_cast<double>(got.size());
  }
  std::printf("kl golden (%s): %zu tokens, transformers mean KL %.6f, ours %.6f; max |dKL| %.2e, max |dNLL| %.2e\n",
              what, got.size(), mean, run.acc.kl().mean(), max_kl, max_nll);
  CHECK(max_kl <= tol);
  CHECK(max_nll <= tol);
}

}  // namespace

TEST_CASE("kl: per-token KL, reverse KL, NLL and top-1 equal transformers' on the CPU engine", "[kl]") {
  auto ref = CpuForward::open(test::gemma4_fixture("e_style"));
  auto cand = CpuForward::open(test::gemma4_fixture("e_style_w4a16"));
  check_against_golden(*ref, *cand, nullptr, 5e-5, "cpu");  // measured 6.4e-6
}

#ifdef QG_HAVE_CUDA
TEST_CASE("kl: per-token KL, reverse KL, NLL and top-1 equal transformers' on the CUDA engine", "[gpu]") {
  auto ref = CudaForward::open(test::gemma4_fixture("e_style"));
  auto cand = CudaForward::open(test::gemma4_fixture("e_style_w4a16"));
  check_against_golden(*ref, *cand, device_kl_comparer().get(), 1e-3, "cuda, GPU comparer");
}
#endif
