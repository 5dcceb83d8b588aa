#include "report/provenance.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "qg_git_sha.h"
#include "qg_version.h"

namespace qg {

std::string quantgate_version_string() { return fmt::format("quantgate {} (git {})", QG_VERSION, QG_GIT_SHA); }

nlohmann::json provenance_json(const std::vector<std::string>& argv) {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {{"quantgate_version", QG_VERSION}, {"git_sha", QG_GIT_SHA}, {"host", host}, {"time_utc", when},
          {"argv", argv}};
}

}  // namespace qg
