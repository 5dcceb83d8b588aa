// The attention kernel against attention_ref on ragged packings (several sequences, kv_start mid-cache,
// cached prefixes, shuffled rows), windows smaller and larger than the sequences, every head-dim bucket,
// GQA groups 1..16, a 3000-token d=512 sequence, plus bit-identity run to run and across batch packings;
// K/V are fp16 or fp32 (k_f32 / v_f32, the same cases), the output bf16 (out) or fp32 (out_f32).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/attention_kernels.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/ref/attention_ref.h"

using namespace qg;

namespace {

struct Shape {
  int n_heads = 0, n_kv = 0, d = 0;
  std::int64_t window = 0;
};

// A packed launch: the cache, the query rows and their (position, kv_start).
enum class Cache { f16, f32 };

struct Packed {
  std::vector<std::uint16_t> k, v;  // [cache_rows, n_kv, d] fp16 bits
  std::vector<float> k32, v32;      // the fp32 cache: the same layout, values not rounded to fp16
  std::vector<float> q;             // [rows, n_heads, d]
  std::vector<std::int32_t> position;
  std::vector<std::int64_t> kv_start;
};

// One sequence to pack: n_keys keys in the cache, query rows for positions first_query..n_keys-1.
struct SeqSpec {
  std::int64_t n_keys = 0, first_query = 0;
  std::int64_t gap_before = 0;  // unused cache rows before it (so kv_start is mid-cache)
};

// Data of each sequence are a function of (seed, sequence index) only, so a sequence packed differently
// has the same keys, values and queries.
struct SeqData {
  std::vector<std::uint16_t> k, v;  // fp16 bits
  std::vector<float> k32, v32;      // fp32 values; k, v are their fp16 roundings
  std::vector<float> q;             // [n_keys, n_heads, d]: one query per position (only some are packed)
};

SeqData make_seq(const SeqSpec& s, const Shape& sh, std::uint32_t seed) {
  std::mt19937 rng(seed);
  // Scores of standard deviation ~4 (q.k over d products of U(-a, a) * U(-1, 1)): a peaked softmax like a
  // real model's, where masking one wrong key visibly moves the output.
  const float a = 12.0f / std::sqrt(static_cast<float>(sh.d));
  std::uniform_real_distribution<float> uq(-a, a), ukv(-1.0f, 1.0f);
  SeqData d;
  d.k32.resize(static_cast<std::size_t>(s.n_keys * sh.n_kv * sh.d));
  d.v32.resize(d.k32.size());
  d.q.resize(static_cast<std::size_t>(s.n_keys * sh.n_heads * sh.d));
  for (auto& x : d.k32) x = ukv(rng);
  for (auto& x : d.v32) x = ukv(rng);
  for (auto& x : d.q) x = uq(rng);
  for (float x : d.k32) d.k.push_back(f32_to_f16(x));  // (same draws, so the same fp16 data as before)
  for (float x : d.v32) d.v.push_back(f32_to_f16(x));
  return d;
}

struct RowId {
  std::size_t seq;
  std::int64_t pos;
};

// Packs sequences into one cache (garbage rows in the gaps: NaN, so reading one poisons the output) and
// the given rows, in the given order.
Packed pack(const std::vector<SeqSpec>& specs, const std::vector<SeqData>& data,
            const std::vector<RowId>& rows, const Shape& sh) {
  Packed p;
  const std::size_t kv_row = static_cast<std::size_t>(sh.n_kv) * sh.d,
                    q_row = static_cast<std::size_t>(sh.n_heads) * sh.d;
  std::vector<std::int64_t> start;
  const std::uint16_t nan_bits = 0x7e00;  // fp16 quiet NaN
  const float nan32 = std::nanf("");
  for (std::size_t i = 0; i < specs.size(); ++i) {
    p.k.insert(p.k.end(), static_cast<std::size_t>(specs[i].gap_before) * kv_row, nan_bits);
    p.v.insert(p.v.end(), static_cast<std::size_t>(specs[i].gap_before) * kv_row, nan_bits);
    p.k32.insert(p.k32.end(), static_cast<std::size_t>(specs[i].gap_before) * kv_row, nan32);
    p.v32.insert(p.v32.end(), static_cast<std::size_t>(specs[i].gap_before) * kv_row, nan32);
    start.push_back(static_cast<std::int64_t>(p.k.size() / kv_row));
    p.k.insert(p.k.end(), data[i].k.begin(), data[i].k.end());
    p.v.insert(p.v.end(), data[i].v.begin(), data[i].v.end());
    p.k32.insert(p.k32.end(), data[i].k32.begin(), data[i].k32.end());
    p.v32.insert(p.v32.end(), data[i].v32.begin(), data[i].v32.end());
  }
  p.k.insert(p.k.end(), 3 * kv_row, nan_bits);  // a tail the kernel must not read either
  p.v.insert(p.v.end(), 3 * kv_row, nan_bits);
  p.k32.insert(p.k32.end(), 3 * kv_row, nan32);
  p.v32.insert(p.v32.end(), 3 * kv_row, nan32);
  for (const auto& r : rows) {
    const auto& q = data[r.seq].q;
    p.q.insert(p.q.end(), q.begin() + static_cast<std::ptrdiff_t>(r.pos * q_row),
               q.begin() + static_cast<std::ptrdiff_t>((r.pos + 1) * q_row));
    p.position.push_back(static_cast<std::int32_t>(r.pos));
    p.kv_start.push_back(start[r.seq]);
  }
  return p;
}

std::vector<RowId> all_rows(const std::vector<SeqSpec>& specs) {
  std::vector<RowId> rows;
  for (std::size_t i = 0; i < specs.size(); ++i)
    for (std::int64_t pos = specs[i].first_query; pos < specs[i].n_keys; ++pos) rows.push_back({i, pos});
  return rows;
}

std::vector<SeqData> make_all(const std::vector<SeqSpec>& specs, const Shape& sh, std::uint32_t seed) {
  std::vector<SeqData> data;
  for (std::size_t i = 0; i < specs.size(); ++i)
    data.push_back(make_seq(specs[i], sh, seed * 131u + static_cast<std::uint32_t>(i)));
  return data;
}

// The inputs of a packed launch on the device, and its parameters without an output.
struct DeviceLaunch {
  cuda::DeviceBuffer q, k, v, pos, kvs;
  cuda::AttentionParams ap;
};

DeviceLaunch upload(const Packed& p, const Shape& sh, Cache cache = Cache::f16) {
  DeviceLaunch L;
  L.q = cuda::upload_bytes(p.q.data(), p.q.size() * sizeof(float), "q");
  if (cache == Cache::f32) {
    L.k = cuda::upload_bytes(p.k32.data(), p.k32.size() * 4, "k_f32");
    L.v = cuda::upload_bytes(p.v32.data(), p.v32.size() * 4, "v_f32");
    L.ap.k_f32 = L.k.as<float>();
    L.ap.v_f32 = L.v.as<float>();
  } else {
    L.k = cuda::upload_bytes(p.k.data(), p.k.size() * 2, "k");
    L.v = cuda::upload_bytes(p.v.data(), p.v.size() * 2, "v");
    L.ap.k = L.k.as<__half>();
    L.ap.v = L.v.as<__half>();
  }
  L.pos = cuda::upload_bytes(p.position.data(), p.position.size() * 4, "position");
  L.kvs = cuda::upload_bytes(p.kv_start.data(), p.kv_start.size() * 8, "kv_start");
  L.ap.q = L.q.as<float>();
  L.ap.position = L.pos.as<std::int32_t>();
  L.ap.kv_start = L.kvs.as<std::int64_t>();
  L.ap.rows = static_cast<std::int64_t>(p.position.size());
  L.ap.n_heads = sh.n_heads;
  L.ap.n_kv_heads = sh.n_kv;
  L.ap.d = sh.d;
  L.ap.window = sh.window;
  return L;
}

// The bf16 output (`out`).
std::vector<std::uint16_t> run_gpu(const Packed& p, const Shape& sh, Cache cache = Cache::f16) {
  DeviceLaunch L = upload(p, sh, cache);
  std::vector<std::uint16_t> out(static_cast<std::size_t>(L.ap.rows) * sh.n_heads * sh.d, 0xffff);
  cuda::DeviceBuffer d_out = cuda::upload_bytes(out.data(), out.size() * 2, "out");  // NaN-filled
  L.ap.out = d_out.as<__nv_bfloat16>();
  cuda::attention(L.ap, nullptr);
  QG_CUDA_CHECK(cudaDeviceSynchronize());
  d_out.download(out.data(), out.size() * 2);
  return out;
}

// The fp32 output (`out_f32`) of the same launch.
std::vector<float> run_gpu_f32(const Packed& p, const Shape& sh, Cache cache = Cache::f16) {
  DeviceLaunch L = upload(p, sh, cache);
  std::vector<float> out(static_cast<std::size_t>(L.ap.rows) * sh.n_heads * sh.d, std::nanf(""));
  cuda::DeviceBuffer d_out = cuda::upload_bytes(out.data(), out.size() * 4, "out_f32");  // NaN-filled
  L.ap.out_f32 = d_out.as<float>();
  cuda::attention(L.ap, nullptr);
  QG_CUDA_CHECK(cudaDeviceSynchronize());
  d_out.download(out.data(), out.size() * 4);
  return out;
}

std::vector<float> run_ref(const Packed& p, const Shape& sh, Cache cache = Cache::f16) {
  if (cache == Cache::f32)
    return cuda::ref::attention_ref(p.q, p.k32, p.v32, p.position, p.kv_start, sh.n_heads, sh.n_kv, sh.d,
                                    sh.window);
  return cuda::ref::attention_ref(p.q, p.k, p.v, p.position, p.kv_start, sh.n_heads, sh.n_kv, sh.d,
                                  sh.window);
}

// Raw output bytes of a launch: the bf16 `out` for the fp16 cache, `out_f32` for the fp32 cache (accurate
// mode's pairing; unrounded bits are the stricter identity check). elem_bytes: 2 or 4.
std::vector<unsigned char> run_bytes(const Packed& p, const Shape& sh, Cache cache, std::size_t* elem_bytes) {
  std::vector<unsigned char> bytes;
  if (cache == Cache::f32) {
    const auto out = run_gpu_f32(p, sh, cache);
    bytes.resize(out.size() * 4);
    std::memcpy(bytes.data(), out.data(), bytes.size());
    *elem_bytes = 4;
  } else {
    const auto out = run_gpu(p, sh, cache);
    bytes.resize(out.size() * 2);
    std::memcpy(bytes.data(), out.data(), bytes.size());
    *elem_bytes = 2;
  }
  return bytes;
}

// One bf16 ulp at |x| (2^(e-8) for |x| in [2^(e-1), 2^e)).
double bf16_ulp(double x) {
  int e = 0;
  std::frexp(std::abs(x), &e);
  return std::ldexp(1.0, e - 8);
}

// Tolerance of the kernel's bf16 output against the exact (double) reference: 1 bf16 ulp (the single
// final rounding is 0.5 ulp; the other 0.5 lets the fp32 error below push a value across a rounding
// boundary) plus the fp32 error before rounding. That error: scores are fp32 dot products of up to 512
// terms (|score| ~ 4, random-walk error ~ sqrt(512) * 2^-24 * 4 ~ 5e-6, i.e. a relative error of the
// probabilities of that size), exp is within 2 ulp, and the running sums over up to 3000 keys add ~
// sqrt(3000) * 2^-24 ~ 3e-6; all relative to max|v| = 1. 4e-5 leaves ~10x margin and is far below
// a bf16 ulp of typical outputs (~4e-3) and below the effect of one wrongly masked key. There is no
// input-rounding term: kernel and reference widen the same fp16 K/V bits exactly. The fp32 cache has the
// same budget: kernel and reference read the same fp32 K/V values (exact in double), |v| <= 1 still, and
// the kernel's arithmetic is the fp16 path's operation for operation; only the inputs' low bits differ.
constexpr double kFp32Term = 4e-5;

// Number of kernel outputs out of tolerance (a NaN counts); gpu and ref hold the same rows.
std::size_t count_bad(const std::vector<std::uint16_t>& gpu, const std::vector<float>& ref, double* max_err) {
  std::size_t bad = 0;
  *max_err = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double g = bf16_to_f32(gpu[i]), r = ref[i];
    const double err = std::abs(g - r);
    if (!(err <= bf16_ulp(r) + kFp32Term)) ++bad;
    if (!(err <= *max_err)) *max_err = err;
  }
  return bad;
}

