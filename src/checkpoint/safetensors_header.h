#pragma once
// Parsing and validation of a safetensors header (the 8-byte little-endian length, the JSON header and
// the byte ranges it declares). Pure function of the file's bytes: the fuzz target drives it directly.
//
// Rules, the same as the reference `safetensors` crate: header length within kMaxHeaderBytes and the
// file; the header is one JSON object with unique keys; every tensor has a known dtype, a shape of
// non-negative integers and data_offsets [begin, end] with end - begin == prod(shape) * dtype size;
// tensors are packed without overlaps or gaps and exactly cover the data section.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "tensor/tensor_view.h"

namespace qg {

inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // as the safetensors crate

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  std::uint64_t begin = 0;  // offsets relative to the start of the data section
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::uint64_t header_bytes = 0;  // N, the JSON length
  std::uint64_t data_offset = 0;   // 8 + N: where the data section starts in the file
  std::uint64_t data_bytes = 0;    // size of the data section
  std::vector<SafetensorsEntry> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;  // "__metadata__"

  const SafetensorsEntry* find(const std::string& name) const;
};

// Throws qg::Error naming `file_label` (and the tensor, where one is at fault) on any violation.
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file_bytes, const std::string& file_label);

}  // namespace qg
