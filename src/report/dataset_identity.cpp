#include "report/dataset_identity.h"

#include "common/error.h"
#include "common/sha256.h"

namespace qg {

nlohmann::json dataset_identity_json(const std::filesystem::path& dir, const std::vector<std::string>& relative_paths) {
  nlohmann::json files = nlohmann::json::array();
  std::string sums;
  for (const auto& rel : relative_paths) {
    const auto path = dir / rel;
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    if (ec) throw Error("cannot read the dataset file: " + ec.message(), {.file = path.string()});
    const std::string sha = sha256_file_hex(path);
    sums += sha + "  " + rel + "\n";
    files.push_back({{"name", rel}, {"bytes", bytes}, {"sha256", sha}});
  }
  return {{"dir", dir.string()}, {"files", files}, {"sha256", sha256_hex(sums)}};
}

}  // namespace qg