void check_against_ref(const Packed& p, const Shape& sh) {
  const auto gpu = run_gpu(p, sh);
  const auto ref = run_ref(p, sh);
  REQUIRE(gpu.size() == ref.size());
  double max_err = 0;
  const std::size_t bad = count_bad(gpu, ref, &max_err);
  INFO("d " << sh.d << " heads " << sh.n_heads << "/" << sh.n_kv << " window " << sh.window << " rows "
            << p.position.size() << " max |gpu - ref| " << max_err);
  CHECK(bad == 0);
}

// Number of out_f32 values out of tolerance against the reference: the fp32 term alone (the output is
// not rounded, so no bf16 ulp; the reference's own double -> float rounding is <= 6e-8 for |out| <= 1).
std::size_t count_bad_f32(const std::vector<float>& gpu, const std::vector<float>& ref, double* max_err) {
  std::size_t bad = 0;
  *max_err = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(static_cast<double>(gpu[i]) - ref[i]);
    if (!(err <= kFp32Term)) ++bad;
    if (!(err <= *max_err)) *max_err = err;
  }
  return bad;
}

// Elements where bf16(out_f32) differs from the bf16 `out` of the same launch (or either is NaN).
std::size_t count_rounding_mismatch(const std::vector<float>& f32, const std::vector<std::uint16_t>& bf16) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < f32.size(); ++i) n += !std::isfinite(f32[i]) || f32_to_bf16(f32[i]) != bf16[i];
  return n + (f32.size() != bf16.size());
}

