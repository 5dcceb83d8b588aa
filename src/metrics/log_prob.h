#pragma once
// log_softmax(row)[id] in double for reading a few ids of a logits row (MMLU choices): the row's normalizer
// (max, then the exp sum in double in id order) is computed once and reused for every id read from the row.
// log_prob(row, id, row_log_norm(row)) is the same expression, evaluated in the same order, as the one-id
// form below, so splitting the two changes no bit (tests/metrics/log_prob_test.cpp). This is also the host
// reference of the GPU kernel (kernels/logprob_kernels.cuh).
#include <cstdint>
#include <span>

namespace qg::metrics {

struct RowLogNorm {
  double max = 0;      // max of the row (widened from fp32)
  double log_sum = 0;  // log(sum_i exp(row[i] - max)); logsumexp(row) = max + log_sum
};

RowLogNorm row_log_norm(std::span<const float> row);

// row[id] - max - log_sum, in that order. id must be in [0, row.size()) (callers check).
inline double log_prob(std::span<const float> row, std::int32_t id, const RowLogNorm& norm) {
  return static_cast<double>(row[static_cast<std::size_t>(id)]) - norm.max - norm.log_sum;
}

// One id: log_prob(row, id, row_log_norm(row)).
double log_prob(std::span<const float> row, std::int32_t id);

}  // namespace qg::metrics
