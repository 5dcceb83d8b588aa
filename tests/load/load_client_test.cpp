// The libcurl client against the scripted server (loopback): timings agree with what the server recorded
// when it wrote each chunk, every fault kind is counted, connection refused is a fault, rate mode.
// Timing bounds: client and server share one process and one steady clock, so for each chunk
// delay = (client timestamp) − (server write timestamp) is the loopback delivery + curl + parse time,
// ~0.05-0.3 ms on an idle machine. We assert the MEDIAN delay per run (robust to a few preempted
// events on a loaded 2-core CI box) and a loose per-event bound that only catches systematic errors
// (e.g. timestamps taken per read batch or after the stream ended).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "catch.h"
#include "load/bench_metrics.h"
#include "load/clock.h"
#include "load/fd_limit.h"
#include "load/load_client.h"
#include "load/request_builder.h"
#include "load/scripted_server.h"

using namespace qg::load;
using qg::test::ScriptedServer;
using qg::test::ServerScript;
using qg::test::ScriptFault;

namespace {

LoadPlan make_plan(Endpoint ep, std::size_t n, std::size_t conc, int out_tokens) {
  RequestOptions ro;
  ro.endpoint = ep;
  ro.model = "scripted-model";
  ro.max_tokens = out_tokens;
  LoadPlan plan;
  for (int i = 0; i < 4; ++i) {
    plan.bodies.push_back(build_request_body(ro, Prompt{"one two three four five six", 6, -1}));
    plan.prompt_tokens.push_back(6);
  }
  plan.num_requests = n;
  plan.max_concurrency = conc;
  return plan;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Agreement {
  std::vector<double> event_delay_ms;   // client event time − server write time, every chunk with choices
  std::vector<double> ttft_err_ms;      // measured TTFT − true TTFT (server first write − client start)
  std::vector<double> itl_err_ms;       // measured gap − server gap
  std::vector<double> e2e_err_ms;
};

Agreement compare(const LoadRun& run, const std::vector<qg::test::ServedRequest>& served) {
  std::map<std::string, const qg::test::ServedRequest*> by_id;
  for (const auto& s : served) by_id[s.request_id] = &s;
  Agreement a;
  for (const auto& r : run.records) {
    REQUIRE(r.ok());
    auto it = by_id.find(r.id);
    REQUIRE(it != by_id.end());
    const auto& s = *it->second;
    REQUIRE(r.events.size() == s.event_times.size());
    for (std::size_t i = 0; i < r.events.size(); ++i) {
      a.event_delay_ms.push_back((r.events[i].t - s.event_times[i]) * 1e3);
      if (i > 0)
        a.itl_err_ms.push_back(((r.events[i].t - r.events[i - 1].t) - (s.event_times[i] - s.event_times[i - 1])) * 1e3);
    }
    a.ttft_err_ms.push_back(((r.first_token() - r.start) - (s.event_times.front() - r.start)) * 1e3);
    a.e2e_err_ms.push_back(((r.last_token() - r.start) - (s.event_times.back() - r.start)) * 1e3);
  }
  return a;
}

int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);  // nothing listens there now: connect() is refused
  return port;
}

}  // namespace

TEST_CASE("client: concurrency 1 timings agree with the server's write times within 1 ms", "[load]") {
  ServerScript script;
  script.ttft_ms = 5;
  script.itl_ms = 2;
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  client.timeout_s = 10;
  auto plan = make_plan(Endpoint::kCompletions, 20, 1, 8);
  plan.warmup_requests = 2;
  const auto run = run_load(client, plan);
  REQUIRE(run.records.size() == 20);
  CHECK(run.warmup.size() == 2);
  const auto served = server.served();
  const auto a = compare(run, served);
  // Where a TTFT above the script comes from: request delivery (client start -> server has the request)
  // and the server's wake-up lateness (scripted time -> first write).
  std::vector<double> to_server_ms, server_late_ms;
  for (const auto& r : run.records)
    for (const auto& s : served)
      if (s.request_id == r.id) {
        to_server_ms.push_back((s.received - r.start) * 1e3);
        server_late_ms.push_back((s.event_times.front() - s.received) * 1e3 - script.ttft_ms);
      }
  INFO("median delivery delay " << median(a.event_delay_ms) << " ms; request to server " << median(to_server_ms)
                                << " ms; server wake-up late by " << median(server_late_ms) << " ms");
  // 1 ms: the bound at concurrency 1 (medians, see the header comment).
  CHECK(median(a.event_delay_ms) >= 0.0);
  CHECK(median(a.event_delay_ms) < 1.0);
  CHECK(std::abs(median(a.ttft_err_ms)) < 1.0);
  CHECK(std::abs(median(a.itl_err_ms)) < 1.0);
  CHECK(std::abs(median(a.e2e_err_ms)) < 1.0);
  // Per event: a sanity bound only (a descheduled thread on a loaded CI box can add tens of ms); the
  // medians above are the accuracy check.
  for (double d : a.event_delay_ms) CHECK(d < 250.0);
  // And against the script itself: TTFT >= 5 ms and ITL ~2 ms (server sleep overshoot included).
  auto m = compute_level_metrics(run, plan, {50, 99}, {});
  CHECK(m.completed == 20);
  CHECK(m.ttft_ms.median >= 5.0);
  CHECK(m.ttft_ms.median < 6.0);
  CHECK(m.itl_ms.median == Approx(2.0).margin(1.0));
  CHECK(m.tpot_ms.median == Approx(2.0).margin(1.0));
  CHECK(m.total_output_tokens == 20 * 8);
  CHECK(m.output_token_source == "server usage");
  CHECK(m.prompt_len_mismatched == 0);  // the server counts words, our prompt has 6
  CHECK(run.http_version == "1.1");
  // Cleartext auto is HTTP/1.1 for every request, and one keep-alive connection carries the 2 warm-up and 20
  // measured requests in turn (concurrency 1).
  for (const auto& r : run.records) CHECK(r.http_version == "1.1");
  CHECK(run.connections_opened == 1);
  CHECK(m.http_versions == std::map<std::string, std::size_t>{{"1.1", 20}});
}

