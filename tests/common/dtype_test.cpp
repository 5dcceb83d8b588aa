#include "catch.h"
#include "common/dtype.h"

using namespace qg;

TEST_CASE("dtype names are the safetensors strings and round-trip", "[common]") {
  for (DType d : kAllDTypes) {
    const auto back = dtype_from_name(dtype_name(d));
    REQUIRE(back.has_value());
    CHECK(*back == d);
  }
  CHECK(dtype_name(DType::kF8E4M3) == "F8_E4M3");
  CHECK(dtype_name(DType::kBool) == "BOOL");
  CHECK(dtype_size(DType::kBF16) == 2);
  CHECK(dtype_size(DType::kI64) == 8);
  CHECK(dtype_size(DType::kF8E5M2) == 1);
  CHECK_FALSE(dtype_from_name("F4").has_value());
  CHECK_FALSE(dtype_from_name("bf16").has_value());  // names are case-sensitive, as in safetensors
}
