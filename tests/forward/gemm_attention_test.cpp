// Attention by GEMMs (forward/cuda/gemm_attention.h, the fast-precision path) against the host reference
// kernels/ref/attention_ref (double, two-pass softmax over each row's visible keys): several sequences packed
// in one step with cache slots mid-cache and NaN rows around them (reading a key outside a row's range poisons
// the output), queries after a cached prefix, windows smaller and larger than the sequences, GQA 8/2 and 4/4,
// head dims 64, 256 and 512; a tiny score budget forces many query blocks per span. Both methods: the GEMM path and
// the fused (flash) kernel, with the same bounds.
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "catch.h"
#include "common/float_formats.h"
#include "forward/cuda/gemm.h"
#include "forward/cuda/gemm_attention.h"
#include "kernels/flash_attention_kernels.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/ref/attention_ref.h"

using namespace qg;

namespace {

struct Seq {
  std::int64_t n_keys, first_query, gap_before;
};

struct Case {
  int n_heads, n_kv, d;
  std::int64_t window;
  std::vector<Seq> seqs;
  std::size_t score_bytes;
};

void run_case(const Case& tc, std::uint32_t seed) {
  std::mt19937 rng(seed);
  // Scores of standard deviation ~4, as attention_test.cpp: a peaked softmax where one wrong key shows.
  const float a = 12.0f / std::sqrt(static_cast<float>(tc.d));
  std::uniform_real_distribution<float> uq(-a, a), ukv(-1.0f, 1.0f);
  const std::size_t kv_row = static_cast<std::size_t>(tc.n_kv * tc.d), q_row = static_cast<std::size_t>(tc.n_heads * tc.d);
  std::vector<std::uint16_t> k, v;
  std::vector<float> q;
  std::vector<std::int32_t> position;
  std::vector<std::int64_t> kv_start;
  std::vector<cuda::AttentionSpan> spans;
  const std::uint16_t nan16 = 0x7e00;
  for (const Seq& s : tc.seqs) {
    k.insert(k.end(), static_cast<std::size_t>(s.gap_before) * kv_row, nan16);
    v.insert(v.end(), static_cast<std::size_t>(s.gap_before) * kv_row, nan16);
    const auto start = static_cast<std::int64_t>(k.size() / kv_row);
    for (std::size_t i = 0; i < static_cast<std::size_t>(s.n_keys) * kv_row; ++i) {
      k.push_back(f32_to_f16(ukv(rng)));
      v.push_back(f32_to_f16(ukv(rng)));
    }
    spans.push_back({static_cast<std::int64_t>(position.size()), s.n_keys - s.first_query, s.first_query, start});
    for (std::int64_t p = s.first_query; p < s.n_keys; ++p) {
      for (std::size_t i = 0; i < q_row; ++i) q.push_back(uq(rng));
      position.push_back(static_cast<std::int32_t>(p));
      kv_start.push_back(start);
    }
  }
  k.insert(k.end(), 3 * kv_row, nan16);  // a tail that must not be read either
  v.insert(v.end(), 3 * kv_row, nan16);
  const auto rows = static_cast<std::int64_t>(position.size());
  const std::vector<float> want = cuda::ref::attention_ref(q, k, v, position, kv_start, tc.n_heads, tc.n_kv, tc.d, tc.window);

  cudaStream_t stream = nullptr;
  QG_CUDA_CHECK(cudaStreamCreate(&stream));
  // The GEMM path, then the fused kernel with every output slice compiled for this head dim (the widest is what H100/
  // H200 use; 128 is what smaller GPUs fall back to: tested here so it is not first run on a user's card).
  std::vector<std::pair<cuda::GemmAttention::Method, int>> methods = {{cuda::GemmAttention::Method::kGemm, 0}};
  for (int dv : {tc.d <= 128 ? tc.d : 256, 128})
    if (dv <= tc.d && (methods.size() == 1 || dv != methods.back().second))
      methods.push_back({cuda::GemmAttention::Method::kFused, dv});
  int device = 0;
  QG_CUDA_CHECK(cudaGetDevice(&device));
  for (const auto& [method, slice] : methods) {
    const std::string method_name =
        method == cuda::GemmAttention::Method::kGemm ? "GEMMs" : "fused kernel, slice " + std::to_string(slice);
    if (method == cuda::GemmAttention::Method::kFused) {
      INFO("head dim " << tc.d << " slice " << slice << ": " << cuda::flash_attention_smem_bytes(tc.d, slice)
                       << " bytes of shared memory");
      // The widest slice must fit the GPUs this project benchmarks on (H100/H200: 227 KB a block).
      if (slice == methods[1].second) REQUIRE(cuda::flash_attention_slice(tc.d, device) == slice);
    }
    cuda::Gemm gemm(stream, cuda::Gemm::kDefaultWorkspaceBytes);
    cuda::GemmAttention attn(rows, static_cast<std::int64_t>(q_row), tc.score_bytes, method, slice);
    auto dq = cuda::upload_bytes(q.data(), q.size() * 4, "q");
    auto dk = cuda::upload_bytes(k.data(), k.size() * 2, "k");
    auto dv = cuda::upload_bytes(v.data(), v.size() * 2, "v");
    cuda::DeviceBuffer out(q.size() * 4, "out");
    attn.run(gemm, {.q = dq.as<float>(), .k = dk.as<__half>(), .v = dv.as<__half>(), .rows = rows,
                    .n_heads = tc.n_heads, .n_kv_heads = tc.n_kv, .d = tc.d, .window = tc.window, .out = out.as<float>()},
             spans, stream);
    QG_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<float> got(q.size());
    out.download(got.data(), got.size() * 4);
    // In place (out = q), as the engine runs it: the same values.
    attn.run(gemm, {.q = dq.as<float>(), .k = dk.as<__half>(), .v = dv.as<__half>(), .rows = rows,
                    .n_heads = tc.n_heads, .n_kv_heads = tc.n_kv, .d = tc.d, .window = tc.window, .out = dq.as<float>()},
             spans, stream);
    QG_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<float> in_place(q.size());
    dq.download(in_place.data(), in_place.size() * 4);
    // bf16 output (the engine's o_proj input): exactly the fp32 output rounded to nearest even.
    dq = cuda::upload_bytes(q.data(), q.size() * 4, "q");
    cuda::DeviceBuffer out16(q.size() * 2, "bf16 out");
    attn.run(gemm, {.q = dq.as<float>(), .k = dk.as<__half>(), .v = dv.as<__half>(), .rows = rows,
                    .n_heads = tc.n_heads, .n_kv_heads = tc.n_kv, .d = tc.d, .window = tc.window, .out = dq.as<float>(),
                    .out_bf16 = out16.as<__nv_bfloat16>()},
             spans, stream);
    QG_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<std::uint16_t> got16(q.size());
    out16.download(got16.data(), got16.size() * 2);
    std::size_t bf16_differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) bf16_differ += got16[i] != f32_to_bf16(got[i]);
    CHECK(bf16_differ == 0);

    // Error budget: Q and P are rounded to fp16 (2^-12 relative on average, 2^-11 at most). With scores of
    // std ~4 a score moves by ~|q||k| 2^-11 ~ 2e-3 at worst, so each probability by ~0.2 %, plus P's own 2^-11;
    // outputs are convex combinations of |v| <= 1, so |error| stays within ~3e-3 — 8e-3 leaves margin, far below
    // what one wrongly visible or hidden key does (O(0.1) on these peaked rows). The mean must be much smaller.
    double max_err = 0, sum_err = 0;
    std::size_t bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double e = std::fabs(static_cast<double>(got[i]) - want[i]);
      if (!(e <= 8e-3)) ++bad;  // NaN counts as bad
      max_err = std::max(max_err, std::isnan(e) ? 1e9 : e);
      sum_err += std::isnan(e) ? 1e9 : e;
      REQUIRE(in_place[i] == got[i]);
    }
    INFO(method_name << ": d " << tc.d << " heads " << tc.n_heads << "/" << tc.n_kv << " window " << tc.window << " rows " << rows
              << ": max |err| " << max_err << ", mean " << sum_err / static_cast<double>(got.size()));
    CHECK(bad == 0);
    CHECK(sum_err / static_cast<double>(got.size()) < 5e-4);
  }
  QG_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace

