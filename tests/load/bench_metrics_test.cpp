// Percentiles (numpy's linear method) and the per-level metrics on hand-made records.
#include <cmath>
#include <vector>

#include "catch.h"
#include "load/bench_metrics.h"
#include "load/bench_report.h"
#include "metrics/percentile.h"

using namespace qg::load;

TEST_CASE("percentiles match numpy's linear interpolation", "[load]") {
  const std::vector<double> v = {1, 2, 3, 4};
  CHECK(qg::metrics::percentile_sorted(v, 99) == Approx(3.97));  // np.percentile([1,2,3,4], 99)
  CHECK(qg::metrics::percentile_sorted(v, 50) == Approx(2.5));
  std::vector<double> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back(i);
  CHECK(qg::metrics::percentile_sorted(ten, 90) == Approx(9.1));
  CHECK(qg::metrics::percentile_sorted(ten, 99.9) == Approx(9.991));
  const double ps[] = {50, 99};
  auto s = qg::metrics::summarize({4, 1, 3, 2}, ps);
  CHECK(s.mean == Approx(2.5));
  CHECK(s.std == Approx(std::sqrt(1.25)));  // population std, as numpy
  CHECK(s.percentiles[1].second == Approx(3.97));
  CHECK(percentile_key(99) == "p99");
  CHECK(percentile_key(99.9) == "p99.9");
}

TEST_CASE("level metrics: TTFT, TPOT, ITL, E2E, throughput, faults, goodput", "[load]") {
  LoadRun run;
  run.begin = 100.0;
  run.finish = 102.0;
  // Request A: start 100.0, events at +0.010 (role), +0.010, +0.020, +0.030; 3 tokens by usage.
  RequestRecord a;
  a.start = a.scheduled = 100.0;
  a.first_byte = 100.001;
  a.events = {{100.010, 0, -1}, {100.010, 3, -1}, {100.020, 3, -1}, {100.030, 3, -1}};
  a.usage = {5, 3};
  a.prompt_tokens_ours = 5;
  a.saw_done = true;
  // Request B: start 101.0, ttft 20 ms, 2 text events, no usage (counted from chunks); prompt mismatch.
  RequestRecord b;
  b.start = b.scheduled = 101.0;
  b.events = {{101.020, 4, -1}, {101.060, 4, -1}};
  b.usage = {7, -1};
  b.prompt_tokens_ours = 5;
  b.saw_done = true;
  RequestRecord f1, f2;
  f1.fault = FaultKind::kHttp5xx;
  f1.error = "HTTP 500: boom";
  f2.fault = FaultKind::kStall;
  run.records = {a, b, f1, f2};
  LoadPlan plan;
  plan.max_concurrency = 2;
  const std::vector<double> pcts = {50, 99};
  Slo slo;
  slo.ttft_ms = 15;
  auto m = compute_level_metrics(run, plan, pcts, slo);
  CHECK(m.completed == 2);
  CHECK(m.failed == 2);
  CHECK(m.faults[static_cast<int>(FaultKind::kHttp5xx)] == 1);
  CHECK(m.faults[static_cast<int>(FaultKind::kStall)] == 1);
  CHECK(m.first_error == "http_5xx: HTTP 500: boom");
  CHECK(m.total_output_tokens == 3 + 2);
  CHECK(m.total_input_tokens == 5 + 7);
  CHECK(m.output_token_source == "chunks (1), server usage (1)");
  CHECK(m.ttft_ms.count == 2);
  CHECK(m.ttft_ms.mean == Approx(15.0));
  CHECK(m.ttft_content_ms.mean == Approx(15.0));
  CHECK(m.ttfb_ms.count == 1);
  CHECK(m.ttfb_ms.mean == Approx(1.0));
  // TPOT: A (30-10)/(3-1) = 10 ms; B (60-20)/(2-1) = 40 ms.
  CHECK(m.tpot_ms.count == 2);
  CHECK(m.tpot_ms.mean == Approx(25.0));
  // ITL: A gaps 0, 10, 10; B gap 40.
  CHECK(m.itl_ms.count == 4);
  CHECK(m.itl_ms.mean == Approx(15.0));
  CHECK(m.e2el_ms.mean == Approx((30.0 + 60.0) / 2));
  CHECK(m.request_throughput == Approx(1.0));
  CHECK(m.output_throughput == Approx(2.5));
  REQUIRE(m.request_goodput);
  CHECK(*m.request_goodput == Approx(0.5));  // only A meets TTFT <= 15 ms
  CHECK(m.prompt_len_compared == 2);
  CHECK(m.prompt_len_mismatched == 1);
  CHECK(m.prompt_len_max_diff == 2);
  CHECK(m.max_concurrent_requests == 1);
  auto j = level_json(m);
  CHECK(j["p99_ttft_ms"].get<double>() == Approx(10 + 10 * 0.99));
  CHECK(j["quantgate"]["errors_by_kind"]["stall_timeout"] == 1);
  CHECK(levels_table({m}).find("http_5xx=1") != std::string::npos);
}

#include "load/nvml_sampler.h"

TEST_CASE("vram: without the NVML library the report says not measured and why", "[load]") {
  NvmlSampler s(0.1, std::nullopt, "libqg-no-such-nvml.so.1");
  s.start();
  const VramReport r = s.stop();
  CHECK_FALSE(r.measured);
  CHECK(r.reason.find("cannot load libqg-no-such-nvml.so.1") != std::string::npos);
  CHECK(r.gpus.empty());
}

#include "load/prometheus.h"

TEST_CASE("prometheus: text exposition summed over label sets", "[load]") {
  const char* text =
      "# HELP vllm:kv_cache_usage_perc KV-cache usage.\n"
      "# TYPE vllm:kv_cache_usage_perc gauge\n"
      "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.25\n"
      "vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"a}b\"} 0.5\r\n"
      "vllm:num_preemptions_total{engine=\"0\"} 3 1760000000000\n"
      "plain_metric 7\n"
      "broken{engine=\"0\" \n";
  auto m = parse_prometheus_text(text);
  CHECK(m["vllm:kv_cache_usage_perc"] == Approx(0.75));
  CHECK(m["vllm:num_preemptions_total"] == Approx(3));
  CHECK(m["plain_metric"] == Approx(7));
  CHECK(m.count("broken") == 0);
}
