#include "forward/cpu/embedding.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "forward/cpu/linear.h"
#include "forward/cpu/thread_pool.h"

namespace qg::cpu {

namespace {
// Rounds a positive normal fp32 value to `mantissa_bits` explicit bits, ties to even (torch's cast).
float round_mantissa(float v, int mantissa_bits) {
  int exponent = 0;
  std::frexp(v, &exponent);  // v = m * 2^exponent, m in [0.5, 1)
  const double ulp = std::ldexp(1.0, exponent - 1 - mantissa_bits);
  return static_cast<float>(std::nearbyint(v / ulp) * ulp);
}
}  // namespace

float embed_scale(std::int64_t dim, DType activation_dtype) {
  const auto s = static_cast<float>(std::sqrt(static_cast<double>(dim)));  // torch.tensor(dim**0.5): fp32
  switch (activation_dtype) {
    case DType::kF32:
      return s;
    case DType::kBF16:
      return round_mantissa(s, 7);
    case DType::kF16:
      return round_mantissa(s, 10);
    default:
      QG_CHECK(false, "embed_scale for activation dtype {}", dtype_name(activation_dtype));
  }
  return s;
}

Matrix embed(const TableRows& table, TokenSpan ids, float scale) {
  Matrix x(static_cast<Eigen::Index>(ids.size()), table.cols());
  table.gather(ids, x.data());
  x *= scale;
  return x;
}

namespace {
constexpr std::int64_t kVocabSlab = 2048;  // rows of the table widened at once (2048 x 2560 fp32 = 20 MiB)
}  // namespace

void lm_head(ConstMatrixRef h, const TableRows& table, std::optional<double> softcap, MatrixRef logits,
             ThreadPool& pool) {
  const std::int64_t n_vocab = table.rows(), d_model = table.cols();
  QG_CHECK(h.cols() == d_model && logits.rows() == h.rows() && logits.cols() == n_vocab, "lm_head shapes");
  const std::int64_t n_slabs = (n_vocab + kVocabSlab - 1) / kVocabSlab;
  pool.parallel_for(n_slabs, [&](std::int64_t s) {
    const std::int64_t v0 = s * kVocabSlab, nv = std::min(kVocabSlab, n_vocab - v0);
    if (const float* all = table.f32()) {
      const ConstMatrixMap slab(all + v0 * d_model, nv, d_model);
      logits.middleCols(v0, nv).noalias() = h * slab.transpose();
    } else {
      Matrix slab(nv, d_model);
      table.copy_rows(v0, nv, slab.data());
      logits.middleCols(v0, nv).noalias() = h * slab.transpose();
    }
    if (softcap) {
      const double c = *softcap;
      auto block = logits.middleCols(v0, nv);
      for (Eigen::Index r = 0; r < block.rows(); ++r)
        for (Eigen::Index j = 0; j < block.cols(); ++j)
          block(r, j) = static_cast<float>(c * std::tanh(static_cast<double>(block(r, j)) / c));
    }
  });
}

}  // namespace qg::cpu
