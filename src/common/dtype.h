#pragma once
// Element types. The names are the safetensors dtype strings and are stable: they appear in files,
// results JSON and reports, so never rename one.
#include <cstddef>
#include <optional>
#include <string_view>

namespace qg {

enum class DType {
  kBF16,
  kF16,
  kF32,
  kF64,
  kI64,
  kI32,
  kI16,
  kI8,
  kU64,
  kU32,
  kU16,
  kU8,
  kBool,
  kF8E4M3,  // float8_e4m3fn: no infinities, 0x7f/0xff are NaN
  kF8E5M2,
  kF8E8M0,  // unsigned power-of-two scale (MX formats)
};

inline constexpr DType kAllDTypes[] = {DType::kBF16, DType::kF16,   DType::kF32,    DType::kF64,
                                       DType::kI64,  DType::kI32,   DType::kI16,    DType::kI8,
                                       DType::kU64,  DType::kU32,   DType::kU16,    DType::kU8,
                                       DType::kBool, DType::kF8E4M3, DType::kF8E5M2, DType::kF8E8M0};

std::string_view dtype_name(DType dtype);
// The dtype for a safetensors name, or nullopt for a name we do not know (sub-byte F4/F6 included).
std::optional<DType> dtype_from_name(std::string_view name);
std::size_t dtype_size(DType dtype);
bool dtype_is_float(DType dtype);

}  // namespace qg
