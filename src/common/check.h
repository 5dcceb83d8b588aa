#pragma once
// Checks. QG_CHECK guards invariants of our own code (a failure is a bug, reported with file:line);
// bad *input* is reported with qg::Error and a Context naming the file/tensor instead.
#include <fmt/format.h>

#include "common/error.h"

#define QG_CHECK(cond, ...)                                                                         \
  do {                                                                                              \
    if (!(cond))                                                                                    \
      throw ::qg::Error(fmt::format("internal check failed at {}:{}: {} ({})", __FILE__, __LINE__, \
                                    #cond, fmt::format(__VA_ARGS__)));                              \
  } while (0)
