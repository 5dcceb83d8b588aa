#include "forward/cpu/linear.h"

#include <algorithm>

#include "common/check.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

void linear(ConstMatrixRef x, ConstMatrixRef w, MatrixRef y, ThreadPool& pool) {
  QG_CHECK(x.cols() == w.cols() && y.rows() == x.rows() && y.cols() == w.rows(),
           "linear: x [{}, {}], w [{}, {}], y [{}, {}]", x.rows(), x.cols(), w.rows(), w.cols(), y.rows(),
           y.cols());
  const std::int64_t m = x.rows(), n = w.rows(), k = x.cols();
  if (m == 0 || n == 0) return;
  if (k == 0) {
    y.setZero();
    return;
  }
  // Below ~256k multiply-adds a thread hand-off costs more than it saves.
  const int threads = pool.size();
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  std::int64_t blocks = work < (1 << 18) ? 1 : std::min<std::int64_t>(4 * threads, (n + 15) / 16);
  const std::int64_t block = ((n + blocks - 1) / blocks + 15) / 16 * 16;  // multiples of 16 rows of w
  blocks = (n + block - 1) / block;
  pool.parallel_for(blocks, [&](std::int64_t b) {
    const std::int64_t n0 = b * block, nb = std::min(block, n - n0);
    y.middleCols(n0, nb).noalias() = x * w.middleRows(n0, nb).transpose();
  });
}

Matrix linear(ConstMatrixRef x, ConstMatrixRef w, ThreadPool& pool) {
  Matrix y(x.rows(), w.rows());
  linear(x, w, y, pool);
  return y;
}

}  // namespace qg::cpu
