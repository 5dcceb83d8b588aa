#pragma once
// ScoreOptions::first_logit_rows on any engine: three sequences scored with every row, then from rows 6, 0 and 3;
// the second run must hand exactly those rows, in order, in chunks of 2, and a wrong-sized list is refused. Returns
// the largest |difference| between the two runs' logits for the caller to bound (engines differ in how their head
// GEMM of another height rounds).
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "forward/forward.h"

namespace qg::test {

inline double check_first_logit_rows(Forward& f) {
  const std::vector<TokenId> a{2, 17, 5, 9, 11, 3, 8}, b{4, 4, 6}, c{1, 30, 2, 7, 7};
  const std::vector<TokenSpan> batch{a, b, c};
  std::vector<std::vector<float>> all(3);  // reference: every row of every sequence
  f.score(std::span<const TokenSpan>(batch), [&](const LogitsChunk& ch) {
    all[ch.sequence].insert(all[ch.sequence].end(), ch.logits.begin(), ch.logits.end());
  });
  const std::vector<std::int64_t> first{6, 0, 3};
  ScoreOptions so;
  so.first_logit_rows = first;
  so.chunk_rows = 2;
  std::vector<std::int64_t> next{6, 0, 3};  // the next row each sequence should hand
  double max_diff = 0;
  f.score(
      std::span<const TokenSpan>(batch),
      [&](const LogitsChunk& ch) {
        REQUIRE(ch.first_position == next[ch.sequence]);
        next[ch.sequence] += ch.n_rows;
        for (std::size_t i = 0; i < ch.logits.size(); ++i)
          max_diff = std::max<double>(
              max_diff,
              std::fabs(ch.logits[i] - all[ch.sequence][static_cast<std::size_t>(ch.first_position * ch.n_vocab) + i]));
      },
      so);
  CHECK(next == std::vector<std::int64_t>{7, 3, 5});  // every sequence ran to its end
  const std::vector<std::int64_t> two{0, 0};
  so.first_logit_rows = two;
  CHECK_THROWS_AS(f.score(std::span<const TokenSpan>(batch), [](const LogitsChunk&) {}, so), Error);
  return max_diff;
}

}  // namespace qg::test
