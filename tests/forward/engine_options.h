#pragma once
// CUDA engine options for tests: small steps, so sequences are packed together and split over steps.
#include <cstdint>

#include "forward/cuda/cuda_forward.h"

namespace qg::test {

inline CudaForwardOptions engine_options(std::int64_t batch_tokens, GemmInputPrecision precision,
                                         std::int64_t max_context, std::int64_t logits_rows) {
  CudaForwardOptions o;
  o.limits.precision = precision;
  o.limits.max_batch_tokens = batch_tokens;
  o.limits.max_context = max_context;
  o.limits.logits_rows = logits_rows;
  return o;
}

}  // namespace qg::test
