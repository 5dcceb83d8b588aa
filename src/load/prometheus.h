#pragma once
// The server's Prometheus /metrics during a run (docs/serving-protocols.md §5): KV-cache usage and queue
// gauges (peak over samples) and token/preemption counters (delta over the run), for vLLM and SGLang.
// A background thread GETs /metrics every interval_s with its own libcurl handle (never the load loop).
// Absent endpoint or metrics: "present": false, the run goes on.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "load/load_client.h"

namespace qg::load {

// Prometheus text exposition: metric name -> value summed over its label sets. Comments skipped.
std::map<std::string, double> parse_prometheus_text(std::string_view text);

class PrometheusSampler {
 public:
  PrometheusSampler(const ClientOptions& client, double interval_s = 0.5);
  ~PrometheusSampler();
  void start();
  nlohmann::ordered_json stop();  // {"present", "gauges_peak", "counters_delta", "samples"}

 private:
  void sample();
  ClientOptions client_;
  double interval_s_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  bool present_ = false;
  std::size_t samples_ = 0;
  std::map<std::string, double> first_, last_, peak_;
};

}  // namespace qg::load