bool same_bits(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 2) == 0;
}

// Sequences of 1, 7, 33 and 100 keys starting mid-cache; the 100-key one has a 40-key prefix already
// cached (its first query row is at position 40).
const std::vector<SeqSpec> kRagged = {{1, 0, 5}, {7, 0, 0}, {33, 0, 3}, {100, 40, 11}};

// The long-sequence cases: the fp32 outputs `f32` of every row of sequence 0, checked against attention_ref on
// the rows at `positions` plus 8 random ones (the reference is quadratic; a sample keeps it fast).
void check_sampled_rows_f32(const std::vector<SeqSpec>& spec, const std::vector<SeqData>& data,
                            const std::vector<float>& f32, const std::vector<std::int64_t>& positions, const Shape& sh,
                            Cache cache) {
  std::vector<RowId> sample;
  for (std::int64_t pos : positions) sample.push_back({0, pos});
  std::mt19937 rng(6);
  for (int i = 0; i < 8; ++i)
    sample.push_back({0, std::uniform_int_distribution<std::int64_t>(0, 2999)(rng)});
  const auto ref = run_ref(pack(spec, data, sample, sh), sh, cache);
  const std::size_t row_elems = static_cast<std::size_t>(sh.n_heads) * sh.d;
  std::vector<float> f32_sample;
  for (const auto& r : sample)
    f32_sample.insert(f32_sample.end(), f32.begin() + static_cast<std::ptrdiff_t>(r.pos * row_elems),
                      f32.begin() + static_cast<std::ptrdiff_t>((r.pos + 1) * row_elems));
  double max_err = 0;
  const std::size_t bad = count_bad_f32(f32_sample, ref, &max_err);
  INFO("window " << sh.window << " max |gpu - ref| " << max_err);
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("attention: ragged packings vs attention_ref, every head-dim bucket, GQA 1/2/4", "[gpu]") {
  const int d = GENERATE(8, 16, 24, 32, 72, 136, 256, 512);  // 24/72/136: partial lanes in each bucket
  const int group = GENERATE(1, 2, 4);
  const std::int64_t window = GENERATE(0, 5, 64, 1000);  // 64: between the sequence lengths; 1000: above all
  const bool shuffled = GENERATE(false, true);           // rows of different sequences interleaved
  const Shape sh{2 * group, 2, d, window};
  const auto data = make_all(kRagged, sh, static_cast<std::uint32_t>(d * 10 + group));
  auto rows = all_rows(kRagged);
  if (shuffled) std::shuffle(rows.begin(), rows.end(), std::mt19937(3));
  INFO("shuffled " << shuffled);
  check_against_ref(pack(kRagged, data, rows, sh), sh);
}

TEST_CASE("attention: GQA groups 3 and 16 (idle warps, several head chunks per kv head)", "[gpu]") {
  const int group = GENERATE(3, 16);
  const int n_kv = GENERATE(1, 3);
  const std::int64_t window = GENERATE(0, 9);
  const Shape sh{group * n_kv, n_kv, 32, window};
  const auto data = make_all(kRagged, sh, static_cast<std::uint32_t>(group * 7 + n_kv));
  check_against_ref(pack(kRagged, data, all_rows(kRagged), sh), sh);
}

TEST_CASE("attention: 3000-token sequence at d=512, 8/2 heads, window 512 and full, sampled rows", "[gpu]") {
  const std::vector<SeqSpec> spec = {{3000, 0, 0}};
  const std::int64_t window = GENERATE(512, 0);
  const Shape sh{8, 2, 512, window};
  const auto data = make_all(spec, sh, 99);
  const Packed full = pack(spec, data, all_rows(spec), sh);
  const auto gpu = run_gpu(full, sh);
  // The reference on a sample (tile and window edges plus random rows); 30 rows x 3000 keys x 8 heads in
  // double keeps the host side well under a second.
  std::vector<RowId> sample;
  for (std::int64_t pos : {0, 1, 31, 32, 33, 510, 511, 512, 513, 1023, 1024, 2047, 2998, 2999})
    sample.push_back({0, pos});
  std::mt19937 rng(5);
  for (int i = 0; i < 16; ++i)
    sample.push_back({0, std::uniform_int_distribution<std::int64_t>(0, 2999)(rng)});
  const Packed part = pack(spec, data, sample, sh);
  const auto ref = run_ref(part, sh);
  const std::size_t row_elems = static_cast<std::size_t>(sh.n_heads) * sh.d;
  std::vector<std::uint16_t> gpu_sample;
  for (const auto& r : sample)
    gpu_sample.insert(gpu_sample.end(), gpu.begin() + static_cast<std::ptrdiff_t>(r.pos * row_elems),
                      gpu.begin() + static_cast<std::ptrdiff_t>((r.pos + 1) * row_elems));
  double max_err = 0;
  const std::size_t bad = count_bad(gpu_sample, ref, &max_err);
  INFO("window " << window << " max |gpu - ref| " << max_err);
  CHECK(bad == 0);
  // Every row (not only the sample) is finite: no NaN from a stray cache read or a 0/0.
  std::size_t non_finite = 0;
  for (std::uint16_t x : gpu) non_finite += !std::isfinite(bf16_to_f32(x));
  CHECK(non_finite == 0);
}

TEST_CASE("attention: batch invariance, a row's bits do not depend on the other rows of the launch",
          "[gpu]") {
  const int d = GENERATE(32, 256);
  const std::int64_t window = GENERATE(0, 40);
  const Cache cache = GENERATE(Cache::f16, Cache::f32);  // f32: compared on out_f32 bits
  const Shape sh{4, 2, d, window};
  std::size_t eb = 0;
  INFO("fp32 cache " << (cache == Cache::f32));
  // Sequence A (index 0): 100 keys, its last 60 positions queried. Alone: at cache row 0, rows in order.
  const std::vector<SeqSpec> alone_spec = {{100, 40, 0}};
  const std::vector<SeqSpec> batch_spec = {{100, 40, 13}, {33, 0, 2}, {7, 0, 1}};
  const auto batch_data = make_all(batch_spec, sh, 42);
  const std::vector<SeqData> alone_data = {batch_data[0]};
  const auto alone = run_bytes(pack(alone_spec, alone_data, all_rows(alone_spec), sh), sh, cache, &eb);

  // Packed: A's rows after 3 rows of another sequence (so they fall into different blocks), mixed with
  // other sequences' rows, at another kv_start; then fully shuffled.
  const bool shuffled = GENERATE(false, true);
  std::vector<RowId> rows = {{1, 0}, {1, 1}, {1, 2}};
  for (std::int64_t pos = 40; pos < 100; ++pos) {
    rows.push_back({0, pos});
    if (pos % 9 == 0) rows.push_back({2, (pos / 9) % 7});  // all 7 rows of sequence 2, interleaved
  }
  for (std::int64_t pos = 3; pos < 33; ++pos) rows.push_back({1, pos});
  if (shuffled) std::shuffle(rows.begin(), rows.end(), std::mt19937(11));
  const auto batch = run_bytes(pack(batch_spec, batch_data, rows, sh), sh, cache, &eb);

  const std::size_t row_elems = static_cast<std::size_t>(sh.n_heads) * sh.d * eb / 2;  // in 2-byte units
  std::size_t compared = 0, differing = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].seq != 0) continue;
    const std::size_t alone_row = static_cast<std::size_t>(rows[r].pos - 40);
    ++compared;
    differing +=
        std::memcmp(&batch[r * row_elems * 2], &alone[alone_row * row_elems * 2], row_elems * 2) != 0;
  }
  CHECK(compared == 60);
  CHECK(differing == 0);

  // A single row launched alone (one row in its block, no neighbours) gives the same bits too.
  for (std::int64_t pos : {40, 63, 99}) {
    const auto one =
        run_bytes(pack(alone_spec, alone_data, std::vector<RowId>{RowId{0, pos}}, sh), sh, cache, &eb);
    CHECK(std::memcmp(one.data(), &alone[static_cast<std::size_t>(pos - 40) * row_elems * 2],
                      row_elems * 2) == 0);
  }
}