TEST_CASE("client: chat with a role chunk and several tokens per chunk", "[load]") {
  ServerScript script;
  script.ttft_ms = 4;
  script.itl_ms = 2;
  script.tokens_per_chunk = 3;
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  client.path = endpoint_path(Endpoint::kChat);
  auto plan = make_plan(Endpoint::kChat, 6, 2, 10);
  const auto run = run_load(client, plan);
  const auto a = compare(run, server.served());
  CHECK(median(a.event_delay_ms) < 1.0);
  for (const auto& r : run.records) {
    REQUIRE(r.events.size() == 1 + 4);  // role chunk + ceil(10/3) content chunks
    CHECK(r.events[0].text_bytes == 0);
    CHECK(r.first_content() >= r.first_token());
    CHECK(r.usage.completion_tokens == 10);
  }
  auto m = compute_level_metrics(run, plan, {50}, {});
  CHECK(m.total_output_tokens == 60);
  // Per-token ITL: 2 ms gaps over 2.5 tokens per chunk on average (10 tokens in 4 text chunks).
  CHECK(m.itl_per_token_ms.median == Approx(2.0 / 2.5).margin(0.5));
}

TEST_CASE("client: concurrency 256 with short streams", "[load]") {
  ServerScript script;
  script.ttft_ms = 20;
  script.itl_ms = 5;
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  client.timeout_s = 30;
  auto plan = make_plan(Endpoint::kCompletions, 256, 256, 4);
  plan.warmup_requests = 256;  // opens the 256 keep-alive connections before the measured phase
  const auto run = run_load(client, plan);
  REQUIRE(run.records.size() == 256);
  CHECK(run.peak_in_flight == 256);
  const auto a = compare(run, server.served());
  INFO("median delivery delay at 256: " << median(a.event_delay_ms) << " ms, itl err " << median(a.itl_err_ms));
  // Bound at 256: all 256 streams' chunks are due at the same instant, so each burst of 256 chunks is
  // formatted and sent by the server's event loop and parsed by one client thread, all on the CI box's 2 cores;
  // the median chunk waits behind ~128 others. Measured here: median delay 1-3 ms on an idle 2-core
  // machine, 30 ms with load average 10 (parallel builds), 69 ms (TTFT error 78 ms) with load average
  // ~10 plus a fuzzer on one of the two cores. This absolute delay measures CPU starvation of the box,
  // not the client, so its bound is loose (250 ms: still far below the seconds that a timer started
  // after the client's own queue would show); chunk gaps shift together within a burst, so the ITL
  // error, which is what the client itself could distort, keeps a tight 10 ms bound.
  CHECK(median(a.event_delay_ms) >= 0.0);
  CHECK(median(a.event_delay_ms) < 250.0);
  CHECK(std::abs(median(a.ttft_err_ms)) < 250.0);
  CHECK(std::abs(median(a.itl_err_ms)) < 10.0);
  // HTTP/1.1 carries one request per connection at a time: the warm-up opened 256 connections and the measured
  // requests reused them all (the pool holds concurrency + 16), none opened a new one.
  CHECK(run.connections_opened == 256);
  std::size_t measured_new = 0;
  for (const auto& r : run.records) measured_new += static_cast<std::size_t>(r.new_connections);
  CHECK(measured_new == 0);
}

