#pragma once
// Where tests find their inputs, and scratch space they clean up.
#include <filesystem>
#include <string>

namespace qg::test {

inline std::filesystem::path fixtures_dir() { return QG_FIXTURES_DIR; }
inline std::filesystem::path shared_datasets_dir() { return QG_SHARED_DATASETS_DIR; }

// A fresh, empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace qg::test
