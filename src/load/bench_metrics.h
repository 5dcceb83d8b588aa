#pragma once
// Per-level metrics of a load run, defined as `vllm bench serve` defines them (docs/serving-protocols.md
// §4) plus what it lacks: TTFT to the first content token and to the first byte, ITL per token, client
// queue time, faults by kind, token-count sources and the prompt-length check.
//   TTFT  = first chunk with choices − origin; E2EL = last chunk with choices − origin
//   TPOT  = (E2EL − TTFT) / (output_tokens − 1), requests with output_tokens > 1
//   ITL   = every gap between consecutive chunks with choices, pooled over requests
//   origin = the request's start, or its scheduled time in rate mode (no coordinated omission)
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "load/load_client.h"
#include "metrics/percentile.h"

namespace qg::load {

struct Slo {
  std::optional<double> ttft_ms, tpot_ms, e2el_ms;
  bool any() const { return ttft_ms || tpot_ms || e2el_ms; }
};
Slo parse_goodput(const std::vector<std::string>& items);  // "ttft:500" "tpot:50" "e2el:2000"

struct LevelMetrics {
  std::size_t max_concurrency = 0;
  double request_rate = 0;  // inf in fixed-concurrency mode
  double burstiness = 1;
  bool rate_mode = false;
  std::size_t completed = 0, failed = 0;
  double duration_s = 0;
  std::int64_t total_input_tokens = 0, total_output_tokens = 0;
  std::string input_token_source, output_token_source;  // "server usage", "client tokenizer", "chunks", mixes
  double request_throughput = 0, output_throughput = 0, total_token_throughput = 0;
  std::optional<double> request_goodput;
  double max_output_tokens_per_s = 0;  // peak 1-s count of token events (vLLM's definition)
  std::size_t max_concurrent_requests = 0;
  metrics::Summary ttft_ms, ttft_content_ms, ttfb_ms, tpot_ms, itl_ms, itl_per_token_ms, e2el_ms, queue_ms;
  std::array<std::size_t, kNumFaultKinds> faults{};
  std::string first_error;
  // Prompt length: server usage.prompt_tokens against ours, where both exist.
  std::size_t prompt_len_compared = 0, prompt_len_mismatched = 0;
  std::int64_t prompt_len_min_diff = 0, prompt_len_max_diff = 0;  // server − ours
  // Measured requests by the HTTP version they used ("1.1", "2"; failed ones too when a response came), and
  // connections opened in the level's run (warm-up included: its connections are the ones measured requests reuse).
  std::map<std::string, std::size_t> http_versions;
  std::size_t connections_opened = 0;
};

// Measured requests by negotiated HTTP version; requests that got no response (no version) are not counted.
std::map<std::string, std::size_t> count_http_versions(const std::vector<RequestRecord>& records);

LevelMetrics compute_level_metrics(const LoadRun& run, const LoadPlan& plan, const std::vector<double>& percentiles,
                                   const Slo& slo);

}  // namespace qg::load
