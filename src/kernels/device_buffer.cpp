#include "kernels/device_buffer.h"

#include <fmt/format.h>

#include "common/error.h"
#include "kernels/cuda_check.cuh"

namespace qg::cuda {

DeviceBuffer::DeviceBuffer(std::size_t bytes, const std::string& what) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t err = cudaMalloc(&ptr_, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state of a failed allocation
    std::size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    ptr_ = nullptr;
    bytes_ = 0;
    throw Error(fmt::format("GPU out of memory allocating {:.1f} MiB for {} ({:.1f} MiB free of {:.1f} MiB): {}",
                            static_cast<double>(bytes) / 1048576.0, what, static_cast<double>(free_bytes) / 1048576.0,
                            static_cast<double>(total) / 1048576.0, cudaGetErrorString(err)),
                {.tensor = what});
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, std::size_t bytes) {
  if (bytes > bytes_) throw Error(fmt::format("upload of {} bytes into a buffer of {}", bytes, bytes_));
  if (bytes > 0) QG_CUDA_CHECK(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice));
}

void DeviceBuffer::download(void* host, std::size_t bytes) const {
  if (bytes > bytes_) throw Error(fmt::format("download of {} bytes from a buffer of {}", bytes, bytes_));
  if (bytes > 0) QG_CUDA_CHECK(cudaMemcpy(host, ptr_, bytes, cudaMemcpyDeviceToHost));
}

void DeviceBuffer::zero(cudaStream_t stream) {
  if (bytes_ > 0) QG_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, bytes_, stream));
}

DeviceBuffer upload_bytes(const void* host, std::size_t bytes, const std::string& what) {
  DeviceBuffer b(bytes, what);
  b.upload(host, bytes);
  return b;
}

void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw Error(fmt::format("CUDA kernel {} failed to launch: {} ({})", what, cudaGetErrorName(err),
                            cudaGetErrorString(err)));
}

}  // namespace qg::cuda
