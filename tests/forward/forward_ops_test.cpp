// The CPU reference's building blocks against formulas written out independently (in double), each
// on the detail a naive implementation gets wrong (gemma4-text.md §15).
#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "forward/cpu/attention.h"
#include "forward/cpu/embedding.h"
#include "forward/cpu/linear.h"
#include "forward/cpu/mlp.h"
#include "forward/cpu/moe.h"
#include "forward/cpu/norms.h"
#include "forward/cpu/rope.h"
#include "forward/cpu/thread_pool.h"

using namespace qg;
using namespace qg::cpu;

namespace {
// |got - want| <= rel * |want| + abs; the values are printed when it fails.
#define CHECK_NEAR(got, want, rel, abs_tol)                               \
  do {                                                                    \
    const double got_ = (got), want_ = (want);                            \
    INFO(#got " = " << got_ << ", expected " << want_);                   \
    CHECK(std::fabs(got_ - want_) <= (rel)*std::fabs(want_) + (abs_tol)); \
  } while (0)

Matrix random_matrix(std::int64_t rows, std::int64_t cols, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}
}  // namespace

TEST_CASE("forward ops: RMSNorm scales by w (not 1 + w); v_norm/router norm have no weight", "[forward]") {
  const float x[4] = {3, 4, -3, -4};  // mean square 12.5
  const float w[4] = {2, 0.5f, 1, 0};
  float y[4];
  rms_norm(x, 1, 4, w, 1e-6, y);
  const double inv = 1.0 / std::sqrt(12.5 + 1e-6);
  CHECK_NEAR(y[0], 3 * inv * 2, 1e-7, 0.0);
  CHECK_NEAR(y[1], 4 * inv * 0.5, 1e-7, 0.0);
  CHECK(y[3] == 0.0f);                  // w = 0 zeroes the channel; 1 + w would keep it
  rms_norm(x, 2, 2, nullptr, 1e-6, y);  // two rows of two: each normalised on its own
  CHECK_NEAR(y[0], 3 / std::sqrt(12.5 + 1e-6), 1e-7, 0.0);
  CHECK_NEAR(y[2], -3 / std::sqrt(12.5 + 1e-6), 1e-7, 0.0);
}

TEST_CASE("forward ops: embed scale follows transformers' dtype rule (gemma4-text.md §4 table)",
          "[forward]") {
  struct Row {
    std::int64_t d;
    double f32, bf16, f16;
  };
  for (const Row& r :
       {Row{1536, 39.191836, 39.25, 39.1875}, Row{2560, 50.596443, 50.5, 50.59375},
        Row{2816, 53.065997, 53.0, 53.0625}, Row{5376, 73.321211, 73.5, 73.3125}, Row{256, 16, 16, 16}}) {
    INFO("d " << r.d);
    CHECK_NEAR(embed_scale(r.d, DType::kF32), r.f32, 1e-7, 0.0);
    CHECK(embed_scale(r.d, DType::kBF16) == r.bf16);
    CHECK(embed_scale(r.d, DType::kF16) == r.f16);
  }
}

TEST_CASE("forward ops: gelu_pytorch_tanh", "[forward]") {
  CHECK(gelu_tanh(0.0f) == 0.0f);
  CHECK_NEAR(gelu_tanh(1.0f), 0.8411919906, 1e-7, 0.0);
  CHECK_NEAR(gelu_tanh(-1.0f), -0.1588080094, 1e-6, 0.0);
  CHECK_NEAR(gelu_tanh(3.0f), 2.9963626, 1e-7, 0.0);
}

TEST_CASE("forward ops: RoPE frequencies, default and proportional", "[forward]") {
  const auto sliding = rope_inv_freq({"default", 10000.0, 1.0}, 256);
  REQUIRE(sliding.size() == 128);
  for (std::size_t j : {0u, 1u, 64u, 127u})
    CHECK_NEAR(sliding[j], std::pow(10000.0, -2.0 * j / 256), 1e-6, 0.0);

  // Proportional, d = 512, factor 0.25: 64 rotating pairs with exponent 2j/512 (NOT 2j/128), then zeros.
  const auto full = rope_inv_freq({"proportional", 1e6, 0.25}, 512);
  REQUIRE(full.size() == 256);
  for (std::size_t j : {0u, 1u, 33u, 63u}) CHECK_NEAR(full[j], std::pow(1e6, -2.0 * j / 512), 1e-6, 0.0);
  for (std::size_t j = 64; j < 256; ++j) CHECK(full[j] == 0.0f);
}

TEST_CASE("forward ops: RoPE pairs channel j with j + d/2 and leaves zero-frequency channels alone",
          "[forward]") {
  const std::int64_t d = 8, p = 5;
  const auto f = rope_inv_freq({"proportional", 100.0, 0.5}, d);  // 2 of 4 pairs rotate
  const RopeTable t = make_rope_table(f, p, 1);
  std::vector<float> x = {1, 2, 3, 4, 10, 20, 30, 40};
  apply_rope(x.data(), 1, t);
  for (int j = 0; j < 2; ++j) {
    const double angle = double(p) * f[j], a = j + 1, b = (j + 1) * 10;
    CHECK_NEAR(x[j], a * std::cos(angle) - b * std::sin(angle), 1e-6, 0.0);
    CHECK_NEAR(x[j + 4], b * std::cos(angle) + a * std::sin(angle), 1e-6, 0.0);
  }
  CHECK(x[2] == 3.0f);  // cos 0 = 1, sin 0 = 0: exact
  CHECK(x[3] == 4.0f);
  CHECK(x[6] == 30.0f);
  CHECK(x[7] == 40.0f);
}

// With all scores equal, a query's output is the mean of the values it sees: v_j = j gives the mean
// visible position, p - (W - 1) / 2 for a window W fully inside the sequence. The inclusive-bound mistake
// (i - j <= W) would give p - W / 2.
TEST_CASE("forward ops: sliding window is exclusive (a query sees itself and W-1 earlier keys)",
          "[forward]") {
  const std::int64_t n = 20, W = 8;
  Matrix q = Matrix::Zero(n, 1), k = Matrix::Zero(n, 1), v(n, 1);
  for (std::int64_t j = 0; j < n; ++j) v(j, 0) = static_cast<float>(j);
  Matrix out(n, 1);
  ThreadPool serial(1);
  attention(q, k, v, 0, AttentionShape{1, 1, 1, W}, out, serial);
  for (std::int64_t p = 0; p < n; ++p) {
    const double lo = std::max<std::int64_t>(0, p - W + 1);
    CHECK_NEAR(out(p, 0), (lo + p) / 2.0, 1e-6, 0.0);
  }
  attention(q, k, v, 0, AttentionShape{1, 1, 1, 0}, out, serial);  // full causal
  for (std::int64_t p = 0; p < n; ++p) CHECK_NEAR(out(p, 0), p / 2.0, 1e-6, 0.0);
}

TEST_CASE("forward ops: attention equals a double-precision reference (GQA, window, prefix offset)",
          "[forward]") {
  const std::int64_t n_heads = 4, n_kv = 2, d = 8, p0 = 11, n_q = 37;  // > one 32-query block
  const std::int64_t window = GENERATE(0, 5);
  const Matrix q = random_matrix(n_q, n_heads * d, 1), k = random_matrix(p0 + n_q, n_kv * d, 2),
               v = random_matrix(p0 + n_q, n_kv * d, 3);
  Matrix out(n_q, n_heads * d);
  ThreadPool pool(3);
  attention(q, k, v, p0, AttentionShape{n_heads, n_kv, d, window}, out, pool);
  double worst = 0;
  for (std::int64_t i = 0; i < n_q; ++i)
    for (std::int64_t h = 0; h < n_heads; ++h) {
      const std::int64_t g = h / (n_heads / n_kv), p = p0 + i;
      std::vector<double> s;
      std::vector<std::int64_t> js;
      for (std::int64_t j = 0; j <= p; ++j) {
        if (window > 0 && p - j >= window) continue;
        double dot = 0;  // scale 1.0: no 1/sqrt(d)
        for (std::int64_t c = 0; c < d; ++c) dot += double(q(i, h * d + c)) * k(j, g * d + c);
        s.push_back(dot);
        js.push_back(j);
      }
      const double m = *std::max_element(s.begin(), s.end());
      double z = 0;
      for (double& x : s) z += (x = std::exp(x - m));
      for (std::int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (std::size_t t = 0; t < js.size(); ++t) o += s[t] / z * v(js[t], g * d + c);
        worst = std::max(worst, std::fabs(o - out(i, h * d + c)));
      }
    }
  INFO("window " << window);
  CHECK(worst <= 1e-5);
}

TEST_CASE("forward ops: linear equals a naive product for ragged shapes and any thread count", "[forward]") {
  const std::int64_t m = GENERATE(1, 5, 33), n = GENERATE(1, 17, 300), k = 37;
  const Matrix x = random_matrix(m, k, 4), w = random_matrix(n, k, 5);
  Matrix y1(m, n), y3(m, n);
  ThreadPool serial(1), pool(3);
  linear(x, w, y1, serial);
  linear(x, w, y3, pool);
  double worst = 0;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t o = 0; o < n; ++o) {
      double dot = 0;
      for (std::int64_t c = 0; c < k; ++c) dot += double(x(i, c)) * w(o, c);
      worst = std::max({worst, std::fabs(dot - y1(i, o)), std::fabs(dot - y3(i, o))});
    }
  CHECK(worst <= 1e-4);  // |dot| ~ 6, k = 37 fp32 products
}

