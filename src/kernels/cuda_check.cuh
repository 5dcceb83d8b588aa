#pragma once
// QG_CUDA_CHECK: every CUDA runtime call is checked; failures throw qg::Error with the call and place.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "common/error.h"

#define QG_CUDA_CHECK(expr)                                                                                   \
  do {                                                                                                        \
    const cudaError_t qg_err_ = (expr);                                                                       \
    if (qg_err_ != cudaSuccess)                                                                               \
      throw ::qg::Error(fmt::format("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(qg_err_),          \
                                    cudaGetErrorString(qg_err_), #expr, __FILE__, __LINE__));                \
  } while (0)
