#pragma once
// A Hugging Face checkpoint's weights: one model.safetensors, or shards listed by
// model.safetensors.index.json. Knows no architecture; validates that index and shards agree.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/safetensors_file.h"
#include "tensor/tensor_view.h"

namespace qg {

inline constexpr const char* kSafetensorsSingleName = "model.safetensors";
inline constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";

struct CheckpointTensor {
  const SafetensorsFile* file = nullptr;
  const SafetensorsEntry* entry = nullptr;
};

class Checkpoint {
 public:
  // `path`: a checkpoint directory, a .safetensors file or a *.safetensors.index.json file.
  // Throws qg::Error naming the file and tensor on any inconsistency.
  static Checkpoint open(const std::filesystem::path& path);

  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& index_path() const { return index_path_; }  // empty when not sharded
  bool sharded() const { return !index_path_.empty(); }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  const std::map<std::string, CheckpointTensor>& tensors() const { return tensors_; }
  // Non-fatal findings (index total_size mismatch, stray .safetensors files), shown by inspect.
  const std::vector<std::string>& warnings() const { return warnings_; }

  const CheckpointTensor* find(const std::string& name) const;
  TensorView view(const std::string& name) const;  // throws naming the tensor when absent
  std::uint64_t tensor_bytes() const;              // sum of all tensors' data bytes
  std::uint64_t file_bytes() const;                // sum of the .safetensors files' sizes

 private:
  void add_file(const std::filesystem::path& path);
  void load_index(const std::filesystem::path& index_path);

  std::filesystem::path dir_;
  std::filesystem::path index_path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, CheckpointTensor> tensors_;
  std::vector<std::string> warnings_;
};

}  // namespace qg