TEST_CASE("client: concurrency 512, every stream completes on the script's schedule", "[load]") {
  // Client and server share this process: 512 client sockets + 512 server sockets + curl's own.
  const std::size_t fds = raise_fd_limit(4096);
  REQUIRE(fds >= 2 * 512 + 128);
  ServerScript script;
  script.ttft_ms = 50;
  script.itl_ms = 40;
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  client.timeout_s = 30;
  const int out_tokens = 4;
  auto plan = make_plan(Endpoint::kCompletions, 512, 512, out_tokens);
  plan.warmup_requests = 512;  // opens the 512 keep-alive connections before the measured phase
  const auto run = run_load(client, plan);
  REQUIRE(run.records.size() == 512);
  CHECK(run.peak_in_flight == 512);
  std::size_t ok = 0;
  for (const auto& r : run.records) {
    if (r.ok() && r.events.size() == static_cast<std::size_t>(out_tokens) && r.usage.completion_tokens == out_tokens) ++ok;
  }
  CHECK(ok == 512);
  CHECK(server.served().size() == 1024);
  const auto a = compare(run, server.served());
  // Against the script itself, per stream: TTFT − 50 ms, E2E (last chunk) − 170 ms, and the mean chunk
  // gap ((last − first) / 3) − 40 ms. The 512 requests start at one instant, so TTFT includes sending all
  // 512 and the server reading them, and each burst of 512 chunks due together is written by one server
  // thread and parsed by one client thread on 2 cores. Measured here with load average 6-11 (other
  // builds): TTFT − script median 20-95 ms, mean gap − script median −7 to 0 ms (the schedule is
  // absolute: a late first chunk is caught up, which shortens the mean gap by its lateness / 3). The
  // TTFT/E2E excess measures the box's CPU starvation, not the client: the 256 test's loose 250 ms; the
  // mean gap: 20 ms. (Single gaps are not bounded: on a starved box a late chunk and the next one due
  // arrive back to back, a 0 ms gap.)
  std::vector<double> ttft_vs_script, e2e_vs_script, itl_vs_script;
  for (const auto& r : run.records) {
    ttft_vs_script.push_back((r.first_token() - r.start) * 1e3 - script.ttft_ms);
    e2e_vs_script.push_back((r.last_token() - r.start) * 1e3 - (script.ttft_ms + (out_tokens - 1) * script.itl_ms));
    itl_vs_script.push_back((r.last_token() - r.first_token()) * 1e3 / (out_tokens - 1) - script.itl_ms);
  }
  INFO("TTFT − script: median " << median(ttft_vs_script) << " ms; E2E − script: median " << median(e2e_vs_script)
                               << " ms; mean ITL − script: median " << median(itl_vs_script)
                               << " ms; delivery delay median " << median(a.event_delay_ms) << " ms");
  CHECK(median(ttft_vs_script) >= 0.0);  // the server never writes before the scripted time
  CHECK(median(ttft_vs_script) < 250.0);
  CHECK(median(e2e_vs_script) >= 0.0);
  CHECK(median(e2e_vs_script) < 250.0);
  CHECK(std::abs(median(itl_vs_script)) < 20.0);
  CHECK(median(a.event_delay_ms) >= 0.0);
  CHECK(median(a.event_delay_ms) < 250.0);
}

TEST_CASE("client: every fault kind is counted and the run goes on", "[load]") {
  ServerScript script;
  script.ttft_ms = 2;
  script.itl_ms = 1;
  script.stall_ms = 1500;
  script.fault_plan = {ScriptFault::kNone,          ScriptFault::kHttp500,     ScriptFault::kHttp429,
                       ScriptFault::kResetMidStream, ScriptFault::kMalformedJson, ScriptFault::kErrorEvent,
                       ScriptFault::kStall,         ScriptFault::kNoDone};
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  client.timeout_s = 0.3;  // the stall (1.5 s) exceeds it; normal gaps (<= 2 ms) never do
  // Concurrency 1 so arrival order = plan order; two rounds of the plan.
  auto plan = make_plan(Endpoint::kCompletions, 16, 1, 6);
  const auto run = run_load(client, plan);
  auto m = compute_level_metrics(run, plan, {50}, {});
  CHECK(m.completed == 2);
  CHECK(m.failed == 14);
  auto count = [&](FaultKind k) { return m.faults[static_cast<std::size_t>(k)]; };
  CHECK(count(FaultKind::kHttp5xx) == 2);
  CHECK(count(FaultKind::kHttp4xx) == 2);
  CHECK(count(FaultKind::kTransfer) == 2);
  CHECK(count(FaultKind::kMalformedJson) == 2);
  CHECK(count(FaultKind::kErrorEvent) == 2);
  CHECK(count(FaultKind::kStall) == 2);
  CHECK(count(FaultKind::kNoDone) == 2);
  CHECK(count(FaultKind::kConnect) == 0);
  // Nothing measured is lost: a failed stream keeps the events it received.
  for (const auto& r : run.records) {
    if (r.fault == FaultKind::kTransfer || r.fault == FaultKind::kStall) CHECK(r.events.size() == 2);
    if (r.fault == FaultKind::kMalformedJson || r.fault == FaultKind::kNoDone) CHECK(r.events.size() == 6);
    if (r.fault == FaultKind::kHttp5xx) CHECK(r.error.find("scripted 500") != std::string::npos);
  }
}

