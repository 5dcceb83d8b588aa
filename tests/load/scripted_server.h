#pragma once
// A scripted OpenAI-compatible streaming server for tests and client-overhead benchmarks (127.0.0.1,
// ephemeral port). Plain Linux APIs: non-blocking sockets on epoll, emission times on a timerfd (absolute
// CLOCK_MONOTONIC = now_seconds()'s clock), HTTP/1.1 keep-alive, one HTTP chunk per SSE event. One event
// loop thread by default (ServerScript::threads loops share the listening socket), so thousands of
// concurrent streams cost file descriptors, not threads. Each request streams `output tokens` (its max_tokens, else the script's
// default) in chunks of tokens_per_chunk: the first content chunk ttft_ms after the request arrived, then
// one chunk every itl_ms, scheduled on absolute times (no drift), then a usage chunk and [DONE].
// Chat requests get a vLLM-style role chunk (delta.role, content "") just before the first content chunk.
// Faults are assigned by arrival order from a cyclic plan. The server records, per request, the
// now_seconds() at which it wrote each chunk, so tests compare the client's measurements with the truth.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace qg::test {

enum class ScriptFault {
  kNone,
  kHttp500,         // HTTP 500 with an OpenAI error body
  kHttp429,         // HTTP 429 (4xx)
  kResetMidStream,  // after fault_after_chunks content chunks, the connection is dropped
  kMalformedJson,   // a chunk whose data is not JSON, then the stream goes on normally
  kErrorEvent,      // a {"error":...} event after fault_after_chunks chunks, then [DONE] (vLLM style)
  kStall,           // after fault_after_chunks chunks, silence for stall_ms, then the connection closes
  kNoDone,          // all chunks and usage, then the response ends without [DONE]
};

struct ServerScript {
  double ttft_ms = 5;
  double itl_ms = 2;
  int tokens_per_chunk = 1;
  int default_output_tokens = 8;
  int fault_after_chunks = 2;
  double stall_ms = 2000;
  std::vector<ScriptFault> fault_plan;  // cycled by arrival index; empty = no faults
  std::string model = "scripted-model";
  int threads = 1;                      // event-loop threads (each owns the connections it accepted)
};

struct ServedRequest {
  std::string request_id;  // x-request-id
  std::string path;
  ScriptFault fault = ScriptFault::kNone;
  double received = 0;                 // now_seconds() when the request was complete
  std::vector<double> event_times;     // just before each chunk with choices was written (role chunk included)
  std::vector<int> event_tokens;       // tokens in each of those chunks (0 for the role chunk)
  int prompt_tokens = 0;               // whitespace-separated words of the prompt
  int completion_tokens = 0;
};

class ScriptedServer {
 public:
  explicit ScriptedServer(ServerScript script);
  ~ScriptedServer();  // stops the server
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  int port() const;
  std::string base_url() const;
  std::vector<ServedRequest> served() const;  // a copy, in arrival order
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::test
