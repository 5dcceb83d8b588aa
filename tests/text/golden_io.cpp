#include "text/golden_io.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace qg::test {

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json read_json(const std::filesystem::path& path) { return nlohmann::json::parse(read_bytes(path)); }

std::vector<std::pair<std::string, Ids>> read_qgids(const std::filesystem::path& path) {
  const std::string data = read_bytes(path);
  std::size_t pos = 0;
  auto varint = [&]() -> std::uint64_t {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (pos >= data.size() || shift > 63) throw std::runtime_error(path.string() + ": truncated varint");
      const auto b = static_cast<unsigned char>(data[pos++]);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  if (data.compare(0, 8, "QGIDS001") != 0) throw std::runtime_error(path.string() + ": not a QGIDS001 file");
  pos = 8;
  std::vector<std::pair<std::string, Ids>> out(varint());
  for (auto& [name, ids] : out) {
    const std::size_t len = varint();
    if (pos + len > data.size()) throw std::runtime_error(path.string() + ": truncated name");
    name = data.substr(pos, len);
    pos += len;
    ids.resize(varint());
    for (auto& id : ids) id = static_cast<text::TokenId>(varint());
  }
  if (pos != data.size()) throw std::runtime_error(path.string() + ": trailing bytes");
  return out;
}

IdHashes fnv64_checkpoints(const Ids& ids, std::size_t every) {
  IdHashes h;
  std::uint64_t v = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto u = static_cast<std::uint32_t>(ids[i]);
    for (int k = 0; k < 4; ++k) v = (v ^ ((u >> (8 * k)) & 0xFFu)) * 0x100000001b3ull;
    if ((i + 1) % every == 0) h.checkpoints.push_back(fmt::format("{:016x}", v));
  }
  h.final_hex = fmt::format("{:016x}", v);
  return h;
}

std::string describe_mismatch(const Ids& expected, const Ids& actual, const std::string& context_text) {
  if (expected == actual) return {};
  std::size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  auto window = [&](const Ids& v) {
    const std::size_t b = i >= 4 ? i - 4 : 0, e = std::min(v.size(), i + 6);
    return fmt::format("[{}]", fmt::join(v.begin() + static_cast<std::ptrdiff_t>(b), v.begin() + static_cast<std::ptrdiff_t>(e), ", "));
  };
  return fmt::format("{}first difference at id #{} (expected {} ids, got {}); expected ...{}..., got ...{}...",
                     context_text.empty() ? "" : context_text + ": ", i, expected.size(), actual.size(), window(expected), window(actual));
}

}  // namespace qg::test
