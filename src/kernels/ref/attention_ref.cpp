#include "kernels/ref/attention_ref.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "common/check.h"
#include "common/float_formats.h"

namespace qg::cuda::ref {

namespace {

inline double widen(std::uint16_t f16_bits) { return f16_to_f32(f16_bits); }
inline double widen(float x) { return x; }

// KV: std::uint16_t (fp16 bits) or float; both widen exactly to double.
template <typename KV>
std::vector<float> attention_ref_impl(const std::vector<float>& q, const std::vector<KV>& k,
                                      const std::vector<KV>& v, const std::vector<std::int32_t>& position,
                                      const std::vector<std::int64_t>& kv_start, int n_heads, int n_kv_heads,
                                      int d, std::int64_t window) {
  QG_CHECK(n_kv_heads > 0 && n_heads > 0 && n_heads % n_kv_heads == 0 && d > 0,
           "attention_ref: {} heads, {} kv heads, d {}", n_heads, n_kv_heads, d);
  const std::size_t rows = position.size();
  const std::size_t q_stride = static_cast<std::size_t>(n_heads) * d;
  const std::size_t kv_stride = static_cast<std::size_t>(n_kv_heads) * d;
  QG_CHECK(kv_start.size() == rows && q.size() == rows * q_stride,
           "attention_ref: q/position/kv_start sizes");
  QG_CHECK(k.size() == v.size() && k.size() % kv_stride == 0, "attention_ref: k/v sizes");
  const std::int64_t cache_rows = static_cast<std::int64_t>(k.size() / kv_stride);
  const int group = n_heads / n_kv_heads;

  std::vector<float> out(rows * q_stride, 0.0f);
  std::vector<double> scores;
  std::vector<double> acc(static_cast<std::size_t>(d));
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int64_t p = position[r];
    if (p < 0) continue;
    const std::int64_t lo = window > 0 ? std::max<std::int64_t>(0, p - window + 1) : 0;
    QG_CHECK(kv_start[r] >= 0 && kv_start[r] + p < cache_rows, "attention_ref: row {} reads past the cache",
             r);
    scores.resize(static_cast<std::size_t>(p - lo + 1));
    for (int h = 0; h < n_heads; ++h) {
      const float* qh = &q[r * q_stride + static_cast<std::size_t>(h) * d];
      const std::size_t kv_col = static_cast<std::size_t>(h / group) * d;
      auto cache_index = [&](std::int64_t j) {
        return static_cast<std::size_t>(kv_start[r] + j) * kv_stride + kv_col;
      };
      // Pass 1: scores (scale 1.0) and their max.
      double max_score = -INFINITY;
      for (std::int64_t j = lo; j <= p; ++j) {
        const KV* kj = &k[cache_index(j)];
        double s = 0.0;
        for (int c = 0; c < d; ++c) s += static_cast<double>(qh[c]) * widen(kj[c]);
        scores[static_cast<std::size_t>(j - lo)] = s;
        max_score = std::max(max_score, s);
      }
      // Pass 2: normalised probabilities times V.
      double sum = 0.0;
      for (double& s : scores) sum += (s = std::exp(s - max_score));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::int64_t j = lo; j <= p; ++j) {
        const KV* vj = &v[cache_index(j)];
        const double prob = scores[static_cast<std::size_t>(j - lo)] / sum;
        for (int c = 0; c < d; ++c) acc[static_cast<std::size_t>(c)] += prob * widen(vj[c]);
      }
      float* oh = &out[r * q_stride + static_cast<std::size_t>(h) * d];
      for (int c = 0; c < d; ++c) oh[c] = static_cast<float>(acc[static_cast<std::size_t>(c)]);
    }
  }
  return out;
}

}  // namespace

std::vector<float> attention_ref(const std::vector<float>& q, const std::vector<std::uint16_t>& k,
                                 const std::vector<std::uint16_t>& v,
                                 const std::vector<std::int32_t>& position,
                                 const std::vector<std::int64_t>& kv_start, int n_heads, int n_kv_heads,
                                 int d, std::int64_t window) {
  return attention_ref_impl(q, k, v, position, kv_start, n_heads, n_kv_heads, d, window);
}

std::vector<float> attention_ref(const std::vector<float>& q, const std::vector<float>& k,
                                 const std::vector<float>& v, const std::vector<std::int32_t>& position,
                                 const std::vector<std::int64_t>& kv_start, int n_heads, int n_kv_heads,
                                 int d, std::int64_t window) {
  return attention_ref_impl(q, k, v, position, kv_start, n_heads, n_kv_heads, d, window);
}

}  // namespace qg::cuda::ref
