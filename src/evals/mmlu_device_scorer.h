#pragma once
// run_mmlu's row scorer for a CUDA engine (CUDA builds only; open_mmlu_row_scorer in forward/open_forward.h picks
// it): the rows stay where the engine left them, kernels/logprob_kernels.cuh computes each row's log-softmax
// entries of the asked ids on the engine's stream, and only those doubles come back. Equal to the host scorer up
// to the order of the double exp sum (tests/evals/mmlu_device_test.cpp).
#include <memory>

#include "evals/mmlu_row_scorer.h"

namespace qg::evals {

std::unique_ptr<MmluRowScorer> device_mmlu_row_scorer();

}  // namespace qg::evals
