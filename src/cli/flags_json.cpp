#include "cli/flags_json.h"

namespace qg::cli {

nlohmann::json flags_json(CLI::App& cmd) {
  nlohmann::json flags = nlohmann::json::object();
  for (CLI::Option* opt : cmd.get_options()) {
    std::string name = opt->get_single_name();
    if (name == "help" || name.empty()) continue;
    nlohmann::json value;
    if (opt->count() > 0) {
      const auto& r = opt->results();
      if (opt->get_expected_max() == 0) value = true;  // a flag that was given
      else if (r.size() == 1) value = r.front();
      else value = r;
    } else {
      // Not given: the value of the bound variable, which still holds its default (CLI11 stringifies it).
      opt->capture_default_str();
      const std::string d = opt->get_default_str();
      if (opt->get_expected_max() == 0) value = false;
      else if (!d.empty()) value = d;
    }
    flags[name] = value;
  }
  return flags;
}

}  // namespace qg::cli