TEST_CASE("attention: bit-identical run to run", "[gpu]") {
  const std::int64_t window = GENERATE(0, 128);
  const Cache cache = GENERATE(Cache::f16, Cache::f32);
  const Shape sh{8, 2, 512, window};
  const std::vector<SeqSpec> specs = {{700, 0, 1}, {33, 0, 0}, {300, 100, 4}};
  const auto data = make_all(specs, sh, 8);
  const Packed p = pack(specs, data, all_rows(specs), sh);
  std::size_t eb = 0;
  const auto first = run_bytes(p, sh, cache, &eb);
  for (int run = 0; run < 3; ++run) CHECK(run_bytes(p, sh, cache, &eb) == first);
}

// out_f32 carries the value out rounds: the kernel runs the same code up to the final division and only
// then stores fp32 or f32_to_bf16 of it, so the two launches agree bit for bit after rounding (0 mismatches
// is required; the computation is deterministic and does not depend on the output kind).
TEST_CASE("attention: out_f32 vs attention_ref (fp32 tolerance) and vs the bf16 output", "[gpu]") {
  const int d = GENERATE(8, 24, 72, 136, 256, 512);
  const int group = GENERATE(1, 4);
  const std::int64_t window = GENERATE(0, 5, 64);
  const bool shuffled = GENERATE(false, true);
  const Shape sh{2 * group, 2, d, window};
  const auto data = make_all(kRagged, sh, static_cast<std::uint32_t>(d * 10 + group + 7));
  auto rows = all_rows(kRagged);
  if (shuffled) std::shuffle(rows.begin(), rows.end(), std::mt19937(3));
  const Packed p = pack(kRagged, data, rows, sh);
  const auto f32 = run_gpu_f32(p, sh);
  const auto bf16 = run_gpu(p, sh);
  const auto ref = run_ref(p, sh);
  REQUIRE(f32.size() == ref.size());
  double max_err = 0;
  const std::size_t bad = count_bad_f32(f32, ref, &max_err);
  INFO("d " << d << " heads " << sh.n_heads << "/" << sh.n_kv << " window " << window << " shuffled "
            << shuffled << " max |gpu - ref| " << max_err);
  CHECK(bad == 0);
  CHECK(count_rounding_mismatch(f32, bf16) == 0);
}

