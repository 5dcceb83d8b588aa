#pragma once
// A read-only memory map of a whole file (RAII). Checkpoint tensors are views into it.
#include <cstddef>
#include <filesystem>
#include <span>

namespace qg {

class MappedFile {
 public:
  // Throws qg::Error naming the path when it cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  // Tells the kernel we are done with bytes [offset, offset + length): their pages leave our resident
  // set (they are re-read from the file if touched again). Lets a streaming pass over a large
  // checkpoint run in memory far below the checkpoint's size.
  void release(std::size_t offset, std::size_t length) const noexcept;

 private:
  void unmap() noexcept;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace qg
