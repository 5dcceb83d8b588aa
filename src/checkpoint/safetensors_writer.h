#pragma once
// Streaming, sharded safetensors writer (for the quantizer and test fixtures). Tensor data goes to
// disk as it is added, so memory stays bounded by one tensor; a shard is closed when the next tensor
// would take it past max_shard_bytes. finish() names the shards as transformers does
// (model.safetensors, or model-00001-of-00003.safetensors ... plus model.safetensors.index.json).
// Nothing appears under the final names until finish() succeeds; an abandoned writer removes its
// temporary files.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "tensor/tensor_view.h"

namespace qg {

struct SafetensorsWriterOptions {
  std::uint64_t max_shard_bytes = 5'000'000'000;  // transformers' historical default "5GB"
  std::string basename = "model";
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
};

class SafetensorsWriter {
 public:
  // Receives a tensor's bytes in any number of pieces.
  using Sink = std::function<void(std::span<const std::byte>)>;

  SafetensorsWriter(std::filesystem::path out_dir, SafetensorsWriterOptions options = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void add(const std::string& name, DType dtype, const Shape& shape, std::span<const std::byte> data);
  void add(const TensorView& view) { add(view.name, view.dtype, view.shape, view.bytes()); }
  // Streams the tensor: `produce` must write exactly prod(shape) * dtype_size bytes through the sink.
  void add_streamed(const std::string& name, DType dtype, const Shape& shape,
                    const std::function<void(const Sink&)>& produce);

  // Writes headers and the index; returns the files written (shards, then the index if any).
  std::vector<std::filesystem::path> finish();

 private:
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;
  };
  struct Shard {
    std::vector<Entry> entries;
    std::uint64_t bytes = 0;
    std::filesystem::path data_tmp;  // raw tensor bytes, header written at finish()
  };
  void open_shard();
  void cleanup() noexcept;

  std::filesystem::path out_dir_;
  SafetensorsWriterOptions options_;
  std::vector<Shard> shards_;
  std::ofstream data_out_;
  std::map<std::string, std::size_t> shard_of_;  // tensor -> shard index
  bool finished_ = false;
  bool broken_ = false;  // a failed add leaves partial bytes behind: refuse further use
};

}  // namespace qg
