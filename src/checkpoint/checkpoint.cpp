#include "checkpoint/checkpoint.h"

#include <fmt/format.h>

#include <set>

#include "checkpoint/json_file.h"
#include "common/error.h"

namespace qg {

namespace fs = std::filesystem;

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<fs::path> safetensors_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

Checkpoint Checkpoint::open(const fs::path& path) {
  Checkpoint ck;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("no such file or directory", {.file = path.string()});

  if (fs::is_directory(path)) {
    ck.dir_ = path;
    // Same preference as transformers: the single file first, then the index.
    if (fs::exists(path / kSafetensorsSingleName)) {
      ck.add_file(path / kSafetensorsSingleName);
    } else if (fs::exists(path / kSafetensorsIndexName)) {
      ck.load_index(path / kSafetensorsIndexName);
    } else {
      const auto found = safetensors_in(path);
      if (found.empty())
        throw Error(fmt::format("no {} or {} in this directory", kSafetensorsSingleName, kSafetensorsIndexName),
                    {.file = path.string(), .hint = "pass a Hugging Face checkpoint directory with safetensors weights"});
      if (found.size() > 1)
        throw Error(fmt::format("{} .safetensors files but no {} saying which tensors each holds", found.size(),
                                kSafetensorsIndexName),
                    {.file = path.string()});
      ck.add_file(found.front());
    }
  } else {
    ck.dir_ = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (ends_with(path.filename().string(), ".index.json")) {
      ck.load_index(path);
    } else {
      ck.add_file(path);
    }
  }

  if (!ck.sharded()) {
    const auto& f = *ck.files_.front();
    for (const auto& e : f.header().tensors) ck.tensors_[e.name] = {&f, &e};
    // A stray second weights file beside model.safetensors would be ignored by transformers too; say so.
    if (fs::is_directory(path))
      for (const auto& p : safetensors_in(ck.dir_))
        if (p.filename() != f.path().filename())
          ck.warnings_.push_back(fmt::format("{}: not read (the checkpoint is {})", p.string(), f.path().string()));
  }
  return ck;
}

void Checkpoint::add_file(const fs::path& path) { files_.push_back(std::make_unique<SafetensorsFile>(path)); }

void Checkpoint::load_index(const fs::path& index_path) {
  index_path_ = index_path;
  const std::string index_label = index_path.string();
  const nlohmann::json index = read_json_file(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw Error("index has no 'weight_map' object", {.file = index_label});

  // shard file name -> tensors the index assigns to it
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string())
      throw Error("weight_map value is not a file name", {.file = index_label, .tensor = tensor});
    const std::string name = shard.get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
        name == "." || name == "..")
      throw Error(fmt::format("shard name '{}' is not a plain file name in the checkpoint directory", name),
                  {.file = index_label, .tensor = tensor});
    by_shard[name].push_back(tensor);
  }
  if (by_shard.empty()) throw Error("weight_map is empty", {.file = index_label});

  const fs::path dir = index_path.parent_path().empty() ? fs::path(".") : index_path.parent_path();
  for (const auto& [shard, names] : by_shard) {
    const fs::path shard_path = dir / shard;
    if (!fs::exists(shard_path))
      throw Error(fmt::format("shard '{}' listed in the index is missing ({} tensors map to it)", shard, names.size()),
                  {.file = index_label, .tensor = names.front()});
    add_file(shard_path);
    const SafetensorsFile& f = *files_.back();
    const std::set<std::string> listed(names.begin(), names.end());
    for (const auto& t : names) {
      const SafetensorsEntry* e = f.find(t);
      if (e == nullptr)
        throw Error(fmt::format("the index maps it to this shard, but the shard does not contain it"),
                    {.file = shard_path.string(), .tensor = t});
      tensors_[t] = {&f, e};
    }
    for (const auto& e : f.header().tensors) {
      if (listed.count(e.name)) continue;
      const auto& wm = index["weight_map"];
      throw Error(wm.contains(e.name)
                      ? fmt::format("present in this shard but the index maps it to '{}'", wm[e.name].get<std::string>())
                      : std::string("present in this shard but not listed in the index"),
                  {.file = shard_path.string(), .tensor = e.name});
    }
  }

  // metadata.total_size is informational in transformers; a mismatch is reported, not fatal.
  if (index.contains("metadata") && index["metadata"].is_object() && index["metadata"].contains("total_size")) {
    const auto& ts = index["metadata"]["total_size"];
    if (ts.is_number_integer() && ts.get<std::int64_t>() >= 0 &&
        static_cast<std::uint64_t>(ts.get<std::int64_t>()) != tensor_bytes())
      warnings_.push_back(fmt::format("{}: metadata.total_size {} differs from the {} tensor bytes in the shards",
                                      index_label, ts.get<std::int64_t>(), tensor_bytes()));
  }
  std::set<std::string> used;
  for (const auto& [shard, _] : by_shard) used.insert(shard);
  for (const auto& p : safetensors_in(dir))
    if (!used.count(p.filename().string()))
      warnings_.push_back(fmt::format("{}: not listed in {}, not read", p.string(), index_label));
}

const CheckpointTensor* Checkpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

TensorView Checkpoint::view(const std::string& name) const {
  const CheckpointTensor* t = find(name);
  if (t == nullptr) throw Error("not in the checkpoint", {.file = dir_.string(), .tensor = name});
  return t->file->view(*t->entry);
}

std::uint64_t Checkpoint::tensor_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [_, t] : tensors_) n += t.entry->end - t.entry->begin;
  return n;
}

std::uint64_t Checkpoint::file_bytes() const {
  std::uint64_t n = 0;
  for (const auto& f : files_) n += f->file_bytes();
  return n;
}

}  // namespace qg
