#include "report/checkpoint_identity.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "common/sha256.h"

namespace qg {

namespace {
bool is_identity_file(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return name == "config.json" || name == "tokenizer.json" || name == "tokenizer_config.json" ||
         ends_with(".safetensors") || ends_with(".safetensors.index.json");
}

std::string mtime_utc(const std::filesystem::path& p) {
  const auto ft = std::filesystem::last_write_time(p);
  const auto sys = std::chrono::file_clock::to_sys(ft);
  const std::time_t t = std::chrono::system_clock::to_time_t(sys);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

nlohmann::json checkpoint_identity_json(const std::filesystem::path& dir, bool hash) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && is_identity_file(e.path().filename().string())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  nlohmann::json list = nlohmann::json::array();
  std::uint64_t total = 0;
  for (const auto& f : files) {
    const auto bytes = std::filesystem::file_size(f);
    total += bytes;
    nlohmann::json j = {{"name", f.filename().string()}, {"bytes", bytes}, {"mtime_utc", mtime_utc(f)}};
    if (hash) j["sha256"] = sha256_file_hex(f);
    list.push_back(std::move(j));
  }
  return {{"dir", dir.string()}, {"files", list}, {"total_bytes", total}, {"hashed", hash}};
}

}  // namespace qg
