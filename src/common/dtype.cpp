#include "common/dtype.h"

#include "common/check.h"

namespace qg {

namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
  bool is_float;
};
constexpr DTypeInfo kInfo[] = {
    {DType::kBF16, "BF16", 2, true},     {DType::kF16, "F16", 2, true},       {DType::kF32, "F32", 4, true},
    {DType::kF64, "F64", 8, true},       {DType::kI64, "I64", 8, false},      {DType::kI32, "I32", 4, false},
    {DType::kI16, "I16", 2, false},      {DType::kI8, "I8", 1, false},        {DType::kU64, "U64", 8, false},
    {DType::kU32, "U32", 4, false},      {DType::kU16, "U16", 2, false},      {DType::kU8, "U8", 1, false},
    {DType::kBool, "BOOL", 1, false},    {DType::kF8E4M3, "F8_E4M3", 1, true}, {DType::kF8E5M2, "F8_E5M2", 1, true},
    {DType::kF8E8M0, "F8_E8M0", 1, true},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kInfo)
    if (i.dtype == dtype) return i;
  QG_CHECK(false, "dtype {} has no info entry", static_cast<int>(dtype));
  __builtin_unreachable();
}
}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }
std::size_t dtype_size(DType dtype) { return info(dtype).size; }
bool dtype_is_float(DType dtype) { return info(dtype).is_float; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.dtype;
  return std::nullopt;
}

}  // namespace qg
