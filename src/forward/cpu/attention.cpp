#include "forward/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

namespace {
// Queries per task: large enough for GEMM efficiency, small enough that a task's score block
// [kQueryBlock, n_keys] stays modest at 128k-token contexts (32 x 131072 floats = 16 MiB).
constexpr std::int64_t kQueryBlock = 32;
}  // namespace

void attention(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, std::int64_t first_position,
               const AttentionShape& s, MatrixRef out, ThreadPool& pool) {
  const std::int64_t n_q = q.rows(), d = s.d_head;
  QG_CHECK(s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0, "{} heads, {} kv heads", s.n_heads,
           s.n_kv_heads);
  QG_CHECK(q.cols() == s.n_heads * d && out.cols() == q.cols() && out.rows() == n_q,
           "attention q/out shapes");
  QG_CHECK(k.cols() == s.n_kv_heads * d && v.cols() == k.cols() && v.rows() == k.rows(),
           "attention k/v shapes");
  QG_CHECK(k.rows() >= first_position + n_q, "{} keys for queries up to position {}", k.rows(),
           first_position + n_q - 1);
  const std::int64_t group = s.n_heads / s.n_kv_heads;
  const std::int64_t n_blocks = (n_q + kQueryBlock - 1) / kQueryBlock;

  pool.parallel_for(s.n_heads * n_blocks, [&](std::int64_t task) {
    const std::int64_t h = task / n_blocks, b = task % n_blocks;
    const std::int64_t g = h / group;
    const std::int64_t i0 = b * kQueryBlock, rows = std::min(kQueryBlock, n_q - i0);
    const std::int64_t p_first = first_position + i0, p_last = p_first + rows - 1;
    // Keys any query of the block can see.
    const std::int64_t j_lo = s.window > 0 ? std::max<std::int64_t>(0, p_first - s.window + 1) : 0;
    const std::int64_t n_keys = p_last - j_lo + 1;

    Matrix scores(rows, n_keys);
    scores.noalias() = q.block(i0, h * d, rows, d) * k.block(j_lo, g * d, n_keys, d).transpose();
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t p = p_first + r;
      const std::int64_t lo = (s.window > 0 ? std::max<std::int64_t>(0, p - s.window + 1) : 0) - j_lo;
      const std::int64_t hi = p - j_lo;  // inclusive
      float* row = scores.row(r).data();
      double max_score = -std::numeric_limits<double>::infinity();
      for (std::int64_t j = lo; j <= hi; ++j) max_score = std::max<double>(max_score, row[j]);
      double sum = 0.0;
      // Probabilities in double, rounded once; masked keys get exactly 0 (transformers adds the fp32
      // minimum to them, whose exp underflows to 0).
      thread_local std::vector<double> e;
      e.resize(static_cast<std::size_t>(hi - lo + 1));
      for (std::int64_t j = lo; j <= hi; ++j)
        sum += (e[static_cast<std::size_t>(j - lo)] = std::exp(row[j] - max_score));
      for (std::int64_t j = 0; j < n_keys; ++j)
        row[j] = (j < lo || j > hi) ? 0.0f : static_cast<float>(e[static_cast<std::size_t>(j - lo)] / sum);
    }
    out.block(i0, h * d, rows, d).noalias() = scores * v.block(j_lo, g * d, n_keys, d);
  });
}

}  // namespace qg::cpu