TEST_CASE("client: connection refused fails every request with a connect fault", "[load]") {
  ClientOptions client;
  client.base_url = "http://127.0.0.1:" + std::to_string(closed_port());
  client.timeout_s = 5;
  auto plan = make_plan(Endpoint::kCompletions, 5, 2, 4);
  const auto run = run_load(client, plan);
  auto m = compute_level_metrics(run, plan, {50}, {});
  CHECK(m.completed == 0);
  CHECK(m.faults[static_cast<std::size_t>(FaultKind::kConnect)] == 5);
  CHECK(m.first_error.rfind("connect:", 0) == 0);
}

TEST_CASE("client: Poisson rate mode measures from the scheduled time", "[load]") {
  ServerScript script;
  script.ttft_ms = 3;
  script.itl_ms = 1;
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  auto plan = make_plan(Endpoint::kCompletions, 30, 2, 4);
  plan.request_rate = 300;  // faster than 2 slots can serve (each ~6 ms): requests queue
  plan.seed = 3;
  const auto run = run_load(client, plan);
  REQUIRE(run.records.size() == 30);
  double prev = 0;
  bool any_queued = false;
  for (const auto& r : run.records) {
    CHECK(r.start >= r.scheduled);
    CHECK(r.scheduled >= prev);
    prev = r.scheduled;
    if (r.start - r.scheduled > 0.002) any_queued = true;
  }
  CHECK(any_queued);
  auto m = compute_level_metrics(run, plan, {50}, {});
  CHECK(m.rate_mode);
  CHECK(m.queue_ms.count == 30);
  // TTFT from the scheduled time includes the queue wait, so its mean exceeds the server's TTFT + queue.
  CHECK(m.ttft_ms.mean >= m.queue_ms.mean + 3.0 - 0.5);
}

TEST_CASE("client: --duration stops starting requests and lets those in flight finish", "[load]") {
  ServerScript script;
  script.ttft_ms = 3;
  script.itl_ms = 1;
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  auto plan = make_plan(Endpoint::kCompletions, 0, 2, 4);
  plan.duration_s = 0.15;
  const auto run = run_load(client, plan);
  // Each request takes ~6 ms, two at a time: ~50 in 0.15 s; >= 6 even if CI runs 8x slower.
  CHECK(run.records.size() >= 6);
  CHECK(run.duration() >= 0.15);
  for (const auto& r : run.records) CHECK(r.ok());
  CHECK(server.served().size() == run.records.size());
}

TEST_CASE("client: progress snapshots during a phase, at most one per interval, exact at the end", "[load]") {
  ServerScript script;
  script.ttft_ms = 3;
  script.itl_ms = 5;
  ScriptedServer server(script);
  ClientOptions client;
  client.base_url = server.base_url();
  auto plan = make_plan(Endpoint::kCompletions, 24, 4, 10);  // 6 rounds of ~50 ms
  plan.warmup_requests = 4;
  plan.progress_interval_s = 0.04;
  std::vector<LoadProgress> seen;
  plan.on_progress = [&](const LoadProgress& p) { seen.push_back(p); };
  const double t0 = now_seconds();
  const auto run = run_load(client, plan);
  const double elapsed = now_seconds() - t0;
  REQUIRE(run.records.size() == 24);
  std::vector<LoadProgress> measured;
  for (const auto& p : seen)
    if (!p.warmup) measured.push_back(p);
  REQUIRE(measured.size() >= 2);
  // One per 40 ms at most (+ the warm-up's and the measured phase's closing calls).
  CHECK(seen.size() <= static_cast<std::size_t>(elapsed / 0.04) + 2);
  const auto& last = measured.back();
  CHECK(last.phase_done);
  CHECK(last.finished == 24);
  CHECK(last.failed == 0);
  CHECK(last.in_flight == 0);
  CHECK(last.output_tokens == 24 * 10);  // server usage of every finished request
  bool mid_run = false;
  for (std::size_t i = 0; i + 1 < measured.size(); ++i) {
    CHECK_FALSE(measured[i].phase_done);
    CHECK(measured[i].finished <= measured[i + 1].finished);
    CHECK(measured[i].output_tokens <= measured[i + 1].output_tokens);
    if (measured[i].in_flight > 0 && measured[i].output_tokens > 0) mid_run = true;
  }
  CHECK(mid_run);  // a snapshot taken while streams were running counted their chunks so far
}
