// The GPU per-token KL (kernels/kl_kernels.cuh) against metrics::token_kl_ref, its CPU reference: random rows
// of the real vocabulary size and ragged ones, strided rows, exact ties, identical rows.
//
// Tolerance: both sides compute in double from the same fp32 logits; only the order of the double sums and
// CUDA's vs glibc's exp/log (within 1-2 ulp of double) differ, so results agree to ~1e-15 relative of the
// summed magnitudes. 1e-12 absolute + 1e-10 relative leaves room for that and is far below anything the KL
// report prints (6 decimals) or the engine's own noise (1e-10 KL).
#include <cmath>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "kernels/device_buffer.h"
#include "kernels/kl_kernels.cuh"
#include "metrics/kl.h"

using namespace qg;

namespace {

bool close(double got, double want) { return std::fabs(got - want) <= 1e-12 + 1e-10 * std::fabs(want); }

void check_rows(const std::vector<float>& ref, const std::vector<float>& cand, std::int64_t stride,
                std::int64_t n_vocab, const std::vector<std::int32_t>& next) {
  const auto rows = static_cast<std::int64_t>(next.size());
  const auto d_ref = cuda::upload_bytes(ref.data(), ref.size() * 4, "ref");
  const auto d_cand = cuda::upload_bytes(cand.data(), cand.size() * 4, "cand");
  const auto d_next = cuda::upload_bytes(next.data(), next.size() * 4, "next");
  cuda::DeviceBuffer d_out(next.size() * sizeof(cuda::TokenKlRow), "out");
  cuda::token_kl_rows(d_ref.as<float>(), stride, d_cand.as<float>(), stride, d_next.as<std::int32_t>(), rows, n_vocab,
                      d_out.as<cuda::TokenKlRow>(), nullptr);
  std::vector<cuda::TokenKlRow> got(next.size());
  d_out.download(got.data(), got.size() * sizeof(cuda::TokenKlRow));
  for (std::int64_t r = 0; r < rows; ++r) {
    INFO("row " << r << " of " << rows << ", vocab " << n_vocab);
    const auto want = metrics::token_kl_ref(
        std::span<const float>(ref).subspan(static_cast<std::size_t>(r * stride), static_cast<std::size_t>(n_vocab)),
        std::span<const float>(cand).subspan(static_cast<std::size_t>(r * stride), static_cast<std::size_t>(n_vocab)),
        next[static_cast<std::size_t>(r)]);
    const cuda::TokenKlRow& g = got[static_cast<std::size_t>(r)];
    CHECK(close(g.kl, want.kl));
    CHECK(close(g.kl_reverse, want.kl_reverse));
    CHECK(close(g.nll_ref, want.nll_ref));
    CHECK(close(g.nll_cand, want.nll_cand));
    CHECK(close(g.p_ref, want.p_ref));
    CHECK(close(g.p_cand, want.p_cand));
    CHECK(g.top1_ref == want.top1_ref);
    CHECK(g.top1_cand == want.top1_cand);
  }
}

}  // namespace

TEST_CASE("token_kl_rows equals token_kl_ref on random rows", "[gpu]") {
  const std::int64_t n_vocab = GENERATE(262144, 1000, 1, 257);
  const std::int64_t rows = 5, stride = n_vocab + 3;  // strided rows, padding never read
  std::mt19937 rng(static_cast<unsigned>(n_vocab));
  std::normal_distribution<float> logit(0.0f, 3.0f), noise(0.0f, 0.05f);
  std::vector<float> ref(static_cast<std::size_t>(rows * stride), NAN), cand = ref;
  std::vector<std::int32_t> next;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t i = 0; i < n_vocab; ++i) {
      const float x = logit(rng);
      ref[static_cast<std::size_t>(r * stride + i)] = x;
      cand[static_cast<std::size_t>(r * stride + i)] = x + noise(rng);  // a quantized model's small shift
    }
    next.push_back(static_cast<std::int32_t>((r * 7919) % n_vocab));
  }
  check_rows(ref, cand, stride, n_vocab, next);
}

TEST_CASE("token_kl_rows: identical rows give exactly 0, ties pick the lowest id", "[gpu]") {
  const std::int64_t n_vocab = 70001;
  std::vector<float> row(static_cast<std::size_t>(n_vocab), -1.0f);
  row[500] = row[9000] = row[70000] = 4.0f;  // a three-way tie for the maximum
  const std::vector<float> ref = row;
  check_rows(ref, row, n_vocab, n_vocab, {9000});
  const auto d = cuda::upload_bytes(row.data(), row.size() * 4, "row");
  const std::int32_t next = 3;
  const auto d_next = cuda::upload_bytes(&next, 4, "next");
  cuda::DeviceBuffer out(sizeof(cuda::TokenKlRow), "out");
  cuda::token_kl_rows(d.as<float>(), n_vocab, d.as<float>(), n_vocab, d_next.as<std::int32_t>(), 1, n_vocab,
                      out.as<cuda::TokenKlRow>(), nullptr);
  cuda::TokenKlRow g{};
  out.download(&g, sizeof g);
  CHECK(g.kl == 0.0);
  CHECK(g.kl_reverse == 0.0);
  CHECK(g.top1_ref == 500);
  CHECK(g.top1_cand == 500);
}

TEST_CASE("token_kl_rows rejects bad shapes", "[gpu]") {
  float x = 0;
  std::int32_t t = 0;
  cuda::TokenKlRow o{};
  CHECK_THROWS_AS(cuda::token_kl_rows(&x, 1, &x, 1, &t, 1, 0, &o, nullptr), Error);
  CHECK_THROWS_AS(cuda::token_kl_rows(&x, 1, &x, 4, &t, 1, 2, &o, nullptr), Error);  // stride < n_vocab
  CHECK_NOTHROW(cuda::token_kl_rows(nullptr, 1, nullptr, 1, nullptr, 0, 1, nullptr, nullptr));  // no rows
}
