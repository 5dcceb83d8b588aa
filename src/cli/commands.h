#pragma once
// Each subcommand registers itself on the app and returns the function that runs it.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace qg::cli {

// Runs the command; returns the process exit code (0 ok, 1 gate failed, 2 error).
using CommandRunner = std::function<int(const std::vector<std::string>& argv)>;

CommandRunner register_inspect(CLI::App& app);
CommandRunner register_quantize(CLI::App& app);
CommandRunner register_tokenize(CLI::App& app);
CommandRunner register_score(CLI::App& app);
CommandRunner register_bench(CLI::App& app);
CommandRunner register_mmlu(CLI::App& app);
CommandRunner register_kl(CLI::App& app);
CommandRunner register_card(CLI::App& app);
CommandRunner register_gate(CLI::App& app);
CommandRunner register_compare(CLI::App& app);
CommandRunner register_bench_engine(CLI::App& app);

}  // namespace qg::cli