TEST_CASE("attention: out_f32 on a 3000-token sequence at d=512 (long fp32 accumulation), sampled rows",
          "[gpu]") {
  const std::vector<SeqSpec> spec = {{3000, 0, 0}};
  const std::int64_t window = GENERATE(512, 0);
  const Shape sh{8, 2, 512, window};
  const auto data = make_all(spec, sh, 99);
  const Packed full = pack(spec, data, all_rows(spec), sh);
  const auto f32 = run_gpu_f32(full, sh);
  CHECK(count_rounding_mismatch(f32, run_gpu(full, sh)) == 0);  // every row, all finite
  check_sampled_rows_f32(spec, data, f32, {0, 31, 32, 511, 512, 513, 1024, 2047, 2999}, sh, Cache::f16);
}

TEST_CASE("attention: exactly one of out and out_f32", "[gpu]") {
  const Shape sh{2, 1, 8, 0};
  const std::vector<SeqSpec> spec = {{3, 0, 0}};
  const Packed p = pack(spec, make_all(spec, sh, 1), all_rows(spec), sh);
  DeviceLaunch L = upload(p, sh);
  const std::size_t n = static_cast<std::size_t>(L.ap.rows) * sh.n_heads * sh.d;
  cuda::DeviceBuffer out(n * 2, "out"), out_f32(n * 4, "out_f32");
  cuda::AttentionParams ap = L.ap;
  ap.out = out.as<__nv_bfloat16>();
  CHECK_NOTHROW(cuda::attention(ap, nullptr));
  ap.out = nullptr;
  ap.out_f32 = out_f32.as<float>();
  CHECK_NOTHROW(cuda::attention(ap, nullptr));
  ap.out = out.as<__nv_bfloat16>();  // both
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);
  ap.out = nullptr;  // neither
  ap.out_f32 = nullptr;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);
  QG_CUDA_CHECK(cudaDeviceSynchronize());
  // An empty launch allows no output (as it allows null inputs) but not both.
  cuda::AttentionParams empty;
  empty.n_heads = 2;
  empty.n_kv_heads = 1;
  empty.d = 8;
  CHECK_NOTHROW(cuda::attention(empty, nullptr));
  empty.out = out.as<__nv_bfloat16>();
  empty.out_f32 = out_f32.as<float>();
  CHECK_THROWS_AS(cuda::attention(empty, nullptr), qg::Error);
}

