// Batch invariance of the engine's GEMMs (forward/cuda/gemm.h, issue 8): with the cuBLASLt algorithm pinned per
// (N, K), a row's output is the same bits whether the GEMM has 1 row or 2048, and wherever the row sits among them.
// Checked on the shapes of a real Gemma 4 E4B (tests/fixtures/configs/gemma4_e4b.json: d_model 2560, MLP 10240,
// 8 x 256 query heads, 2 x 256 kv heads, full layers 512 wide heads, per-layer inputs 42 x 256, vocab 262,144),
// with random bf16 inputs generated on the GPU. Equality is exact (memcmp), there is no tolerance: that is the
// property. A few rows are also checked against a double-precision host product, to show the pinned call
// computes the right GEMM (bound: fp32 accumulation of K products, |err| <= K * 2^-23 * sum |x w|, ~2x the
// textbook gamma_K bound's first-order term).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "catch.h"
#include "common/float_formats.h"
#include "forward/cuda/gemm.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"
#include "kernels/synthetic_kernels.cuh"

using namespace qg;

namespace {

struct Shape {
  const char* what;
  std::int64_t n, k, max_rows;
};

template <typename T>
std::vector<T> download(const cuda::DeviceBuffer& b, std::size_t count, std::size_t offset = 0) {
  std::vector<T> h(count);
  QG_CUDA_CHECK(cudaMemcpy(h.data(), b.as<T>() + offset, count * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// y[rows, n] of the pinned GEMM over rows [first, first + rows) of x; alpha/beta as the engine's hi + lo pair.
std::vector<float> run_rows(const cuda::Gemm& gemm, const cuda::DeviceBuffer& x, const cuda::DeviceBuffer& w,
                            cuda::DeviceBuffer& y, const Shape& s, std::int64_t first, std::int64_t rows,
                            bool accumulate, cudaStream_t stream) {
  QG_CUDA_CHECK(cudaMemsetAsync(y.get(), 0, y.bytes(), stream));
  if (accumulate)  // y starts at a known non-zero value so beta = 1 matters
    cuda::fill_uniform_f32(y.as<float>(), rows * s.n, 99, -1.0f, 1.0f, stream);
  gemm.bf16(x.as<__nv_bfloat16>() + first * s.k, w.as<__nv_bfloat16>(), y.as<float>(), rows, s.n, s.k, 1.0f,
            accumulate ? 1.0f : 0.0f);
  QG_CUDA_CHECK(cudaStreamSynchronize(stream));
  return download<float>(y, static_cast<std::size_t>(rows * s.n));
}

}  // namespace

TEST_CASE("pinned GEMMs: a row's output does not depend on the other rows of the GEMM", "[gpu]") {
  cudaStream_t stream = nullptr;
  QG_CUDA_CHECK(cudaStreamCreate(&stream));
  {
    constexpr std::int64_t kReferenceRows = 2048;  // the engine's default --max-batch-tokens
    cuda::Gemm gemm(stream, cuda::Gemm::kDefaultWorkspaceBytes, kReferenceRows);
    const Shape shapes[] = {
        {"q (sliding)", 2048, 2560, 2048},  {"k/v", 512, 2560, 2048},    {"q (full)", 4096, 2560, 2048},
        {"o (sliding)", 2560, 2048, 2048},  {"gate/up", 10240, 2560, 2048}, {"down", 2560, 10240, 2048},
        {"per-layer inputs", 10752, 2560, 2048}, {"head", 262144, 2560, 512},
    };
    for (const Shape& s : shapes) {
      cuda::DeviceBuffer x(static_cast<std::size_t>(s.max_rows * s.k) * 2, "x");
      cuda::DeviceBuffer w(static_cast<std::size_t>(s.n * s.k) * 2, "w");
      cuda::DeviceBuffer y(static_cast<std::size_t>(s.max_rows * s.n) * 4, "y");
      cuda::fill_uniform_bf16(x.as<__nv_bfloat16>(), s.max_rows * s.k, 1, -1.0f, 1.0f, stream);
      cuda::fill_uniform_bf16(w.as<__nv_bfloat16>(), s.n * s.k, 2, -0.05f, 0.05f, stream);
      for (bool accumulate : {false, true}) {
        const std::vector<float> all = run_rows(gemm, x, w, y, s, 0, s.max_rows, accumulate, stream);
        INFO(fmt::format("{} N {} K {} beta {}: {}", s.what, s.n, s.k, accumulate ? 1 : 0,
                         gemm.pinned_algorithm(s.n, s.k)));
        // Row counts around tile sizes and the engine's typical partial steps, at aligned and odd offsets.
        const std::int64_t firsts[] = {0, 1, 37, 64, 129};
        const std::int64_t counts[] = {1, 2, 7, 64, 100, 127, 300};
        for (std::int64_t first : firsts)
          for (std::int64_t rows : counts) {
            if (first + rows > s.max_rows) continue;
            const std::vector<float> part = run_rows(gemm, x, w, y, s, first, rows, accumulate, stream);
            // With beta = 1 each run starts from the same y values only for row 0: compare like with like.
            if (accumulate && first != 0) continue;
            const float* want = all.data() + first * s.n;
            INFO(fmt::format("rows [{}, {})", first, first + rows));
            CHECK(std::memcmp(part.data(), want, part.size() * sizeof(float)) == 0);
          }
        if (!accumulate) {
          // The pinned call computes the right product: a few rows against a double host GEMM.
          const auto hx = download<std::uint16_t>(x, static_cast<std::size_t>(3 * s.k));
          for (std::int64_t r = 0; r < 3; ++r)
            for (std::int64_t col : {std::int64_t{0}, s.n / 2 + 1, s.n - 1}) {
              const auto hw = download<std::uint16_t>(w, static_cast<std::size_t>(s.k), static_cast<std::size_t>(col * s.k));
              double dot = 0, mag = 0;
              for (std::int64_t i = 0; i < s.k; ++i) {
                const double p = double(bf16_to_f32(hx[static_cast<std::size_t>(r * s.k + i)])) * bf16_to_f32(hw[static_cast<std::size_t>(i)]);
                dot += p;
                mag += std::fabs(p);
              }
              const double got = all[static_cast<std::size_t>(r * s.n + col)];
              CHECK(std::fabs(got - dot) <= static_cast<double>(s.k) * std::ldexp(1.0, -23) * mag);
            }
        }
      }
    }
    // bf16 output (the fast MLP's one [gate; up] GEMM, N = 2 x 10240): pinned per (N, K, output type) the same way,
    // and each value is the bf16 rounding of an fp32 sum: within half a bf16 ulp (2^-9 relative) of that sum, which
    // is within the fp32 bound above of the double product.
    {
      const Shape gu{"gate|up, bf16 out", 20480, 2560, 2048};
      cuda::DeviceBuffer x(static_cast<std::size_t>(gu.max_rows * gu.k) * 2, "x");
      cuda::DeviceBuffer w(static_cast<std::size_t>(gu.n * gu.k) * 2, "w");
      cuda::DeviceBuffer y(static_cast<std::size_t>(gu.max_rows * gu.n) * 2, "y");
      cuda::fill_uniform_bf16(x.as<__nv_bfloat16>(), gu.max_rows * gu.k, 5, -1.0f, 1.0f, stream);
      cuda::fill_uniform_bf16(w.as<__nv_bfloat16>(), gu.n * gu.k, 6, -0.05f, 0.05f, stream);
      auto rows_of = [&](std::int64_t first, std::int64_t rows) {
        QG_CUDA_CHECK(cudaMemsetAsync(y.get(), 0, y.bytes(), stream));
        gemm.bf16_to_bf16(x.as<__nv_bfloat16>() + first * gu.k, w.as<__nv_bfloat16>(), y.as<__nv_bfloat16>(), rows,
                          gu.n, gu.k);
        QG_CUDA_CHECK(cudaStreamSynchronize(stream));
        return download<std::uint16_t>(y, static_cast<std::size_t>(rows * gu.n));
      };
      const auto all = rows_of(0, gu.max_rows);
      INFO(gemm.pinned_algorithm(gu.n, gu.k, false, true));
      for (std::int64_t first : {0, 1, 37, 129})
        for (std::int64_t rows : {1, 7, 64, 300}) {
          const auto part = rows_of(first, rows);
          INFO(fmt::format("rows [{}, {})", first, first + rows));
          CHECK(std::memcmp(part.data(), all.data() + first * gu.n, part.size() * 2) == 0);
        }
      const auto hx = download<std::uint16_t>(x, static_cast<std::size_t>(3 * gu.k));
      for (std::int64_t r = 0; r < 3; ++r)
        for (std::int64_t col : {std::int64_t{0}, gu.n / 2 + 1, gu.n - 1}) {
          const auto hw = download<std::uint16_t>(w, static_cast<std::size_t>(gu.k), static_cast<std::size_t>(col * gu.k));
          double dot = 0, mag = 0;
          for (std::int64_t i = 0; i < gu.k; ++i) {
            const double p = double(bf16_to_f32(hx[static_cast<std::size_t>(r * gu.k + i)])) * bf16_to_f32(hw[static_cast<std::size_t>(i)]);
            dot += p;
            mag += std::fabs(p);
          }
          const double sum_bound = static_cast<double>(gu.k) * std::ldexp(1.0, -23) * mag;
          const double got = bf16_to_f32(all[static_cast<std::size_t>(r * gu.n + col)]);
          CHECK(std::fabs(got - dot) <= sum_bound + std::ldexp(std::fabs(dot) + sum_bound, -9));
        }
    }
    // fp32 inputs (the MoE router): pinned the same way.
    const Shape router{"router", 128, 2560, 512};
    cuda::DeviceBuffer x(static_cast<std::size_t>(router.max_rows * router.k) * 4, "x");
    cuda::DeviceBuffer w(static_cast<std::size_t>(router.n * router.k) * 4, "w");
    cuda::DeviceBuffer y(static_cast<std::size_t>(router.max_rows * router.n) * 4, "y");
    cuda::fill_uniform_f32(x.as<float>(), router.max_rows * router.k, 3, -1.0f, 1.0f, stream);
    cuda::fill_uniform_f32(w.as<float>(), router.n * router.k, 4, -0.05f, 0.05f, stream);
    auto f32_rows = [&](std::int64_t first, std::int64_t rows) {
      gemm.f32(x.as<float>() + first * router.k, w.as<float>(), y.as<float>(), rows, router.n, router.k);
      QG_CUDA_CHECK(cudaStreamSynchronize(stream));
      return download<float>(y, static_cast<std::size_t>(rows * router.n));
    };
    const std::vector<float> all = f32_rows(0, router.max_rows);
    for (std::int64_t first : {0, 5, 200})
      for (std::int64_t rows : {1, 3, 64, 250}) {
        const std::vector<float> part = f32_rows(first, rows);
        INFO(fmt::format("router rows [{}, {}): {}", first, first + rows, gemm.pinned_algorithm(router.n, router.k, true)));
        CHECK(std::memcmp(part.data(), all.data() + first * router.n, part.size() * sizeof(float)) == 0);
      }
  }
  QG_CUDA_CHECK(cudaStreamDestroy(stream));
}
