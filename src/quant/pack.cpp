#include "quant/pack.h"

#include <fmt/format.h>

#include "common/error.h"

namespace qg {

int codes_per_word(int num_bits) {
  if (num_bits != 4 && num_bits != 8)
    throw Error(fmt::format("pack-quantized with {} bits is not supported (4 and 8 are; other widths changed layout "
                            "between compressed-tensors versions)",
                            num_bits));
  return 32 / num_bits;
}

std::vector<std::int32_t> pack_rows(const std::vector<std::int32_t>& q, std::int64_t rows, std::int64_t cols,
                                    int num_bits) {
  const int per = codes_per_word(num_bits);
  const std::int64_t wpr = (cols + per - 1) / per;
  const std::uint32_t mask = (1u << num_bits) - 1u;
  const std::int32_t offset = 1 << (num_bits - 1);
  std::vector<std::int32_t> out(static_cast<std::size_t>(rows * wpr), 0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const auto u = static_cast<std::uint32_t>(q[static_cast<std::size_t>(r * cols + c)] + offset) & mask;
      auto& w = out[static_cast<std::size_t>(r * wpr + c / per)];
      w = static_cast<std::int32_t>(static_cast<std::uint32_t>(w) | (u << ((c % per) * num_bits)));
    }
  return out;
}

std::vector<std::int32_t> pack_columns(const std::vector<std::int32_t>& z, std::int64_t rows, std::int64_t cols,
                                       int num_bits) {
  const int per = codes_per_word(num_bits);
  const std::int64_t word_rows = (rows + per - 1) / per;
  const std::uint32_t mask = (1u << num_bits) - 1u;
  const std::int32_t offset = 1 << (num_bits - 1);
  std::vector<std::int32_t> out(static_cast<std::size_t>(word_rows * cols), 0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const auto u = static_cast<std::uint32_t>(z[static_cast<std::size_t>(r * cols + c)] + offset) & mask;
      auto& w = out[static_cast<std::size_t>((r / per) * cols + c)];
      w = static_cast<std::int32_t>(static_cast<std::uint32_t>(w) | (u << ((r % per) * num_bits)));
    }
  return out;
}

}  // namespace qg