TEST_CASE("attention: argument checks and empty launch", "[gpu]") {
  cuda::AttentionParams ap;
  ap.n_heads = 4;
  ap.n_kv_heads = 2;
  ap.d = 64;
  ap.rows = 0;
  CHECK_NOTHROW(cuda::attention(ap, nullptr));  // no rows: nothing to do, null pointers allowed
  ap.d = 12;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);
  ap.d = 520;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);
  ap.d = 64;
  ap.n_heads = 3;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);
}

// ---- fp32 K/V cache (k_f32 / v_f32, accurate mode) ----

// The fp32 cache on the fp16 cases: out_f32 against the fp32 reference (the same fp32 term: no input
// rounding, both read the same fp32 values), the bf16 output as its one rounding, every head-dim bucket.
TEST_CASE("attention fp32 cache: ragged packings vs attention_ref, every head-dim bucket, GQA 1/2/4",
          "[gpu]") {
  const int d = GENERATE(8, 16, 24, 32, 72, 136, 256, 512);
  const int group = GENERATE(1, 2, 4);
  const std::int64_t window = GENERATE(0, 5, 64, 1000);
  const bool shuffled = GENERATE(false, true);
  const Shape sh{2 * group, 2, d, window};
  const auto data = make_all(kRagged, sh, static_cast<std::uint32_t>(d * 10 + group + 3));
  auto rows = all_rows(kRagged);
  if (shuffled) std::shuffle(rows.begin(), rows.end(), std::mt19937(3));
  const Packed p = pack(kRagged, data, rows, sh);
  const auto f32 = run_gpu_f32(p, sh, Cache::f32);
  const auto ref = run_ref(p, sh, Cache::f32);
  REQUIRE(f32.size() == ref.size());
  double max_err = 0;
  const std::size_t bad = count_bad_f32(f32, ref, &max_err);
  INFO("d " << d << " heads " << sh.n_heads << "/" << sh.n_kv << " window " << window << " shuffled "
            << shuffled << " max |gpu - ref| " << max_err);
  CHECK(bad == 0);
  CHECK(count_rounding_mismatch(f32, run_gpu(p, sh, Cache::f32)) == 0);
  // The fp32 cache is really read as fp32: against the fp16-rounded data's reference, the outputs move by
  // more than the fp32 term (fp16 rounding of V alone moves outputs by up to ~2.4e-4).
  double max_vs_f16 = 0;
  count_bad_f32(f32, run_ref(p, sh, Cache::f16), &max_vs_f16);
  CHECK(max_vs_f16 > 2 * kFp32Term);
}

