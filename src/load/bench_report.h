#pragma once
// Results of `quantgate bench`: one JSON object per concurrency level carrying the keys of
// `vllm bench serve`'s result file where the meaning is the same (mean_/median_/std_/p<P>_{ttft,tpot,itl,
// e2el}_ms, request_throughput, ...), plus quantgate's extras under "quantgate"; and a human table.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "load/bench_metrics.h"

namespace qg::load {

// numpy/vLLM percentile key: 99 -> "p99", 99.9 -> "p99.9".
std::string percentile_key(double p);

nlohmann::ordered_json level_json(const LevelMetrics& m);
// Per-request detail (vLLM's --save-detailed arrays: input_lens, output_lens, ttfts, itls, start_times,
// errors, latencies, queue_times), seconds.
nlohmann::ordered_json level_detail_json(const LoadRun& run, bool rate_mode);

std::string levels_table(const std::vector<LevelMetrics>& levels);

}  // namespace qg::load
