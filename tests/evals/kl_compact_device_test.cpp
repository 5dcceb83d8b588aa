// The compact-cache comparison on the GPU (kernels/kl_compact_kernels.cuh, used by evals/kl_compact_device_comparer)
// against metrics::token_kl_compact, its CPU reference: LM-like rows of Gemma's 262144-id vocabulary and ragged
// small ones, K = vocab (no tail), identical rows, bad shapes; and the GPU cache writer (kl_compact_ref_kernels.cuh)
// against metrics::compact_ref_row, exact ties and a negative zero included.
//
// Tolerance: both sides compute in double from the same fp32 logits and the same cached values; only the order of
// the double sums (tree vs id order) and CUDA's vs glibc's exp/log (1-2 ulp) differ: ~1e-15 relative of the summed
// magnitudes (a row's sum of |p log p| is a few nats). 1e-12 absolute + 1e-10 relative covers that, as in
// tests/kernels/kl_test.cpp, and is far below the 6 decimals the report prints.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "kernels/device_buffer.h"
#include "kernels/kl_compact_kernels.cuh"
#include "kernels/kl_compact_ref_kernels.cuh"
#include "metrics/kl_compact.h"

using namespace qg;

namespace {
bool close(double got, double want) { return std::fabs(got - want) <= 1e-12 + 1e-10 * std::fabs(want); }

void check_rows(const std::vector<float>& ref, const std::vector<float>& cand, std::int64_t n_vocab, std::int64_t k,
                const std::vector<std::int32_t>& next, metrics::KlTailMethod method) {
  const auto rows = static_cast<std::int64_t>(next.size());
  std::vector<std::int32_t> ids(static_cast<std::size_t>(rows * k)), scratch;
  std::vector<float> logits(ids.size());
  std::vector<double> stats(static_cast<std::size_t>(rows * metrics::kCompactScalarCount));
  std::vector<metrics::CompactRefScalars> scalars;
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto s = metrics::compact_ref_row(
        std::span<const float>(ref).subspan(static_cast<std::size_t>(r * n_vocab), static_cast<std::size_t>(n_vocab)),
        next[static_cast<std::size_t>(r)], std::span<std::int32_t>(ids).subspan(static_cast<std::size_t>(r * k), static_cast<std::size_t>(k)),
        std::span<float>(logits).subspan(static_cast<std::size_t>(r * k), static_cast<std::size_t>(k)), scratch);
    const double v[] = {s.lse, s.neg_entropy, s.tail_plogp, s.p_tail, s.nll, s.p_next};
    std::copy(v, v + 6, stats.begin() + r * 6);
    scalars.push_back(s);
  }
  const auto d_cand = cuda::upload_bytes(cand.data(), cand.size() * 4, "cand");
  const auto d_ids = cuda::upload_bytes(ids.data(), ids.size() * 4, "ids");
  const auto d_logits = cuda::upload_bytes(logits.data(), logits.size() * 4, "logits");
  const auto d_stats = cuda::upload_bytes(stats.data(), stats.size() * 8, "stats");
  const auto d_next = cuda::upload_bytes(next.data(), next.size() * 4, "next");
  cuda::DeviceBuffer d_out(next.size() * sizeof(cuda::CompactKlRow), "out");
  cuda::compact_kl_rows(d_cand.as<float>(), n_vocab, d_ids.as<std::int32_t>(), d_logits.as<float>(), d_stats.as<double>(),
                        d_next.as<std::int32_t>(), rows, k, n_vocab, static_cast<int>(method),
                        d_out.as<cuda::CompactKlRow>(), nullptr);
  std::vector<cuda::CompactKlRow> got(next.size());
  d_out.download(got.data(), got.size() * sizeof(cuda::CompactKlRow));
  std::vector<std::uint8_t> in_top;
  for (std::int64_t r = 0; r < rows; ++r) {
    INFO("row " << r << " of " << rows << ", vocab " << n_vocab << ", K " << k);
    metrics::CompactRefRow row;
    row.s = scalars[static_cast<std::size_t>(r)];
    row.ids = std::span<const std::int32_t>(ids).subspan(static_cast<std::size_t>(r * k), static_cast<std::size_t>(k));
    row.logits = std::span<const float>(logits).subspan(static_cast<std::size_t>(r * k), static_cast<std::size_t>(k));
    const auto want = metrics::token_kl_compact(
        row, std::span<const float>(cand).subspan(static_cast<std::size_t>(r * n_vocab), static_cast<std::size_t>(n_vocab)),
        next[static_cast<std::size_t>(r)], method, in_top);
    const cuda::CompactKlRow& g = got[static_cast<std::size_t>(r)];
    CHECK(close(g.kl, want.t.kl));
    CHECK(close(g.kl_reverse, want.t.kl_reverse));
    CHECK(close(g.nll_cand, want.t.nll_cand));
    CHECK(close(g.p_cand, want.t.p_cand));
    CHECK(close(g.q_tail, want.q_tail));
    CHECK(close(g.kl_lower, want.kl_lower));
    CHECK(close(g.kl_upper, want.kl_upper));
    CHECK(g.top1_cand == want.t.top1_cand);
  }
}

