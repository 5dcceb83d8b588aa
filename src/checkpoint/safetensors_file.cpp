#include "checkpoint/safetensors_file.h"

#include "common/error.h"

namespace qg {

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : file_(path), header_(parse_safetensors_header(file_.bytes(), path.string())) {}

TensorView SafetensorsFile::view(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (e == nullptr) throw Error("no such tensor in this file", {.file = path().string(), .tensor = name});
  return view(*e);
}

TensorView SafetensorsFile::view(const SafetensorsEntry& e) const {
  TensorView v;
  v.name = e.name;
  v.dtype = e.dtype;
  v.shape = e.shape;
  v.data = file_.bytes().data() + header_.data_offset + e.begin;
  v.device = Device::kHost;
  return v;
}

}  // namespace qg
