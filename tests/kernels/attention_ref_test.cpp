// kernels/ref attention_ref (the oracle of the [gpu] attention tests) against the CPU reference
// cpu::attention on the same fp16-valued K/V inputs, plus its packing semantics (kv_start, row order,
// several sequences) and hand-checkable cases; the fp32-cache overload against cpu::attention on fp32 K/V
// (not fp16-representable) and against the fp16 overload on fp16-representable values.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "forward/cpu/attention.h"
#include "forward/cpu/thread_pool.h"
#include "kernels/ref/attention_ref.h"

using namespace qg;

namespace {

struct Sequence {  // one sequence's K/V (fp16 bits) and queries, as cpu::attention takes them
  std::int64_t n_keys = 0, first_position = 0, n_q = 0;
  std::vector<std::uint16_t> k, v;  // [n_keys, n_kv, d]
  std::vector<float> q;             // [n_q, n_heads, d]
};

Sequence random_sequence(std::int64_t n_keys, std::int64_t first_position, int n_heads, int n_kv, int d,
                         std::uint32_t seed) {
  std::mt19937 rng(seed);
  // q range chosen so that scores have a standard deviation of about 4 (q.k of d products of
  // U(-a, a) * U(-1, 1)): a peaked but not one-hot softmax, like a real model's.
  const float a = 12.0f / std::sqrt(static_cast<float>(d));
  std::uniform_real_distribution<float> uq(-a, a), ukv(-1.0f, 1.0f);
  Sequence s;
  s.n_keys = n_keys;
  s.first_position = first_position;
  s.n_q = n_keys - first_position;
  s.k.resize(static_cast<std::size_t>(n_keys * n_kv * d));
  s.v.resize(s.k.size());
  for (auto& x : s.k) x = f32_to_f16(ukv(rng));
  for (auto& x : s.v) x = f32_to_f16(ukv(rng));
  s.q.resize(static_cast<std::size_t>(s.n_q * n_heads * d));
  for (auto& x : s.q) x = uq(rng);
  return s;
}

cpu::Matrix widen(const std::vector<std::uint16_t>& bits, std::int64_t rows, std::int64_t cols) {
  cpu::Matrix m(rows, cols);
  for (std::int64_t i = 0; i < rows * cols; ++i) m.data()[i] = f16_to_f32(bits[static_cast<std::size_t>(i)]);
  return m;
}

cpu::Matrix cpu_attention(const Sequence& s, int n_heads, int n_kv, int d, std::int64_t window) {
  cpu::ThreadPool pool(2);
  const cpu::ConstMatrixMap q(s.q.data(), s.n_q, static_cast<std::int64_t>(n_heads) * d);
  cpu::Matrix out(s.n_q, static_cast<std::int64_t>(n_heads) * d);
  cpu::attention(q, widen(s.k, s.n_keys, static_cast<std::int64_t>(n_kv) * d),
                 widen(s.v, s.n_keys, static_cast<std::int64_t>(n_kv) * d), s.first_position,
                 cpu::AttentionShape{n_heads, n_kv, d, window}, out, pool);
  return out;
}

// cpu::attention rounds probabilities to fp32 and does both products in fp32 (Eigen GEMMs over d <= 64
// and <= 100 keys); the reference works in double. Scores are O(4) and probabilities sum to 1, so the
// fp32 paths differ from double by about (d + n_keys) * 2^-24 relative to max|v| = 1 in the worst case
// (~1e-5), typically far less (the largest difference seen over all cases below is 2.2e-6); 1e-5 absolute
// is still ~100x below the effect of one wrongly masked key (probability >= ~1e-3 times |v| ~ 0.5).
constexpr double kCpuTolerance = 1e-5;
// The fp32-cache comparison has the same error budget: the reference is double on the same fp32 values,
// cpu::attention is fp32 (largest difference seen: 3.1e-6), so ~1e-6 is not reachable and 1e-5 is kept.
constexpr double kCpuTolerance32 = kCpuTolerance;

}  // namespace

TEST_CASE("attention_ref equals cpu::attention (GQA, windows, prefix in cache)", "[kernels_ref]") {
  const int d = GENERATE(8, 16, 32, 64);
  const int group = GENERATE(1, 2, 4);
  const std::int64_t window = GENERATE(0, 1, 5, 32, 1000);
  const std::int64_t first_position = GENERATE(0, 37);  // 37: a prefix of 37 keys is already in the cache
  const int n_kv = 2, n_heads = n_kv * group;
  const std::int64_t n_keys = 100;
  const Sequence s =
      random_sequence(n_keys, first_position, n_heads, n_kv, d,
                      static_cast<std::uint32_t>(d * 1000 + group * 100 + window + first_position));
  const cpu::Matrix expected = cpu_attention(s, n_heads, n_kv, d, window);

  std::vector<std::int32_t> position(static_cast<std::size_t>(s.n_q));
  for (std::int64_t i = 0; i < s.n_q; ++i)
    position[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(first_position + i);
  const std::vector<std::int64_t> kv_start(position.size(), 0);
  const std::vector<float> got =
      cuda::ref::attention_ref(s.q, s.k, s.v, position, kv_start, n_heads, n_kv, d, window);

  REQUIRE(got.size() == static_cast<std::size_t>(expected.size()));
  double max_diff = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i)
    max_diff = std::max(max_diff, std::abs(static_cast<double>(got[i]) - expected.data()[i]));
  INFO("d " << d << " group " << group << " window " << window << " first_position " << first_position);
  CHECK(max_diff <= kCpuTolerance);
}

