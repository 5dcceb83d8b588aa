#pragma once
// Helpers for the forward-pass tests: goldens written by transformers, whole-logits collection and
// the two comparisons every golden test makes (max |diff| and argmax per position).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "forward/forward.h"
#include "tensor/tensor_view.h"

namespace qg::test {

// A tensor read from a golden file: fp32 values (ids converted) and its shape.
struct GoldenTensor {
  Shape shape;
  std::vector<float> values;
};

inline GoldenTensor read_golden(const std::filesystem::path& file, const std::string& name) {
  const Checkpoint ck = Checkpoint::open(file);
  const TensorView v = ck.view(name);
  return {v.shape, to_f32(v)};
}

inline std::vector<TokenId> to_ids(const std::vector<float>& values) {
  std::vector<TokenId> ids;
  for (float v : values) ids.push_back(static_cast<TokenId>(v));
  return ids;
}

// All logits of a batch, [sequence][row * n_vocab + v], checking that chunks arrive in order.
inline std::vector<std::vector<float>> score_all(Forward& f, const std::vector<std::vector<TokenId>>& batch,
                                                 const ScoreOptions& options = {}) {
  std::vector<TokenSpan> spans(batch.begin(), batch.end());
  std::vector<std::vector<float>> out(batch.size());
  std::size_t expected_sequence = 0;
  f.score(
      spans,
      [&](const LogitsChunk& c) {
        if (c.sequence != expected_sequence) expected_sequence = c.sequence;  // sequences only move forward
        auto& dst = out.at(c.sequence);
        if (static_cast<std::int64_t>(dst.size()) != (c.first_position - options.first_logit_row) * c.n_vocab)
          throw std::runtime_error("logits chunks out of order");
        dst.insert(dst.end(), c.logits.begin(), c.logits.end());
      },
      options);
  return out;
}

inline std::vector<float> score_one(Forward& f, const std::vector<TokenId>& tokens,
                                    const ScoreOptions& options = {}) {
  return score_all(f, {tokens}, options).at(0);
}

struct Diff {
  double max_abs = 0;                  // max |a - b| over all elements
  std::int64_t argmax_mismatches = 0;  // rows whose argmax differs
};

// a, b: [rows, width].
inline Diff compare_rows(const std::vector<float>& a, const std::vector<float>& b, std::int64_t width) {
  Diff d;
  if (a.size() != b.size()) throw std::runtime_error("compare_rows: sizes differ");
  for (std::size_t i = 0; i < a.size(); ++i)
    d.max_abs = std::max(d.max_abs, std::fabs(double(a[i]) - double(b[i])));
  for (std::size_t r = 0; r * width < a.size(); ++r) {
    auto row = [&](const std::vector<float>& x) {
      return x.begin() + static_cast<std::ptrdiff_t>(r * width);
    };
    const auto ia = std::max_element(row(a), row(a) + width) - row(a);
    const auto ib = std::max_element(row(b), row(b) + width) - row(b);
    if (ia != ib) ++d.argmax_mismatches;
  }
  return d;
}

}  // namespace qg::test