// Router: softmax over all experts -> top-k -> renormalise -> * per_expert_scale (after the
// renormalisation, so the weights need not sum to 1).
TEST_CASE("forward ops: MoE routing and experts equal the spelled-out formula", "[forward]") {
  const std::int64_t d_model = 6, n_experts = 5, top_k = 2, d_expert = 3, n = 4;
  const Matrix r = random_matrix(n, d_model, 6), proj = random_matrix(n_experts, d_model, 7);
  std::vector<float> scale(d_model), per_expert(n_experts);
  for (std::int64_t j = 0; j < d_model; ++j) scale[j] = 0.5f + 0.25f * j;
  for (std::int64_t e = 0; e < n_experts; ++e) per_expert[e] = 0.6f + 0.3f * e;
  ThreadPool pool(2);
  const Routing routing = route(r, scale.data(), proj, per_expert.data(), top_k, 1e-6, pool);
  const Matrix gate_up = random_matrix(n_experts * 2 * d_expert, d_model, 8),
               down = random_matrix(n_experts * d_model, d_expert, 9);
  const Matrix out = experts(r, routing, gate_up.data(), down.data(), n_experts, d_expert, pool);

  for (std::int64_t t = 0; t < n; ++t) {
    INFO("token " << t);
    double ms = 0;
    for (std::int64_t j = 0; j < d_model; ++j) ms += double(r(t, j)) * r(t, j);
    const double inv = 1.0 / std::sqrt(ms / d_model + 1e-6);
    std::vector<double> logit(n_experts);
    for (std::int64_t e = 0; e < n_experts; ++e)
      for (std::int64_t j = 0; j < d_model; ++j)
        logit[e] += proj(e, j) * (r(t, j) * inv * scale[j] / std::sqrt(6.0));
    std::vector<std::int64_t> order = {0, 1, 2, 3, 4};
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return logit[a] > logit[b]; });
    double z = 0;
    for (double l : logit) z += std::exp(l);
    const double p0 = std::exp(logit[order[0]]) / z, p1 = std::exp(logit[order[1]]) / z;
    const double w0 = p0 / (p0 + p1) * per_expert[order[0]], w1 = p1 / (p0 + p1) * per_expert[order[1]];
    REQUIRE(routing.expert[t * 2] == order[0]);
    REQUIRE(routing.expert[t * 2 + 1] == order[1]);
    CHECK_NEAR(routing.weight[t * 2], w0, 1e-5, 0.0);
    CHECK_NEAR(routing.weight[t * 2 + 1], w1, 1e-5, 0.0);

    for (std::int64_t c = 0; c < d_model; ++c) {
      double want = 0;
      for (int k = 0; k < 2; ++k) {
        const std::int64_t e = order[k];
        double y = 0;
        for (std::int64_t i = 0; i < d_expert; ++i) {
          double g = 0, u = 0;  // rows [gate; up] of expert e
          for (std::int64_t j = 0; j < d_model; ++j) {
            g += gate_up(e * 2 * d_expert + i, j) * double(r(t, j));
            u += gate_up(e * 2 * d_expert + d_expert + i, j) * double(r(t, j));
          }
          y += down(e * d_model + c, i) * (gelu_tanh(static_cast<float>(g)) * u);
        }
        want += (k == 0 ? w0 : w1) * y;
      }
      CHECK_NEAR(out(t, c), want, 1e-4, 1e-5);
    }
  }
}

TEST_CASE("forward ops: the thread pool runs every index once, nests inline and rethrows", "[forward]") {
  ThreadPool pool(3);
  for (int round = 0; round < 50; ++round) {  // jobs back to back: late workers must not touch a new job
    std::vector<std::atomic<int>> hits(101);
    pool.parallel_for(101, [&](std::int64_t i) {
      hits[static_cast<std::size_t>(i)]++;
      pool.parallel_for(3, [&](std::int64_t) {});  // nested: inline, no deadlock
    });
    for (const auto& h : hits) REQUIRE(h.load() == 1);
  }
  CHECK_THROWS_AS(pool.parallel_for(10,
                                    [](std::int64_t i) {
                                      if (i == 7) throw qg::Error("task 7");
                                    }),
                  qg::Error);
  std::atomic<int> after{0};
  pool.parallel_for(10, [&](std::int64_t) { after++; });  // still usable after an exception
  CHECK(after.load() == 10);
}
