#pragma once
// Runs an external program (gnuplot for the charts) and waits for it, its stdout and stderr going to a file.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qg::report {

// argv[0] is looked up in PATH. Returns the exit status, or nullopt when the program cannot be started (not
// installed). A signal death counts as status 128 + signal, as shells report it.
std::optional<int> run_program(const std::vector<std::string>& argv, const std::filesystem::path& output_log);

}  // namespace qg::report