void random_rows(std::int64_t rows, std::int64_t n_vocab, double noise, std::mt19937_64& rng, std::vector<float>& ref,
                 std::vector<float>& cand, std::vector<std::int32_t>& next) {
  std::normal_distribution<double> g(0.0, 1.0);
  std::uniform_int_distribution<std::int32_t> id(0, static_cast<std::int32_t>(n_vocab - 1));
  ref.resize(static_cast<std::size_t>(rows * n_vocab));
  cand.resize(ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    // a heavy-tailed logit spread (a few likely tokens), the candidate perturbed like a quantized model
    const double base = 3.0 * g(rng) - 0.002 * static_cast<double>(i % static_cast<std::size_t>(n_vocab)) / 100.0;
    ref[i] = static_cast<float>(base);
    cand[i] = static_cast<float>(base + noise * g(rng));
  }
  next.resize(static_cast<std::size_t>(rows));
  for (auto& t : next) t = id(rng);
}
}  // namespace

TEST_CASE("compact_kl_rows equals token_kl_compact on random rows", "[gpu]") {
  std::mt19937_64 rng(3);
  std::vector<float> ref, cand;
  std::vector<std::int32_t> next;
  random_rows(5, 262144, 0.1, rng, ref, cand, next);
  for (const auto method : {metrics::KlTailMethod::kProportional, metrics::KlTailMethod::kLogSum, metrics::KlTailMethod::kChainRule})
    check_rows(ref, cand, 262144, 256, next, method);
  random_rows(7, 1000, 0.3, rng, ref, cand, next);
  check_rows(ref, cand, 1000, 1, next, metrics::KlTailMethod::kProportional);
  check_rows(ref, cand, 1000, 300, next, metrics::KlTailMethod::kProportional);
  check_rows(ref, cand, 1000, 1000, next, metrics::KlTailMethod::kProportional);  // no tail: exact
  random_rows(3, 333, 0.3, rng, ref, cand, next);
  check_rows(ref, cand, 333, 37, next, metrics::KlTailMethod::kProportional);  // ragged: not a multiple of 32 or 256
}

TEST_CASE("compact_kl_rows: identical rows give ~0, bad shapes are refused", "[gpu]") {
  std::mt19937_64 rng(4);
  std::vector<float> ref, cand;
  std::vector<std::int32_t> next;
  random_rows(3, 5000, 0.0, rng, ref, cand, next);
  check_rows(ref, ref, 5000, 64, next, metrics::KlTailMethod::kProportional);
  cuda::DeviceBuffer buf(1024, "x");
  auto* out = static_cast<cuda::CompactKlRow*>(buf.get());
  CHECK_THROWS_AS(cuda::compact_kl_rows(buf.as<float>(), 10, buf.as<std::int32_t>(), buf.as<float>(), buf.as<double>(),
                                        buf.as<std::int32_t>(), 1, 11, 10, 0, out, nullptr), Error);  // K > vocab
  CHECK_THROWS_AS(cuda::compact_kl_rows(buf.as<float>(), 400000, buf.as<std::int32_t>(), buf.as<float>(), buf.as<double>(),
                                        buf.as<std::int32_t>(), 1, 8, 400000, 0, out, nullptr), Error);  // bitmap too big
  CHECK_THROWS_AS(cuda::compact_kl_rows(buf.as<float>(), 10, buf.as<std::int32_t>(), buf.as<float>(), buf.as<double>(),
                                        buf.as<std::int32_t>(), 1, 8, 10, 3, out, nullptr), Error);  // bad method
}