TEST_CASE("attention fp32 cache: GQA groups 3 and 16", "[gpu]") {
  const int group = GENERATE(3, 16);
  const int n_kv = GENERATE(1, 3);
  const std::int64_t window = GENERATE(0, 9);
  const Shape sh{group * n_kv, n_kv, 32, window};
  const Packed p = pack(kRagged, make_all(kRagged, sh, static_cast<std::uint32_t>(group * 7 + n_kv)),
                        all_rows(kRagged), sh);
  double max_err = 0;
  CHECK(count_bad_f32(run_gpu_f32(p, sh, Cache::f32), run_ref(p, sh, Cache::f32), &max_err) == 0);
}

// Same arithmetic in the same order: an fp32 cache holding exactly the fp16 cache's values gives the fp16
// cache's output bit for bit (both outputs), in every bucket and packing.
TEST_CASE("attention fp32 cache: fp16-representable values give the fp16 cache's bits", "[gpu]") {
  const int d = GENERATE(8, 24, 72, 136, 256, 512);
  const int group = GENERATE(1, 4);
  const std::int64_t window = GENERATE(0, 5, 64);
  const Shape sh{2 * group, 2, d, window};
  const auto data = make_all(kRagged, sh, static_cast<std::uint32_t>(d + group));
  auto rows = all_rows(kRagged);
  std::shuffle(rows.begin(), rows.end(), std::mt19937(4));
  Packed p = pack(kRagged, data, rows, sh);
  for (std::size_t i = 0; i < p.k.size(); ++i) {
    p.k32[i] = f16_to_f32(p.k[i]);  // NaN garbage stays NaN
    p.v32[i] = f16_to_f32(p.v[i]);
  }
  CHECK(same_bits(run_gpu(p, sh, Cache::f32), run_gpu(p, sh, Cache::f16)));
  const auto a = run_gpu_f32(p, sh, Cache::f32), b = run_gpu_f32(p, sh, Cache::f16);
  CHECK((a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0));
}

