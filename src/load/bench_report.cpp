#include "load/bench_report.h"

#include <fmt/format.h>

#include <cmath>

namespace qg::load {

std::string percentile_key(double p) {
  if (p == std::floor(p)) return fmt::format("p{}", static_cast<long>(p));
  return fmt::format("p{}", p);
}

namespace {
void add_summary(nlohmann::ordered_json& j, const std::string& name, const metrics::Summary& s) {
  j["mean_" + name + "_ms"] = s.mean;
  j["median_" + name + "_ms"] = s.median;
  j["std_" + name + "_ms"] = s.std;
  for (const auto& [p, v] : s.percentiles) j[percentile_key(p) + "_" + name + "_ms"] = v;
}
nlohmann::ordered_json summary_json(const metrics::Summary& s) {
  nlohmann::ordered_json j;
  j["count"] = s.count;
  j["mean"] = s.mean;
  j["stderr_mean"] = s.stderr_mean;
  j["std"] = s.std;
  j["min"] = s.min;
  j["median"] = s.median;
  j["max"] = s.max;
  for (const auto& [p, v] : s.percentiles) j[percentile_key(p)] = v;
  return j;
}
}  // namespace

nlohmann::ordered_json level_json(const LevelMetrics& m) {
  nlohmann::ordered_json j;
  if (m.rate_mode) j["request_rate"] = m.request_rate;
  else j["request_rate"] = "inf";
  j["burstiness"] = m.burstiness;
  j["max_concurrency"] = m.max_concurrency;
  j["duration"] = m.duration_s;
  j["completed"] = m.completed;
  j["failed"] = m.failed;
  j["total_input_tokens"] = m.total_input_tokens;
  j["total_output_tokens"] = m.total_output_tokens;
  j["request_throughput"] = m.request_throughput;
  j["request_goodput"] = m.request_goodput ? nlohmann::ordered_json(*m.request_goodput) : nlohmann::ordered_json();
  j["output_throughput"] = m.output_throughput;
  j["total_token_throughput"] = m.total_token_throughput;
  j["max_output_tokens_per_s"] = m.max_output_tokens_per_s;
  j["max_concurrent_requests"] = m.max_concurrent_requests;
  add_summary(j, "ttft", m.ttft_ms);
  add_summary(j, "tpot", m.tpot_ms);
  add_summary(j, "itl", m.itl_ms);
  add_summary(j, "e2el", m.e2el_ms);
  if (m.rate_mode) add_summary(j, "client_queue_time", m.queue_ms);

  nlohmann::ordered_json q;
  q["latency_origin"] = m.rate_mode ? "scheduled send time (client queue included)" : "request start";
  q["ttft_event"] = "first chunk with non-empty choices (vllm bench serve's definition)";
  q["ttft_ms"] = summary_json(m.ttft_ms);
  q["ttft_first_content_ms"] = summary_json(m.ttft_content_ms);
  q["ttfb_ms"] = summary_json(m.ttfb_ms);
  q["tpot_ms"] = summary_json(m.tpot_ms);
  q["itl_per_chunk_ms"] = summary_json(m.itl_ms);
  q["itl_per_token_ms"] = summary_json(m.itl_per_token_ms);
  q["e2el_ms"] = summary_json(m.e2el_ms);
  q["client_queue_time_ms"] = summary_json(m.queue_ms);
  nlohmann::ordered_json versions = nlohmann::ordered_json::object();
  for (const auto& [v, n] : m.http_versions) versions[v] = n;
  q["http_versions"] = versions;
  q["connections_opened"] = m.connections_opened;
  q["input_token_source"] = m.input_token_source;
  q["output_token_source"] = m.output_token_source;
  nlohmann::ordered_json faults = nlohmann::ordered_json::object();
  for (int k = 1; k < kNumFaultKinds; ++k) faults[fault_name(static_cast<FaultKind>(k))] = m.faults[static_cast<std::size_t>(k)];
  q["errors_by_kind"] = faults;
  q["first_error"] = m.first_error.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(m.first_error);
  q["prompt_len_check"] = {{"compared", m.prompt_len_compared},
                           {"mismatched", m.prompt_len_mismatched},
                           {"min_server_minus_ours", m.prompt_len_min_diff},
                           {"max_server_minus_ours", m.prompt_len_max_diff},
                           {"note", "chat requests add the chat template's tokens on the server side"}};
  j["quantgate"] = q;
  return j;
}

nlohmann::ordered_json level_detail_json(const LoadRun& run, bool rate_mode) {
  nlohmann::ordered_json in = nlohmann::ordered_json::array(), out = nlohmann::ordered_json::array(),
                         ttfts = nlohmann::ordered_json::array(), itls = nlohmann::ordered_json::array(),
                         starts = nlohmann::ordered_json::array(), errors = nlohmann::ordered_json::array(),
                         lat = nlohmann::ordered_json::array(), queue = nlohmann::ordered_json::array();
  for (const auto& r : run.records) {
    const double origin = rate_mode ? r.scheduled : r.start;
    in.push_back(r.usage.prompt_tokens >= 0 ? r.usage.prompt_tokens : r.prompt_tokens_ours);
    out.push_back(r.usage.completion_tokens);
    ttfts.push_back(r.events.empty() ? 0.0 : r.first_token() - origin);
    nlohmann::ordered_json gaps = nlohmann::ordered_json::array();
    for (std::size_t i = 1; i < r.events.size(); ++i) gaps.push_back(r.events[i].t - r.events[i - 1].t);
    itls.push_back(std::move(gaps));
    starts.push_back(r.start - run.begin);
    errors.push_back(r.ok() ? std::string() : std::string(fault_name(r.fault)) + ": " + r.error);
    lat.push_back(r.events.empty() ? 0.0 : r.last_token() - origin);
    queue.push_back(r.start - r.scheduled);
  }
  return {{"input_lens", in}, {"output_lens", out}, {"ttfts", ttfts}, {"itls", itls}, {"start_times", starts},
          {"errors", errors}, {"latencies", lat}, {"queue_times", queue}};
}

std::string levels_table(const std::vector<LevelMetrics>& levels) {
  std::string s = fmt::format("{:>6} {:>8} {:>6} {:>6} {:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "conc",
                              "rate", "ok", "fail", "req/s", "out tok/s", "tot tok/s", "TTFT p50", "TTFT p99", "TPOT p50",
                              "ITL p50", "ITL p99", "E2E p99");
  auto pct = [](const metrics::Summary& sm, double p) {
    for (const auto& [q, v] : sm.percentiles)
      if (q == p) return v;
    return sm.median;
  };
  for (const auto& m : levels) {
    s += fmt::format("{:>6} {:>8} {:>6} {:>6} {:>8.2f} {:>10.1f} {:>10.1f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f}\n",
                     m.max_concurrency, m.rate_mode ? fmt::format("{:.3g}", m.request_rate) : std::string("inf"),
                     m.completed, m.failed, m.request_throughput, m.output_throughput, m.total_token_throughput,
                     m.ttft_ms.median, pct(m.ttft_ms, 99), m.tpot_ms.median, m.itl_ms.median, pct(m.itl_ms, 99),
                     pct(m.e2el_ms, 99));
  }
  s += "times in ms; TTFT = first chunk with choices (vllm bench serve); tokens: see results JSON for sources\n";
  for (const auto& m : levels) {
    // HTTP versions used and connections opened: h2 multiplexes many requests over few connections.
    std::string v;
    for (const auto& [name, n] : m.http_versions) v += fmt::format("{}HTTP/{} x{}", v.empty() ? "" : ", ", name, n);
    s += fmt::format("concurrency {}: {}; {} connection{} opened\n", m.max_concurrency, v.empty() ? "no response" : v,
                     m.connections_opened, m.connections_opened == 1 ? "" : "s");
  }
  for (const auto& m : levels) {
    std::string f;
    for (int k = 1; k < kNumFaultKinds; ++k)
      if (m.faults[static_cast<std::size_t>(k)]) f += fmt::format(" {}={}", fault_name(static_cast<FaultKind>(k)), m.faults[static_cast<std::size_t>(k)]);
    if (!f.empty()) s += fmt::format("concurrency {}: errors{}\n", m.max_concurrency, f);
  }
  return s;
}

}  // namespace qg::load
