#include "forward/shared_layer_rows.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"

namespace qg {

std::int64_t SharedLayerRows::compacted_row(std::int64_t row) const {
  const auto it = std::lower_bound(keep.begin(), keep.end(), row);
  if (it == keep.end() || *it != row)
    throw Error(fmt::format("step row {} was not run through the KV-shared layers", row));
  return it - keep.begin();
}

SharedLayerRows plan_shared_layer_rows(std::span<const AttentionSpan> spans, std::span<const std::int64_t> needed_from,
                                       std::int64_t align) {
  if (spans.size() != needed_from.size() || align <= 0)
    throw Error(fmt::format("plan_shared_layer_rows: {} spans, {} needed rows, align {}", spans.size(),
                            needed_from.size(), align));
  SharedLayerRows plan;
  std::int64_t expected_row = 0;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const AttentionSpan& s = spans[i];
    if (s.first_row != expected_row || s.n_rows < 0)
      throw Error(fmt::format("plan_shared_layer_rows: span {} covers rows [{}, +{}), expected to start at {}", i,
                              s.first_row, s.n_rows, expected_row));
    expected_row += s.n_rows;
    const std::int64_t need = std::clamp<std::int64_t>(needed_from[i], 0, s.n_rows);
    if (need == s.n_rows) continue;  // no row of this span gets logits
    const std::int64_t drop = need / align * align;
    const AttentionSpan kept{static_cast<std::int64_t>(plan.keep.size()), s.n_rows - drop, s.first_position + drop,
                             s.kv_start};
    for (std::int64_t r = s.first_row + drop; r < s.first_row + s.n_rows; ++r)
      plan.keep.push_back(static_cast<std::int32_t>(r));
    plan.spans.push_back(kept);
  }
  return plan;
}

}  // namespace qg