TEST_CASE("attention fp32 cache: 3000-token sequence at d=512, sampled rows", "[gpu]") {
  const std::vector<SeqSpec> spec = {{3000, 0, 0}};
  const std::int64_t window = GENERATE(512, 0);
  const Shape sh{8, 2, 512, window};
  const auto data = make_all(spec, sh, 99);
  const auto f32 = run_gpu_f32(pack(spec, data, all_rows(spec), sh), sh, Cache::f32);
  std::size_t non_finite = 0;
  for (float x : f32) non_finite += !std::isfinite(x);
  CHECK(non_finite == 0);
  check_sampled_rows_f32(spec, data, f32, {0, 1, 31, 32, 33, 511, 512, 513, 1023, 1024, 2047, 2999}, sh, Cache::f32);
}

TEST_CASE("attention: exactly one K/V cache pair, fp16 (k, v) or fp32 (k_f32, v_f32)", "[gpu]") {
  const Shape sh{2, 1, 8, 0};
  const std::vector<SeqSpec> spec = {{3, 0, 0}};
  const Packed p = pack(spec, make_all(spec, sh, 1), all_rows(spec), sh);
  DeviceLaunch L16 = upload(p, sh, Cache::f16), L32 = upload(p, sh, Cache::f32);
  const std::size_t n = static_cast<std::size_t>(L16.ap.rows) * sh.n_heads * sh.d;
  cuda::DeviceBuffer out_f32(n * 4, "out_f32");
  cuda::AttentionParams ap = L16.ap;
  ap.out_f32 = out_f32.as<float>();
  CHECK_NOTHROW(cuda::attention(ap, nullptr));  // fp16 pair
  ap.k = nullptr;
  ap.v = nullptr;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);  // neither pair
  ap.k_f32 = L32.ap.k_f32;
  ap.v_f32 = L32.ap.v_f32;
  CHECK_NOTHROW(cuda::attention(ap, nullptr));  // fp32 pair
  ap.k = L16.ap.k;
  ap.v = L16.ap.v;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);  // both pairs
  ap.v_f32 = nullptr;
  ap.k = nullptr;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);  // mixed: v fp16, k fp32
  ap.v = nullptr;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);  // k_f32 alone
  ap.k_f32 = nullptr;
  ap.v_f32 = L32.ap.v_f32;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);  // v_f32 alone
  ap.k_f32 = L32.ap.k_f32 + 1;  // 4-byte offset: not 16-byte aligned
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);
  ap.k_f32 = L32.ap.k_f32;
  ap.v_f32 = L32.ap.v_f32 + 2;
  CHECK_THROWS_AS(cuda::attention(ap, nullptr), qg::Error);
  QG_CUDA_CHECK(cudaDeviceSynchronize());
  cuda::AttentionParams empty;  // rows == 0: no cache needed
  empty.n_heads = 2;
  empty.n_kv_heads = 1;
  empty.d = 8;
  CHECK_NOTHROW(cuda::attention(empty, nullptr));
}
