// qg_sse_test_server: the scripted OpenAI-compatible streaming server as a program, for the client
// overhead benchmark and manual runs. Binds 127.0.0.1 on an ephemeral port and prints "port N".
//   qg_sse_test_server [--ttft-ms 5] [--itl-ms 2] [--tokens-per-chunk 1] [--threads 64] [--seconds 600]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "load/scripted_server.h"

int main(int argc, char** argv) {
  qg::test::ServerScript script;
  double seconds = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
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
  qg::test::ScriptedServer server(script);
  std::printf("port %d\n", server.port());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return 0;
}
