// `quantgate inspect PATH [--json OUT]`: what is in a checkpoint (or what a config.json implies).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "model/inspection.h"
#include "report/checkpoint_identity.h"
#include "report/inspect_report.h"
#include "report/provenance.h"
#include "cli/flags_json.h"

namespace qg::cli {

namespace {
struct InspectArgs {
  std::string path;
  std::string json_out;
  bool hash = false;
};
}  // namespace

CommandRunner register_inspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "What is in a checkpoint: architecture, layers, parameter counts and bytes on disk by component and dtype. "
      "PATH is a checkpoint directory or a bare config.json (counts without downloading weights).");
  cmd->add_option("PATH", args->path, "checkpoint directory or config.json")->required();
  cmd->add_option("--json", args->json_out, "write the results JSON here ('-' for stdout)");
  cmd->add_flag("--hash", args->hash, "record the sha256 of the checkpoint's files in the results' provenance (slow "
                                      "on a large checkpoint; size + mtime otherwise)");
  return [args, cmd](const std::vector<std::string>& argv) {
    const ModelInspection m = inspect_model(args->path);
    // A directory is a checkpoint whose identity the results carry (the card matches results by it).
    nlohmann::json checkpoints = nlohmann::json::object();
    if (std::filesystem::is_directory(args->path))
      checkpoints["inspected"] = checkpoint_identity_json(args->path, args->hash);
    const nlohmann::json provenance =
        provenance_json({.argv = argv, .flags = flags_json(*cmd), .checkpoints = checkpoints});
    if (args->json_out == "-") {
      std::cout << inspect_json(m, provenance).dump(2) << "\n";
      return 0;
    }
    std::cout << inspect_text(m);
    if (!args->json_out.empty()) {
      std::ofstream out(args->json_out);
      out << inspect_json(m, provenance).dump(2) << "\n";
      if (!out) throw Error("cannot write results JSON", {.file = args->json_out});
    }
    return 0;
  };
}

}  // namespace qg::cli
