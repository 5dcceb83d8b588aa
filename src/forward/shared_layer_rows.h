#pragma once
// Which rows of a step the KV-shared layers still have to run (issue 11).
//
// A KV-shared layer (layers first_kv_shared_layer().. of Gemma 3n / Gemma 4 E-models) reads the K/V an earlier
// layer wrote and writes none, so a row whose logits nobody asked for has no use for those layers: its K/V is
// already in the cache, and nothing else it computes there is read by another row. vLLM makes the same cut for
// Gemma 3n (kv_sharing_fast_prefill). KL scores the second half of every chunk and MMLU one row per question, so
// on E4B (18 of 42 layers shared) this removes about a fifth of KL's work and most of MMLU's prompt work.
//
// Bit-identity. Each span keeps its rows from a multiple of `align` rows after its start, never from the first
// needed row itself: the attention kernels cut a span into query blocks of `align` rows counted from its start,
// and the fused kernel's key tiles start where the block's window starts, so keeping the blocks keeps every kept
// row's arithmetic. Everything else in a layer is row-wise or a GEMM whose rows do not depend on their neighbours
// (pinned algorithms, forward/cuda/gemm.h). tests/forward/shared_layer_rows_test.cpp checks the plan; the [gpu]
// engine tests check that the logits are the same bits with and without it.
#include <cstdint>
#include <span>
#include <vector>

namespace qg {

// Consecutive step rows of one sequence: rows [first_row, first_row + n_rows) are the queries at positions
// first_position.., and key j of the sequence is cache row kv_start + j.
struct AttentionSpan {
  std::int64_t first_row = 0, n_rows = 0, first_position = 0, kv_start = 0;
  bool operator==(const AttentionSpan&) const = default;
};

struct SharedLayerRows {
  std::vector<std::int32_t> keep;    // step rows the shared layers run, ascending
  std::vector<AttentionSpan> spans;  // the spans over the kept rows, rows renumbered 0..keep.size()
  // Row of the compacted step holding step row `row`; qg::Error when the row was dropped.
  std::int64_t compacted_row(std::int64_t row) const;
  std::int64_t dropped(std::int64_t step_rows) const { return step_rows - static_cast<std::int64_t>(keep.size()); }
};

// needed_from[i]: the rows of spans[i] before first_row + needed_from[i] need no logits (n_rows or more: none of
// its rows do; 0: all). Spans must tile the step's rows in order. align > 0.
SharedLayerRows plan_shared_layer_rows(std::span<const AttentionSpan> spans, std::span<const std::int64_t> needed_from,
                                       std::int64_t align);

}  // namespace qg
