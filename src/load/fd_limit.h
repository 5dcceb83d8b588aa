#pragma once
// Thousands of concurrent streams need thousands of file descriptors, and many systems start processes
// with a soft RLIMIT_NOFILE of 1024 (the hard limit is usually far higher).
#include <cstddef>

namespace qg::load {

// Raises this process's soft RLIMIT_NOFILE to `wanted` when it is lower (never above the hard limit) and
// returns the soft limit now in force (unchanged when already high enough).
std::size_t raise_fd_limit(std::size_t wanted);

}  // namespace qg::load
