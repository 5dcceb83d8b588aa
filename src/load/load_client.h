#pragma once
// The load generator's HTTP side: one libcurl multi handle driven by one event loop on the calling thread
// (keep-alive connection pool, HTTP/2 where TLS negotiates it, HTTP/1.1 otherwise, or as ClientOptions::http
// says; h2 streams multiplexed over few connections; TLS verification on unless disabled). Each request streams SSE; every complete event is timestamped with now_seconds() when
// the read that completed it returns, so several events of one read share a timestamp.
// Scheduling: fixed concurrency (request_rate = inf: a new request starts as soon as one finishes) or a
// Poisson/gamma arrival process capped by max_concurrency, where each request's latency origin is its
// scheduled time and the wait for a free slot is reported as client queue time.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "load/http_version.h"
#include "load/stream_chunk.h"

namespace qg::load {

// Why a request failed; the first fault seen wins. Names are stable (results JSON keys).
enum class FaultKind : std::uint8_t {
  kNone,
  kConnect,        // connection refused / DNS / TLS handshake: nothing was sent
  kHttp4xx,        // HTTP status 400-499
  kHttp5xx,        // HTTP status 500-599 (or any other non-200)
  kTransfer,       // connection reset or closed mid-stream (curl receive/partial-file errors)
  kMalformedJson,  // an SSE event whose data is not a JSON object
  kErrorEvent,     // a {"error":...} event inside a 200 stream
  kStall,          // no byte for --timeout seconds
  kNoDone,         // the stream ended cleanly without `data: [DONE]`
  kNoTokens,       // HTTP 200 and [DONE] but no chunk with choices
  kOther,
};
inline constexpr int kNumFaultKinds = 11;
const char* fault_name(FaultKind kind);

struct TokenEvent {
  double t = 0;             // now_seconds() when the event was complete
  std::int32_t text_bytes = 0;  // bytes of content + reasoning text in it (0: role/finish-only chunk)
  std::int32_t tokens_hint = -1;  // tokens in this chunk when the server says (token_ids)
};

struct RequestRecord {
  std::string id;             // x-request-id sent: "<prefix>-<sequence>"
  std::size_t index = 0;      // position in the plan (prompt index modulo the prompt set)
  bool warmup = false;
  double scheduled = 0;       // when the scheduler wanted it sent (= start in fixed-concurrency mode)
  double start = 0;           // handed to libcurl
  double first_byte = -1;     // first response header byte
  double end = -1;            // transfer finished (or was abandoned)
  std::vector<TokenEvent> events;  // every SSE event with a non-empty choices array
  bool saw_done = false;
  long http_status = 0;
  FaultKind fault = FaultKind::kNone;
  std::string error;          // first error text (HTTP body excerpt, curl error, server error message)
  Usage usage;                // last non-null usage seen (-1 = not reported)
  std::int64_t prompt_tokens_ours = -1;  // our tokenizer's count for the prompt
  std::int64_t text_bytes = 0;
  std::string generated_text;  // kept only when ClientOptions::keep_text
  std::string model, system_fingerprint;
  std::string http_version;   // negotiated for this request: "1.1", "2" ("" when no response came)
  long new_connections = 0;   // connections this transfer opened (CURLINFO_NUM_CONNECTS; 0: it reused one)

  bool ok() const { return fault == FaultKind::kNone; }
  double first_token() const { return events.empty() ? -1 : events.front().t; }
  double first_content() const {  // first event carrying text (SGLang bench_serving's TTFT event)
    for (const auto& e : events)
      if (e.text_bytes > 0) return e.t;
    return -1;
  }
  double last_token() const { return events.empty() ? -1 : events.back().t; }
};

struct ClientOptions {
  std::string base_url;            // e.g. http://127.0.0.1:8000 (no trailing path)
  std::string path = "/v1/completions";
  std::string api_key;             // sent as Bearer; never logged or saved
  double timeout_s = 600;          // stall timeout: no byte for this long fails the request
  double connect_timeout_s = 30;
  bool verify_tls = true;
  std::string ca_file;             // PEM bundle of trusted CAs (an internal CA); empty: the system's
  bool keep_text = false;
  std::string request_id_prefix = "qg";
  HttpVersion http = HttpVersion::kAuto;  // --http; see load/http_version.h
};

// A snapshot of a phase in progress, for progress lines.
struct LoadProgress {
  bool warmup = false;
  std::size_t finished = 0;   // requests done (ok or failed) in this phase
  std::size_t failed = 0;
  std::size_t in_flight = 0;
  std::int64_t output_tokens = 0;  // finished: server usage (content chunks when not reported); in flight: content chunks so far
  double elapsed_s = 0;            // since the phase began
  bool phase_done = false;         // the last call of the phase
};

struct LoadPlan {
  std::vector<std::string> bodies;            // request bodies, used round-robin
  std::vector<std::int64_t> prompt_tokens;    // our count per body (-1 unknown), same size as bodies
  std::size_t num_requests = 0;               // measured requests (0 with duration_s > 0: until duration)
  std::size_t warmup_requests = 0;            // sent first at the same concurrency, excluded from metrics
  std::size_t max_concurrency = 1;
  double request_rate = std::numeric_limits<double>::infinity();  // req/s; inf = all due at once
  double burstiness = 1.0;                    // gamma shape; 1 = Poisson
  double duration_s = 0;                      // > 0: stop starting new requests after this long
  std::uint64_t seed = 0;
  // Called at most every progress_interval_s from the loop thread, and once when a phase ends (phase_done).
  std::function<void(const LoadProgress&)> on_progress;
  double progress_interval_s = 1.0;
};

struct LoadRun {
  std::vector<RequestRecord> records;  // measured requests, in start order (warm-up dropped)
  std::vector<RequestRecord> warmup;
  double begin = 0;     // first measured dispatch (or scheduled time in rate mode)
  double finish = 0;    // last measured request done
  double duration() const { return finish - begin; }
  std::size_t peak_in_flight = 0;
  std::uint64_t loop_iterations = 0;
  std::string http_version;  // of the last completed transfer: "1.1", "2"
  std::size_t connections_opened = 0;  // over warm-up and measured requests (one multi handle per run)
};

// Runs the plan. Throws qg::Error only for setup problems (libcurl init, empty plan); request failures
// are recorded in the records.
LoadRun run_load(const ClientOptions& client, const LoadPlan& plan);

// Simple GET (discovery: /v1/models, /version). Returns status (0 if no connection) and body.
struct HttpResponse {
  long status = 0;
  std::string body;
  std::string error;
};
HttpResponse http_get(const ClientOptions& client, const std::string& path, double timeout_s = 10);

}  // namespace qg::load
