#include "checkpoint/safetensors_writer.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace qg {

namespace fs = std::filesystem;

SafetensorsWriter::SafetensorsWriter(fs::path out_dir, SafetensorsWriterOptions options)
    : out_dir_(std::move(out_dir)), options_(std::move(options)) {
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec) throw Error("cannot create output directory: " + ec.message(), {.file = out_dir_.string()});
}

SafetensorsWriter::~SafetensorsWriter() {
  if (!finished_) cleanup();
}

void SafetensorsWriter::cleanup() noexcept {
  if (data_out_.is_open()) data_out_.close();
  std::error_code ec;
  for (const auto& s : shards_) fs::remove(s.data_tmp, ec);
}

void SafetensorsWriter::open_shard() {
  if (data_out_.is_open()) data_out_.close();
  Shard s;
  s.data_tmp = out_dir_ / fmt::format(".{}.shard{}.data.tmp", options_.basename, shards_.size());
  shards_.push_back(s);
  data_out_.open(s.data_tmp, std::ios::binary | std::ios::trunc);
  if (!data_out_) throw Error("cannot create temporary file", {.file = s.data_tmp.string()});
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const Shape& shape, std::span<const std::byte> data) {
  add_streamed(name, dtype, shape, [&](const Sink& sink) { sink(data); });
}

void SafetensorsWriter::add_streamed(const std::string& name, DType dtype, const Shape& shape,
                                     const std::function<void(const Sink&)>& produce) {
  if (finished_) throw Error("writer already finished", {.file = out_dir_.string(), .tensor = name});
  if (broken_) throw Error("an earlier tensor failed to write; start over", {.file = out_dir_.string(), .tensor = name});
  if (name.empty() || name == "__metadata__")
    throw Error("invalid tensor name", {.file = out_dir_.string(), .tensor = name});
  if (shard_of_.count(name)) throw Error("tensor added twice", {.file = out_dir_.string(), .tensor = name});
  const std::uint64_t nbytes = static_cast<std::uint64_t>(shape_numel(shape)) * dtype_size(dtype);
  if (shards_.empty() || (shards_.back().bytes > 0 && shards_.back().bytes + nbytes > options_.max_shard_bytes))
    open_shard();
  Shard& s = shards_.back();
  std::uint64_t written = 0;
  broken_ = true;  // until this tensor is completely written
  produce([&](std::span<const std::byte> piece) {
    written += piece.size();
    if (written > nbytes)
      throw Error(fmt::format("producer wrote more than the {} bytes of shape {} {}", nbytes, shape_str(shape),
                              dtype_name(dtype)),
                  {.file = out_dir_.string(), .tensor = name});
    data_out_.write(reinterpret_cast<const char*>(piece.data()), static_cast<std::streamsize>(piece.size()));
  });
  if (written != nbytes)
    throw Error(fmt::format("producer wrote {} bytes, shape {} {} needs {}", written, shape_str(shape),
                            dtype_name(dtype), nbytes),
                {.file = out_dir_.string(), .tensor = name});
  if (!data_out_) throw Error("write failed (disk full?)", {.file = s.data_tmp.string(), .tensor = name});
  broken_ = false;
  s.entries.push_back({name, dtype, shape, s.bytes, s.bytes + nbytes});
  s.bytes += nbytes;
  shard_of_[name] = shards_.size() - 1;
}

std::vector<fs::path> SafetensorsWriter::finish() {
  if (finished_) throw Error("writer already finished", {.file = out_dir_.string()});
  if (broken_) throw Error("an earlier tensor failed to write; nothing was finished", {.file = out_dir_.string()});
  if (shards_.empty()) open_shard();  // an empty checkpoint is still a valid file
  data_out_.close();
  const std::size_t n_shards = shards_.size();
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n_shards; ++i)
    names.push_back(n_shards == 1 ? options_.basename + ".safetensors"
                                  : fmt::format("{}-{:05d}-of-{:05d}.safetensors", options_.basename, i + 1, n_shards));

  std::vector<fs::path> written;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < n_shards; ++i) {
    const Shard& s = shards_[i];
    nlohmann::ordered_json header;
    if (!options_.metadata.empty()) header["__metadata__"] = options_.metadata;
    for (const auto& e : s.entries)
      header[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
    const fs::path final_path = out_dir_ / names[i];
    const fs::path tmp = out_dir_ / ("." + names[i] + ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw Error("cannot create", {.file = tmp.string()});
      std::uint64_t n = text.size();
      char len[8];
      for (int b = 0; b < 8; ++b) len[b] = static_cast<char>((n >> (8 * b)) & 0xff);
      out.write(len, 8);
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      std::ifstream in(s.data_tmp, std::ios::binary);
      std::vector<char> buf(8 << 20);
      while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        out.write(buf.data(), in.gcount());
      }
      if (!out) throw Error("write failed (disk full?)", {.file = tmp.string()});
    }
    std::error_code ec;
    fs::rename(tmp, final_path, ec);
    if (ec) throw Error("cannot rename into place: " + ec.message(), {.file = final_path.string()});
    fs::remove(s.data_tmp, ec);
    written.push_back(final_path);
    total += s.bytes;
  }

  if (n_shards > 1) {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", total}};
    nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
    for (const auto& [name, shard] : shard_of_) weight_map[name] = names[shard];  // std::map: sorted
    index["weight_map"] = weight_map;
    const fs::path index_path = out_dir_ / (options_.basename + ".safetensors.index.json");
    std::ofstream out(index_path);
    out << index.dump(2) << "\n";
    if (!out) throw Error("write failed", {.file = index_path.string()});
    written.push_back(index_path);
  }
  finished_ = true;
  return written;
}

}  // namespace qg
