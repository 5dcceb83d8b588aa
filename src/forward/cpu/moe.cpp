#include "forward/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/check.h"
#include "forward/cpu/linear.h"
#include "forward/cpu/mlp.h"
#include "forward/cpu/norms.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

Routing route(ConstMatrixRef r, const float* router_scale, ConstMatrixRef router_proj,
              const float* per_expert_scale, std::int64_t top_k, double eps, ThreadPool& pool) {
  const std::int64_t n = r.rows(), d_model = r.cols(), n_experts = router_proj.rows();
  QG_CHECK(router_proj.cols() == d_model && top_k >= 1 && top_k <= n_experts, "router shapes");
  // Python's hidden_size**-0.5, multiplied into an fp32 tensor as an fp32 scalar.
  const auto root_size = static_cast<float>(std::pow(static_cast<double>(d_model), -0.5));
  Matrix z(n, d_model);
  for (std::int64_t t = 0; t < n; ++t) {
    rms_norm(r.data() + t * r.outerStride(), 1, d_model, nullptr, eps, &z(t, 0));
    for (std::int64_t j = 0; j < d_model; ++j) z(t, j) = (z(t, j) * router_scale[j]) * root_size;
  }
  const Matrix logits = linear(z, router_proj, pool);

  Routing out;
  out.top_k = top_k;
  out.expert.resize(static_cast<std::size_t>(n * top_k));
  out.weight.resize(out.expert.size());
  std::vector<std::int32_t> order(static_cast<std::size_t>(n_experts));
  for (std::int64_t t = 0; t < n; ++t) {
    const float* l = &logits(t, 0);
    std::iota(order.begin(), order.end(), 0);
    // Softmax is monotonic, so the top-k of the probabilities is the top-k of the logits.
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(),
                      [&](std::int32_t a, std::int32_t b) { return l[a] != l[b] ? l[a] > l[b] : a < b; });
    const double max_logit = l[order[0]];
    double sum = 0.0;
    for (std::int64_t k = 0; k < top_k; ++k)
      sum += std::exp(l[order[static_cast<std::size_t>(k)]] - max_logit);
    for (std::int64_t k = 0; k < top_k; ++k) {
      const std::int32_t e = order[static_cast<std::size_t>(k)];
      const auto w = static_cast<float>(std::exp(l[e] - max_logit) / sum);
      out.expert[static_cast<std::size_t>(t * top_k + k)] = e;
      out.weight[static_cast<std::size_t>(t * top_k + k)] = w * per_expert_scale[e];
    }
  }
  return out;
}

namespace {
// Tokens per pass; bounds the per-(token, expert) output buffer to [kTokenChunk * top_k, d_model].
constexpr std::int64_t kTokenChunk = 512;
}  // namespace

Matrix experts(ConstMatrixRef u, const Routing& routing, const float* gate_up, const float* down,
               std::int64_t n_experts, std::int64_t d_expert, ThreadPool& pool) {
  const std::int64_t n = u.rows(), d_model = u.cols(), top_k = routing.top_k;
  QG_CHECK(static_cast<std::int64_t>(routing.expert.size()) == n * top_k, "routing of {} tokens", n);
  Matrix out = Matrix::Zero(n, d_model);
  for (std::int64_t t0 = 0; t0 < n; t0 += kTokenChunk) {
    const std::int64_t nt = std::min(kTokenChunk, n - t0);
    // slots[e]: the (token, k) slots routed to expert e.
    std::vector<std::vector<std::int64_t>> slots(static_cast<std::size_t>(n_experts));
    for (std::int64_t s = t0 * top_k; s < (t0 + nt) * top_k; ++s) {
      const std::int32_t e = routing.expert[static_cast<std::size_t>(s)];
      QG_CHECK(e >= 0 && e < n_experts, "expert {}", e);
      slots[static_cast<std::size_t>(e)].push_back(s);
    }
    Matrix y(nt * top_k, d_model);  // row s - t0*top_k: weighted output of slot s
    pool.parallel_for(n_experts, [&](std::int64_t e) {
      const auto& es = slots[static_cast<std::size_t>(e)];
      if (es.empty()) return;
      const auto m = static_cast<std::int64_t>(es.size());
      Matrix x(m, d_model);
      for (std::int64_t i = 0; i < m; ++i) x.row(i) = u.row(es[static_cast<std::size_t>(i)] / top_k);
      const ConstMatrixMap w_gate_up(gate_up + e * 2 * d_expert * d_model, 2 * d_expert, d_model);
      const ConstMatrixMap w_down(down + e * d_model * d_expert, d_model, d_expert);
      Matrix gu = linear(x, w_gate_up, pool);
      Matrix act = gu.leftCols(d_expert);
      gelu_tanh_mul(act, gu.rightCols(d_expert));
      const Matrix ye = linear(act, w_down, pool);
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int64_t s = es[static_cast<std::size_t>(i)];
        y.row(s - t0 * top_k) = ye.row(i) * routing.weight[static_cast<std::size_t>(s)];
      }
    });
    // Sum each token's slots in ascending expert order, starting from zero, as index_add_ does.
    std::vector<std::int64_t> k_order(static_cast<std::size_t>(top_k));
    for (std::int64_t t = t0; t < t0 + nt; ++t) {
      std::iota(k_order.begin(), k_order.end(), 0);
      std::sort(k_order.begin(), k_order.end(), [&](std::int64_t a, std::int64_t b) {
        return routing.expert[static_cast<std::size_t>(t * top_k + a)] <
               routing.expert[static_cast<std::size_t>(t * top_k + b)];
      });
      for (std::int64_t k : k_order) out.row(t) += y.row((t - t0) * top_k + k);
    }
  }
  return out;
}

}  // namespace qg::cpu
