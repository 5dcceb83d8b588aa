#pragma once
// Number formatting shared by every human-readable report.
#include <cstdint>
#include <string>

namespace qg {

std::string group_digits(std::int64_t n);    // 7463013376 -> "7,463,013,376"
std::string human_bytes(std::uint64_t bytes);  // decimal units: "14.93 GB", "812 B"

}  // namespace qg
