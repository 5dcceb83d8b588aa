#pragma once
// Owning device memory (cudaMalloc/cudaFree), move-only, with typed views and host<->device copies that
// throw qg::Error on failure. Every GPU allocation of the engine goes through this, so an out-of-memory
// error names what was being allocated and how many bytes.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace qg::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // `what` names the allocation in an out-of-memory error ("layers.3.mlp.up_proj.weight", "KV cache").
  DeviceBuffer(std::size_t bytes, const std::string& what);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
  bool empty() const { return ptr_ == nullptr; }

  // Synchronous copies of `bytes` (default: the whole buffer) from/to host memory.
  void upload(const void* host, std::size_t bytes);
  void download(void* host, std::size_t bytes) const;
  void zero(cudaStream_t stream = nullptr);

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// A buffer holding a copy of `bytes` of host data.
DeviceBuffer upload_bytes(const void* host, std::size_t bytes, const std::string& what);

// Throws qg::Error naming `what` when the last kernel launch failed (call right after a <<<...>>>).
void check_launch(const char* what);

}  // namespace qg::cuda
