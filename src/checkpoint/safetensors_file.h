#pragma once
// One .safetensors file: mmapped, header validated on open, tensors handed out as zero-copy views.
#include <filesystem>
#include <memory>
#include <string>

#include "checkpoint/mapped_file.h"
#include "checkpoint/safetensors_header.h"
#include "tensor/tensor_view.h"

namespace qg {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);  // throws qg::Error on any violation

  const std::filesystem::path& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  std::size_t file_bytes() const { return file_.size(); }
  const SafetensorsEntry* find(const std::string& name) const { return header_.find(name); }
  // A view of `name`; throws qg::Error naming file and tensor when it is absent.
  TensorView view(const std::string& name) const;
  TensorView view(const SafetensorsEntry& entry) const;
  // Drops the tensor's pages from the resident set once a streaming pass is done with it.
  void release(const SafetensorsEntry& entry) const noexcept {
    file_.release(header_.data_offset + entry.begin, entry.end - entry.begin);
  }
  // Same for bytes [offset, offset + length) of the tensor's data.
  void release(const SafetensorsEntry& entry, std::uint64_t offset, std::uint64_t length) const noexcept {
    file_.release(header_.data_offset + entry.begin + offset, length);
  }

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

}  // namespace qg