namespace {
// The GPU writer's compact rows against metrics::compact_ref_row: ids, logits and top-1 exactly, stats to the
// tolerance above (tree vs id-order double sums).
void check_writer(const std::vector<float>& ref, std::int64_t n_vocab, std::int64_t k, const std::vector<std::int32_t>& next) {
  const auto rows = static_cast<std::int64_t>(next.size());
  const auto d_ref = cuda::upload_bytes(ref.data(), ref.size() * 4, "ref");
  const auto d_next = cuda::upload_bytes(next.data(), next.size() * 4, "next");
  cuda::DeviceBuffer ws(cuda::compact_ref_rows_workspace_bytes(rows, n_vocab), "ws");
  cuda::DeviceBuffer d_ids(static_cast<std::size_t>(rows * k) * 4, "ids"), d_logits(static_cast<std::size_t>(rows * k) * 4, "logits"),
      d_stats(static_cast<std::size_t>(rows) * 6 * 8, "stats"), d_top1(static_cast<std::size_t>(rows) * 4, "top1");
  cuda::compact_ref_rows(d_ref.as<float>(), n_vocab, d_next.as<std::int32_t>(), rows, k, n_vocab, ws.get(), ws.bytes(),
                         d_ids.as<std::int32_t>(), d_logits.as<float>(), d_stats.as<double>(), d_top1.as<std::int32_t>(), nullptr);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(rows * k)), top1(static_cast<std::size_t>(rows)), want_ids(static_cast<std::size_t>(k)), scratch;
  std::vector<float> logits(ids.size()), want_logits(static_cast<std::size_t>(k));
  std::vector<double> stats(static_cast<std::size_t>(rows) * 6);
  d_ids.download(ids.data(), ids.size() * 4);
  d_logits.download(logits.data(), logits.size() * 4);
  d_stats.download(stats.data(), stats.size() * 8);
  d_top1.download(top1.data(), top1.size() * 4);
  for (std::int64_t r = 0; r < rows; ++r) {
    INFO("row " << r << ", vocab " << n_vocab << ", K " << k);
    const auto s = metrics::compact_ref_row(
        std::span<const float>(ref).subspan(static_cast<std::size_t>(r * n_vocab), static_cast<std::size_t>(n_vocab)),
        next[static_cast<std::size_t>(r)], want_ids, want_logits, scratch);
    CHECK(std::equal(want_ids.begin(), want_ids.end(), ids.begin() + r * k));
    CHECK(std::equal(want_logits.begin(), want_logits.end(), logits.begin() + r * k));
    CHECK(top1[static_cast<std::size_t>(r)] == s.top1);
    const double* g = stats.data() + r * 6;
    CHECK(close(g[0], s.lse));
    CHECK(close(g[1], s.neg_entropy));
    CHECK(close(g[2], s.tail_plogp));
    CHECK(close(g[3], s.p_tail));
    CHECK(close(g[4], s.nll));
    CHECK(close(g[5], s.p_next));
  }
}
}  // namespace

TEST_CASE("compact_ref_rows (the GPU cache writer) equals compact_ref_row, ties included", "[gpu]") {
  std::mt19937_64 rng(5);
  std::vector<float> ref, cand;
  std::vector<std::int32_t> next;
  random_rows(3, 262144, 0.0, rng, ref, cand, next);
  check_writer(ref, 262144, 256, next);
  random_rows(9, 1000, 0.0, rng, ref, cand, next);
  for (auto& v : ref) v = std::round(v * 2) / 2;  // many exact ties, also across the K-th entry
  ref[5] = -0.0f;  // a negative zero among zeros ties with them, as the host's ==
  ref[7] = 0.0f;
  check_writer(ref, 1000, 1, next);
  check_writer(ref, 1000, 100, next);
  check_writer(ref, 1000, 1000, next);
  random_rows(2, 333, 0.0, rng, ref, cand, next);
  check_writer(ref, 333, 37, next);
}
