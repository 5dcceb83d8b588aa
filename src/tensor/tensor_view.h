#pragma once
// TensorView: a non-owning, contiguous (row-major) view of typed memory on the host or a GPU.
// Checkpoint tensors are views straight into the mmapped file (zero-copy), so their data pointer
// may be unaligned: read elements through `load_as_f32` / memcpy, or check `is_aligned()` first.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/dtype.h"

namespace qg {

enum class Device { kHost, kCuda };

using Shape = std::vector<std::int64_t>;

// Product of dims, throwing qg::Error on a negative dim or on overflow of 2^63.
std::int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2048, 2560]"

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;
  Device device = Device::kHost;

  std::int64_t numel() const { return shape_numel(shape); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(data), nbytes()}; }
  bool is_aligned() const {
    return reinterpret_cast<std::uintptr_t>(data) % dtype_size(dtype) == 0;
  }
};

// Element i converted to fp32 (floats and integers; host views only). Unaligned data is fine.
float load_as_f32(const TensorView& view, std::int64_t i);
// All elements as fp32 (host views only).
std::vector<float> to_f32(const TensorView& view);

}  // namespace qg
