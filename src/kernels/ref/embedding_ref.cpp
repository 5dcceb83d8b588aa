#include "kernels/ref/embedding_ref.h"

#include "common/check.h"
#include "common/float_formats.h"
#include "kernels/ref/norm_ref.h"

namespace qg::cuda::ref {

namespace {
void check_ids(const std::vector<std::uint16_t>& table, std::int64_t width, const std::vector<std::int32_t>& ids) {
  QG_CHECK(width >= 1 && static_cast<std::int64_t>(table.size()) % width == 0, "embedding ref table shape");
  const auto vocab = static_cast<std::int64_t>(table.size()) / width;
  for (const std::int32_t id : ids) QG_CHECK(id >= 0 && id < vocab, "embedding ref: id {} outside [0, {})", id, vocab);
}
}  // namespace

std::vector<float> embed_rows_ref(const std::vector<std::uint16_t>& table, std::int64_t width,
                                  const std::vector<std::int32_t>& ids, float scale) {
  check_ids(table, width, ids);
  std::vector<float> out(ids.size() * static_cast<std::size_t>(width));
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (std::int64_t j = 0; j < width; ++j)
      out[r * static_cast<std::size_t>(width) + static_cast<std::size_t>(j)] =
          bf16_to_f32(table[static_cast<std::size_t>(ids[r] * width + j)]) * scale;
  return out;
}

std::vector<float> ple_combine_ref(const std::vector<float>& ctx, const std::vector<std::uint16_t>& table,
                                   const std::vector<std::int32_t>& ids, const std::vector<float>& norm_w,
                                   std::int64_t n_layers, std::int64_t d_ple, float ctx_scale, float token_scale,
                                   float combine_scale, float eps) {
  const std::int64_t width = n_layers * d_ple, rows = static_cast<std::int64_t>(ids.size());
  QG_CHECK(n_layers >= 1 && d_ple >= 1 && static_cast<std::int64_t>(ctx.size()) == rows * width, "ple ref shape");
  QG_CHECK(norm_w.empty() || static_cast<std::int64_t>(norm_w.size()) == d_ple, "ple ref norm size");
  check_ids(table, width, ids);
  std::vector<float> c(ctx.size());
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = ctx[i] * ctx_scale;
  rms_norm_rows_ref(c.data(), norm_w.empty() ? nullptr : norm_w.data(), rows * n_layers, d_ple, eps, c.data());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < width; ++j) {
      const float tok = bf16_to_f32(table[static_cast<std::size_t>(ids[static_cast<std::size_t>(r)] * width + j)]);
      float& v = c[static_cast<std::size_t>(r * width + j)];
      v = (v + tok * token_scale) * combine_scale;
    }
  return c;
}

}  // namespace qg::cuda::ref
