#include "kernels/ref/elementwise_ref.h"

#include <cmath>

#include "common/check.h"
#include "common/float_formats.h"

namespace qg::cuda::ref {

float gelu_tanh_f32_ref(float z) {
  constexpr float kBeta = 0.7978845608028654f;  // fp32(sqrt(2 / pi)), the kernel's constant
  constexpr float kCubic = 0.044715f;
  const float cube = ((kCubic * z) * z) * z;
  const float t = tanhf(kBeta * (z + cube));
  return (0.5f * z) * (1.0f + t);
}

std::vector<std::uint16_t> gelu_tanh_mul_to_bf16_ref(const std::vector<float>& gate, std::int64_t gate_stride,
                                                     const std::vector<float>& up, std::int64_t up_stride,
                                                     std::int64_t rows, std::int64_t width) {
  QG_CHECK(rows >= 0 && width >= 0 && gate_stride >= width && up_stride >= width, "gelu ref shape");
  QG_CHECK(rows == 0 || static_cast<std::int64_t>(gate.size()) >= (rows - 1) * gate_stride + width, "gelu ref gate");
  QG_CHECK(rows == 0 || static_cast<std::int64_t>(up.size()) >= (rows - 1) * up_stride + width, "gelu ref up");
  std::vector<std::uint16_t> out(static_cast<std::size_t>(rows * width));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < width; ++j) {
      const float g = gelu_tanh_f32_ref(gate[static_cast<std::size_t>(r * gate_stride + j)]);
      out[static_cast<std::size_t>(r * width + j)] = f32_to_bf16(g * up[static_cast<std::size_t>(r * up_stride + j)]);
    }
  return out;
}

std::vector<std::uint16_t> f32_to_bf16_ref(const std::vector<float>& x) {
  std::vector<std::uint16_t> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = f32_to_bf16(x[i]);
  return y;
}

std::vector<std::uint16_t> scatter_rows_to_bf16_ref(const std::vector<float>& src, std::int64_t rows,
                                                    std::int64_t width, const std::vector<std::int64_t>& dest_row,
                                                    std::vector<std::uint16_t> dst) {
  QG_CHECK(rows >= 0 && width >= 0 && static_cast<std::int64_t>(src.size()) == rows * width, "scatter ref shape");
  QG_CHECK(static_cast<std::int64_t>(dest_row.size()) == rows, "scatter ref dest_row size");
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t dest = dest_row[static_cast<std::size_t>(r)];
    if (dest < 0) continue;
    QG_CHECK((dest + 1) * width <= static_cast<std::int64_t>(dst.size()), "scatter ref: row {} out of dst", dest);
    for (std::int64_t j = 0; j < width; ++j)
      dst[static_cast<std::size_t>(dest * width + j)] = f32_to_bf16(src[static_cast<std::size_t>(r * width + j)]);
  }
  return dst;
}

std::vector<float> softcap_in_place_ref(std::vector<float> x, float cap) {
  for (float& v : x) v = cap * tanhf(v / cap);
  return x;
}

}  // namespace qg::cuda::ref