TEST_CASE("attention_ref: packed sequences at any kv_start and row order equal cpu::attention per sequence",
          "[kernels_ref]") {
  const int d = 16, n_kv = 2, n_heads = 4;
  const std::int64_t window = GENERATE(0, 6);
  // Sequences of 1, 7 and 33 keys; the last has 20 keys already cached and queries for positions 20..32.
  const std::vector<Sequence> seqs = {random_sequence(1, 0, n_heads, n_kv, d, 1),
                                      random_sequence(7, 0, n_heads, n_kv, d, 2),
                                      random_sequence(33, 20, n_heads, n_kv, d, 3)};
  const std::int64_t kv_row = static_cast<std::int64_t>(n_kv) * d,
                     q_row = static_cast<std::int64_t>(n_heads) * d;
  // Cache: 3 garbage rows, then the sequences with 2 garbage rows between them (garbage must never be read:
  // make it huge so that reading it would show).
  std::vector<std::uint16_t> k, v;
  std::vector<std::int64_t> seq_start;
  auto garbage = [&](int n) {
    k.insert(k.end(), static_cast<std::size_t>(n * kv_row), f32_to_f16(1e4f));
    v.insert(v.end(), static_cast<std::size_t>(n * kv_row), f32_to_f16(1e4f));
  };
  garbage(3);
  for (const auto& s : seqs) {
    seq_start.push_back(static_cast<std::int64_t>(k.size()) / kv_row);
    k.insert(k.end(), s.k.begin(), s.k.end());
    v.insert(v.end(), s.v.begin(), s.v.end());
    garbage(2);
  }
  // Rows of all sequences, interleaved in a shuffled order.
  struct RowId {
    std::size_t seq;
    std::int64_t i;
  };
  std::vector<RowId> ids;
  for (std::size_t si = 0; si < seqs.size(); ++si)
    for (std::int64_t i = 0; i < seqs[si].n_q; ++i) ids.push_back({si, i});
  std::shuffle(ids.begin(), ids.end(), std::mt19937(7));
  std::vector<float> q;
  std::vector<std::int32_t> position;
  std::vector<std::int64_t> kv_start;
  for (const auto& id : ids) {
    const auto& s = seqs[id.seq];
    q.insert(q.end(), s.q.begin() + id.i * q_row, s.q.begin() + (id.i + 1) * q_row);
    position.push_back(static_cast<std::int32_t>(s.first_position + id.i));
    kv_start.push_back(seq_start[id.seq]);
  }
  const std::vector<float> got =
      cuda::ref::attention_ref(q, k, v, position, kv_start, n_heads, n_kv, d, window);

  double max_diff = 0.0;
  std::vector<cpu::Matrix> expected;
  for (const auto& s : seqs) expected.push_back(cpu_attention(s, n_heads, n_kv, d, window));
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (std::int64_t c = 0; c < q_row; ++c)
      max_diff =
          std::max(max_diff, std::abs(static_cast<double>(got[r * static_cast<std::size_t>(q_row) + c]) -
                                      expected[ids[r].seq](ids[r].i, c)));
  CHECK(max_diff <= kCpuTolerance);  // same fp32-vs-double argument as above
}

