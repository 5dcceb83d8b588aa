#pragma once
// compressed-tensors pack-quantized bit layout (quant-formats.md section 2.2): signed codes stored
// offset-binary (u = q + 2^(b-1)), packed into int32 words along the last dimension, element 0 in the
// lowest bits; zero points packed the same way along dim 0. Supported widths: 4 and 8 bits (the layout
// for other widths changed between compressed-tensors versions).
#include <cstdint>
#include <vector>

namespace qg {

// Codes per int32 word; throws qg::Error for widths other than 4 and 8.
int codes_per_word(int num_bits);

// q[rows][cols] (signed, in [-2^(b-1), 2^(b-1)-1]) -> words[rows][ceil(cols / per_word)].
std::vector<std::int32_t> pack_rows(const std::vector<std::int32_t>& q, std::int64_t rows, std::int64_t cols, int num_bits);
// The signed code of element (r, c) from row-packed words with `words_per_row` words per row.
inline std::int32_t unpack_code(const std::int32_t* words, std::int64_t words_per_row, std::int64_t r, std::int64_t c,
                                int num_bits) {
  const int per = 32 / num_bits;
  const auto w = static_cast<std::uint32_t>(words[r * words_per_row + c / per]);
  const std::uint32_t u = (w >> ((c % per) * num_bits)) & ((1u << num_bits) - 1u);
  return static_cast<std::int32_t>(u) - (1 << (num_bits - 1));
}

// z[rows][cols] -> words[ceil(rows / per_word)][cols], packed along dim 0 (zero points).
std::vector<std::int32_t> pack_columns(const std::vector<std::int32_t>& z, std::int64_t rows, std::int64_t cols,
                                       int num_bits);
inline std::int32_t unpack_column_code(const std::int32_t* words, std::int64_t cols, std::int64_t r, std::int64_t c,
                                       int num_bits) {
  const int per = 32 / num_bits;
  const auto w = static_cast<std::uint32_t>(words[(r / per) * cols + c]);
  const std::uint32_t u = (w >> ((r % per) * num_bits)) & ((1u << num_bits) - 1u);
  return static_cast<std::int32_t>(u) - (1 << (num_bits - 1));
}

}  // namespace qg