TEST_CASE("gemm attention: packed spans vs attention_ref, d 64/256/512, windows, GQA", "[gpu]") {
  const std::vector<Seq> seqs = {{37, 0, 0}, {300, 250, 5}, {1, 0, 3}, {129, 64, 0}};  // prefix reuse: first_query > 0
  for (int d : {64, 256, 512})
    for (std::int64_t window : {std::int64_t{0}, std::int64_t{16}, std::int64_t{512}}) {
      run_case({8, 2, d, window, seqs, cuda::GemmAttention::kDefaultScoreBytes}, 17u + static_cast<std::uint32_t>(d + window));
      run_case({4, 4, d, window, seqs, cuda::GemmAttention::kDefaultScoreBytes}, 91u + static_cast<std::uint32_t>(d + window));
    }
}

TEST_CASE("gemm attention: a small score budget splits spans into many query blocks", "[gpu]") {
  // 64 KiB of scores: a few rows per block at 700 keys, so block boundaries cross windows and prefixes.
  const std::vector<Seq> seqs = {{700, 0, 2}, {520, 500, 1}};
  run_case({8, 2, 256, 0, seqs, 64 << 10}, 5);
  run_case({8, 2, 256, 100, seqs, 64 << 10}, 6);
}

TEST_CASE("gemm attention: argument checks", "[gpu]") {
  cudaStream_t stream = nullptr;
  QG_CUDA_CHECK(cudaStreamCreate(&stream));
  {
    cuda::Gemm gemm(stream, cuda::Gemm::kDefaultWorkspaceBytes);
    cuda::GemmAttention attn(4, 64, 1 << 20);
    cuda::DeviceBuffer buf(4096, "buf");
    const cuda::GemmAttentionArgs base{.q = buf.as<float>(), .k = buf.as<__half>(), .v = buf.as<__half>(), .rows = 4,
                                       .n_heads = 4, .n_kv_heads = 2, .d = 16, .window = 0, .out = buf.as<float>()};
    std::vector<cuda::AttentionSpan> spans = {{0, 4, 0, 0}};
    auto bad_d = base;
    bad_d.d = 12;  // not a multiple of 8
    CHECK_THROWS(attn.run(gemm, bad_d, spans, stream));
    auto bad_heads = base;
    bad_heads.n_kv_heads = 3;  // 4 heads do not group over 3
    CHECK_THROWS(attn.run(gemm, bad_heads, spans, stream));
    auto too_many = base;
    too_many.rows = 5;  // the workspace holds 4 rows
    CHECK_THROWS(attn.run(gemm, too_many, spans, stream));
    std::vector<cuda::AttentionSpan> outside = {{2, 4, 0, 0}};  // rows 2..5 of a 4-row step
    CHECK_THROWS(attn.run(gemm, base, outside, stream));
  }
  QG_CUDA_CHECK(cudaStreamDestroy(stream));
}
