#include "kernels/ref/moe_ref.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace qg::cuda::ref {

std::vector<float> router_input_ref(const std::vector<float>& x, const std::vector<float>& scale, std::int64_t rows,
                                    std::int64_t width, float eps, float root_size) {
  if (static_cast<std::int64_t>(x.size()) != rows * width || static_cast<std::int64_t>(scale.size()) != width)
    throw Error("router_input_ref: shapes");
  std::vector<float> z(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * width;
    float* zr = z.data() + r * width;
    double sum_sq = 0.0;  // forward/cpu/norms.cpp: mean of squares in double, in index order
    for (std::int64_t j = 0; j < width; ++j) sum_sq += static_cast<double>(xr[j]) * xr[j];
    const auto inv_rms =
        static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(width) + static_cast<double>(eps)));
    for (std::int64_t j = 0; j < width; ++j) {
      const float normed = xr[j] * inv_rms;  // one fp32 rounding per product, as route() evaluates them
      const float scaled = normed * scale[static_cast<std::size_t>(j)];
      zr[j] = scaled * root_size;
    }
  }
  return z;
}

TopKRouting router_top_k_ref(const std::vector<float>& logits, std::int64_t rows, int n_experts, int k,
                             const std::vector<float>& per_expert_scale) {
  if (k < 1 || k > n_experts || static_cast<std::int64_t>(logits.size()) != rows * n_experts ||
      static_cast<int>(per_expert_scale.size()) != n_experts)
    throw Error(fmt::format("router_top_k_ref: bad shapes (k {}, n_experts {})", k, n_experts));
  TopKRouting out;
  out.expert.resize(static_cast<std::size_t>(rows * k));
  out.weight.resize(out.expert.size());
  std::vector<std::int32_t> order(static_cast<std::size_t>(n_experts));
  for (std::int64_t t = 0; t < rows; ++t) {
    const float* l = logits.data() + t * n_experts;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](std::int32_t a, std::int32_t b) { return l[a] != l[b] ? l[a] > l[b] : a < b; });
    const double max_logit = l[order[0]];
    double sum = 0.0;
    for (int i = 0; i < k; ++i) sum += std::exp(l[order[static_cast<std::size_t>(i)]] - max_logit);
    for (int i = 0; i < k; ++i) {
      const std::int32_t e = order[static_cast<std::size_t>(i)];
      const auto w = static_cast<float>(std::exp(l[e] - max_logit) / sum);
      out.expert[static_cast<std::size_t>(t * k + i)] = e;
      out.weight[static_cast<std::size_t>(t * k + i)] = w * per_expert_scale[static_cast<std::size_t>(e)];
    }
  }
  return out;
}

std::vector<std::uint16_t> gather_rows_ref(const std::vector<std::uint16_t>& src, std::int64_t width,
                                           const std::vector<std::int32_t>& index) {
  const auto src_rows = static_cast<std::int64_t>(src.size()) / width;
  std::vector<std::uint16_t> dst(index.size() * static_cast<std::size_t>(width));
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= src_rows) throw Error(fmt::format("gather_rows_ref: index {} out of range", index[i]));
    std::copy_n(src.begin() + index[i] * width, width, dst.begin() + static_cast<std::int64_t>(i) * width);
  }
  return dst;
}

std::vector<float> scatter_add_rows_ref(const std::vector<float>& src, std::int64_t width,
                                        const std::vector<std::int32_t>& index, const std::vector<float>& weight,
                                        std::vector<float> dst) {
  const auto dst_rows = static_cast<std::int64_t>(dst.size()) / width;
  if (weight.size() != index.size() || src.size() != index.size() * static_cast<std::size_t>(width))
    throw Error("scatter_add_rows_ref: shapes");
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= dst_rows) throw Error(fmt::format("scatter_add_rows_ref: index {} out of range", index[i]));
    for (std::int64_t j = 0; j < width; ++j) {
      // Two statements: the product is rounded to fp32 before the add (no FMA contraction across them
      // under -std=c++20, and clang's default contracts only within one expression).
      const float product = src[i * static_cast<std::size_t>(width) + static_cast<std::size_t>(j)] * weight[i];
      float& d = dst[static_cast<std::size_t>(index[i] * width + j)];
      d = d + product;
    }
  }
  return dst;
}

}  // namespace qg::cuda::ref
