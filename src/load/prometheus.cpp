#include "load/prometheus.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace qg::load {

namespace {
const char* const kGauges[] = {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:num_requests_running",
                               "vllm:num_requests_waiting", "sglang:token_usage", "sglang:num_used_tokens",
                               "sglang:num_running_reqs", "sglang:num_queue_reqs", "llamacpp:requests_processing",
                               "llamacpp:requests_deferred"};
const char* const kCounters[] = {"vllm:num_preemptions_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                                 "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
                                 "sglang:prompt_tokens_total", "sglang:generation_tokens_total",
                                 "sglang:cached_tokens_total", "llamacpp:prompt_tokens_total",
                                 "llamacpp:tokens_predicted_total"};
}  // namespace

std::map<std::string, double> parse_prometheus_text(std::string_view text) {
  std::map<std::string, double> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    std::size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    const std::string name(line.substr(0, name_end));
    std::size_t value_start = name_end;
    if (line[name_end] == '{') {
      // Label values may contain '}' inside quotes: scan respecting quotes.
      bool quoted = false;
      std::size_t i = name_end + 1;
      for (; i < line.size(); ++i) {
        if (line[i] == '\\' && quoted) {
          ++i;
          continue;
        }
        if (line[i] == '"') quoted = !quoted;
        if (line[i] == '}' && !quoted) break;
      }
      if (i >= line.size()) continue;
      value_start = i + 1;
    }
    while (value_start < line.size() && line[value_start] == ' ') ++value_start;
    const std::string value(line.substr(value_start, line.find(' ', value_start) - value_start));
    char* parse_end = nullptr;
    const double v = std::strtod(value.c_str(), &parse_end);
    if (parse_end == value.c_str()) continue;
    out[name] += v;
  }
  return out;
}

PrometheusSampler::PrometheusSampler(const ClientOptions& client, double interval_s)
    : client_(client), interval_s_(std::max(0.1, interval_s)) {}

PrometheusSampler::~PrometheusSampler() {
  if (running_) stop();
}

void PrometheusSampler::sample() {
  const HttpResponse r = http_get(client_, "/metrics", 2.0);
  if (r.status != 200) return;
  auto m = parse_prometheus_text(r.body);
  bool any = false;
  for (const char* g : kGauges)
    if (auto it = m.find(g); it != m.end()) {
      peak_[g] = std::max(peak_.count(g) ? peak_[g] : it->second, it->second);
      any = true;
    }
  for (const char* c : kCounters)
    if (auto it = m.find(c); it != m.end()) {
      if (!first_.count(c)) first_[c] = it->second;
      last_[c] = it->second;
      any = true;
    }
  if (any) {
    present_ = true;
    ++samples_;
  }
}

void PrometheusSampler::start() {
  sample();
  if (!present_) return;  // no /metrics (or none of ours): do not poll a server that lacks it
  running_ = true;
  thread_ = std::thread([this] {
    auto next = std::chrono::steady_clock::now();
    while (running_) {
      next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(interval_s_));
      while (running_ && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (running_) sample();
    }
  });
}

nlohmann::ordered_json PrometheusSampler::stop() {
  if (running_) {
    running_ = false;
    thread_.join();
    sample();  // the final counters
  }
  nlohmann::ordered_json j;
  j["present"] = present_;
  if (!present_) {
    j["reason"] = "no /metrics endpoint with vLLM/SGLang/llama.cpp metrics at the server";
    return j;
  }
  j["samples"] = samples_;
  j["interval_s"] = interval_s_;
  j["gauges_peak"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : peak_) j["gauges_peak"][k] = v;
  j["counters_delta"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : last_) j["counters_delta"][k] = v - first_[k];
  return j;
}

}  // namespace qg::load
