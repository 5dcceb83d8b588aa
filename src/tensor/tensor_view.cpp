#include "tensor/tensor_view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <limits>

#include "common/check.h"
#include "common/float_formats.h"

namespace qg {

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw Error(fmt::format("negative dimension in shape {}", shape_str(shape)));
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d)
      throw Error(fmt::format("shape {} has more than 2^63 elements", shape_str(shape)));
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

namespace {
template <typename T>
T load(const void* base, std::int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const std::byte*>(base) + i * static_cast<std::int64_t>(sizeof(T)), sizeof(T));
  return v;
}
}  // namespace

float load_as_f32(const TensorView& view, std::int64_t i) {
  QG_CHECK(view.device == Device::kHost, "load_as_f32 on a device tensor '{}'", view.name);
  const void* p = view.data;
  switch (view.dtype) {
    case DType::kBF16: return bf16_to_f32(load<std::uint16_t>(p, i));
    case DType::kF16: return f16_to_f32(load<std::uint16_t>(p, i));
    case DType::kF32: return load<float>(p, i);
    case DType::kF64: return static_cast<float>(load<double>(p, i));
    case DType::kI64: return static_cast<float>(load<std::int64_t>(p, i));
    case DType::kI32: return static_cast<float>(load<std::int32_t>(p, i));
    case DType::kI16: return static_cast<float>(load<std::int16_t>(p, i));
    case DType::kI8: return static_cast<float>(load<std::int8_t>(p, i));
    case DType::kU64: return static_cast<float>(load<std::uint64_t>(p, i));
    case DType::kU32: return static_cast<float>(load<std::uint32_t>(p, i));
    case DType::kU16: return static_cast<float>(load<std::uint16_t>(p, i));
    case DType::kU8: return static_cast<float>(load<std::uint8_t>(p, i));
    case DType::kBool: return load<std::uint8_t>(p, i) ? 1.0f : 0.0f;
    case DType::kF8E4M3: return f8e4m3_to_f32(load<std::uint8_t>(p, i));
    case DType::kF8E5M2: return f8e5m2_to_f32(load<std::uint8_t>(p, i));
    case DType::kF8E8M0: return f8e8m0_to_f32(load<std::uint8_t>(p, i));
  }
  QG_CHECK(false, "unhandled dtype");
  return 0;
}

std::vector<float> to_f32(const TensorView& view) {
  const std::int64_t n = view.numel();
  std::vector<float> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = load_as_f32(view, i);
  return out;
}

}  // namespace qg