TEST_CASE("attention_ref (fp32 cache) equals cpu::attention on fp32 K/V", "[kernels_ref]") {
  const int d = GENERATE(8, 16, 32, 64);
  const int group = GENERATE(1, 2, 4);
  const std::int64_t window = GENERATE(0, 1, 5, 32, 1000);
  const std::int64_t first_position = GENERATE(0, 37);
  const int n_kv = 2, n_heads = n_kv * group;
  const std::int64_t n_keys = 100;
  const std::int64_t kv_cols = static_cast<std::int64_t>(n_kv) * d;
  Sequence s = random_sequence(n_keys, first_position, n_heads, n_kv, d,
                               static_cast<std::uint32_t>(d * 1000 + group * 100 + window + first_position + 5));
  // Full fp32 K/V: each fp16 value plus a perturbation below half an fp16 ulp, so that no value is
  // fp16-representable (an overload that rounded to fp16 would be caught) and the data stay U(-1, 1)-like.
  std::mt19937 rng(static_cast<std::uint32_t>(d + group + window));
  std::uniform_real_distribution<float> tiny(-2e-4f, 2e-4f);
  std::vector<float> k32(s.k.size()), v32(s.v.size());
  std::size_t representable = 0;
  for (std::size_t i = 0; i < k32.size(); ++i) {
    k32[i] = f16_to_f32(s.k[i]) + tiny(rng);
    v32[i] = f16_to_f32(s.v[i]) + tiny(rng);
    representable += f16_to_f32(f32_to_f16(k32[i])) == k32[i];
  }
  CHECK(representable < k32.size() / 100);
  cpu::ThreadPool pool(2);
  const cpu::ConstMatrixMap q(s.q.data(), s.n_q, static_cast<std::int64_t>(n_heads) * d);
  cpu::Matrix expected(s.n_q, static_cast<std::int64_t>(n_heads) * d);
  cpu::attention(q, cpu::ConstMatrixMap(k32.data(), n_keys, kv_cols),
                 cpu::ConstMatrixMap(v32.data(), n_keys, kv_cols), first_position,
                 cpu::AttentionShape{n_heads, n_kv, d, window}, expected, pool);

  std::vector<std::int32_t> position(static_cast<std::size_t>(s.n_q));
  for (std::int64_t i = 0; i < s.n_q; ++i)
    position[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(first_position + i);
  const std::vector<std::int64_t> kv_start(position.size(), 0);
  const std::vector<float> got =
      cuda::ref::attention_ref(s.q, k32, v32, position, kv_start, n_heads, n_kv, d, window);
  REQUIRE(got.size() == static_cast<std::size_t>(expected.size()));
  double max_diff = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i)
    max_diff = std::max(max_diff, std::abs(static_cast<double>(got[i]) - expected.data()[i]));
  INFO("d " << d << " group " << group << " window " << window << " first_position " << first_position
            << " max diff " << max_diff);
  CHECK(max_diff <= kCpuTolerance32);

  // On the fp16 values themselves the two overloads are the same computation in double: equal bits.
  std::vector<float> k16(s.k.size()), v16(s.v.size());
  for (std::size_t i = 0; i < k16.size(); ++i) {
    k16[i] = f16_to_f32(s.k[i]);
    v16[i] = f16_to_f32(s.v[i]);
  }
  CHECK(cuda::ref::attention_ref(s.q, k16, v16, position, kv_start, n_heads, n_kv, d, window) ==
        cuda::ref::attention_ref(s.q, s.k, s.v, position, kv_start, n_heads, n_kv, d, window));
}

TEST_CASE("attention_ref: hand-checkable cases", "[kernels_ref]") {
  const int d = 8;
  // Two keys at cache rows 1 and 2 (row 0 unused), one kv head, two query heads.
  std::vector<std::uint16_t> k(3 * d, 0), v(3 * d, 0);
  for (int c = 0; c < d; ++c) {
    k[1 * d + c] = f32_to_f16(c == 0 ? 1.0f : 0.0f);  // key 0 = e0
    k[2 * d + c] = f32_to_f16(c == 1 ? 1.0f : 0.0f);  // key 1 = e1
    v[1 * d + c] = f32_to_f16(1.0f);
    v[2 * d + c] = f32_to_f16(static_cast<float>(c));
  }
  // Head 0's query scores key 0 with 2 and key 1 with 0; head 1's query scores both 0 (equal weights).
  std::vector<float> q(2 * d, 0.0f);
  q[0] = 2.0f;
  SECTION("full causal at position 1: softmax(2, 0) with scale 1.0, equal weights for a zero query") {
    const auto out = cuda::ref::attention_ref(q, k, v, {1}, {1}, 2, 1, d, 0);
    const double w0 = std::exp(2.0) / (std::exp(2.0) + 1.0);
    for (int c = 0; c < d; ++c) {
      CHECK(out[static_cast<std::size_t>(c)] ==
            Approx(w0 * 1.0 + (1.0 - w0) * c).epsilon(1e-6));  // float of a double
      CHECK(out[static_cast<std::size_t>(d + c)] == Approx(0.5 * 1.0 + 0.5 * c).epsilon(1e-6));
    }
  }
  SECTION("window 1: a query sees only itself") {
    const auto out = cuda::ref::attention_ref(q, k, v, {1}, {1}, 2, 1, d, 1);
    for (int c = 0; c < 2 * d; ++c) CHECK(out[static_cast<std::size_t>(c)] == static_cast<float>(c % d));
  }
  SECTION("position 0 sees only key 0; position < 0 sees nothing and gives zeros") {
    const auto out = cuda::ref::attention_ref(q, k, v, {0}, {1}, 2, 1, d, 0);
    for (float x : out) CHECK(x == 1.0f);
    const auto none = cuda::ref::attention_ref(q, k, v, {-1}, {1}, 2, 1, d, 0);
    for (float x : none) CHECK(x == 0.0f);
  }
}
