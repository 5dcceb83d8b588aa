#pragma once
// Every flag of a parsed subcommand with its value, for provenance: what was given on the command line as
// typed, every other flag with the default it took. Keys are the flag names without dashes ("max-kl").
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace qg::cli {

nlohmann::json flags_json(CLI::App& cmd);

}  // namespace qg::cli
