// quantgate: one binary, one subcommand per job. Library errors (qg::Error) are caught here, once,
// printed on stderr and turned into exit code 2.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <map>

#include "cli/commands.h"
#include "common/error.h"
#include "report/provenance.h"

int main(int argc, char** argv) {
  CLI::App app{"quantgate: decide whether a quantized LLM release is good enough to ship", "quantgate"};
  app.set_version_flag("--version", qg::quantgate_version_string());
  app.require_subcommand(1);
  std::map<CLI::App*, qg::cli::CommandRunner> runners;
  auto add = [&](auto register_fn) {
    auto runner = register_fn(app);
    runners[app.get_subcommands({}).back()] = std::move(runner);
  };
  add(qg::cli::register_inspect);
  add(qg::cli::register_quantize);
  add(qg::cli::register_tokenize);
  add(qg::cli::register_score);
  add(qg::cli::register_bench);
  add(qg::cli::register_mmlu);
  add(qg::cli::register_kl);
  add(qg::cli::register_card);
  add(qg::cli::register_gate);
  add(qg::cli::register_compare);
  add(qg::cli::register_bench_engine);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version or the parse error
    return code == 0 ? 0 : 2;
  }
  const std::vector<std::string> args(argv, argv + argc);
  try {
    for (auto* sub : app.get_subcommands())
      if (auto it = runners.find(sub); it != runners.end()) return it->second(args);
    std::fputs("error: no command given (see --help)\n", stderr);
    return 2;
  } catch (const qg::Error& e) {
    std::fputs(fmt::format("error: {}\n", e.what()).c_str(), stderr);
    return 2;
  } catch (const std::exception& e) {
    std::fputs(fmt::format("error: {}\n", e.what()).c_str(), stderr);
    return 2;
  }
}
