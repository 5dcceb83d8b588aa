// qg_sse_test_server: the scripted OpenAI-compatible streaming server as a program, for the client
// overhead benchmark and manual runs. Binds 127.0.0.1 on an ephemeral port and prints "port N".
//   qg_sse_test_server [--ttft-ms 5] [--itl-ms 2] [--tokens-per-chunk 1] [--threads 1] [--seconds 600]
// --threads: event-loop threads (1 serves thousands of streams; more only help with idle cores).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "load/fd_limit.h"
#include "load/scripted_server.h"

int main(int argc, char** argv) {
  qg::test::ServerScript script;
  double seconds = 600;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", k.c_str());
      return 2;
    }
    const double v = std::atof(argv[i + 1]);
    if (k == "--ttft-ms") script.ttft_ms = v;
    else if (k == "--itl-ms") script.itl_ms = v;
    else if (k == "--tokens-per-chunk") script.tokens_per_chunk = static_cast<int>(v);
    else if (k == "--threads") script.threads = static_cast<int>(v);
    else if (k == "--seconds") seconds = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  // One descriptor per connection: the benchmark opens up to a few thousand.
  const std::size_t fds = qg::load::raise_fd_limit(65536);
  if (fds < 4096) std::fprintf(stderr, "warning: only %zu file descriptors (RLIMIT_NOFILE hard limit)\n", fds);
  qg::test::ScriptedServer server(script);
  std::printf("port %d\n", server.port());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return 0;
}
