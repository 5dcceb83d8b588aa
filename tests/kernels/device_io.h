#pragma once
// Host <-> device copies for the kernel tests.
#include <cstddef>
#include <vector>

#include "kernels/device_buffer.h"

namespace qg::test {

template <typename T>
cuda::DeviceBuffer to_device(const std::vector<T>& v) {
  return cuda::upload_bytes(v.data(), v.size() * sizeof(T), "kernel test input");
}

template <typename T>
std::vector<T> to_host(const cuda::DeviceBuffer& b, std::size_t n) {
  std::vector<T> v(n);
  b.download(v.data(), n * sizeof(T));
  return v;
}

}  // namespace qg::test
