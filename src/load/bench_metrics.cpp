#include "load/bench_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/error.h"

namespace qg::load {

Slo parse_goodput(const std::vector<std::string>& items) {
  Slo s;
  for (const auto& item : items) {
    const auto colon = item.find(':');
    if (colon == std::string::npos) throw Error("--goodput expects KEY:MS, got '" + item + "'");
    const std::string key = item.substr(0, colon);
    double v = 0;
    try {
      v = std::stod(item.substr(colon + 1));
    } catch (...) {
      throw Error("--goodput value is not a number: '" + item + "'");
    }
    if (key == "ttft") s.ttft_ms = v;
    else if (key == "tpot") s.tpot_ms = v;
    else if (key == "e2el") s.e2el_ms = v;
    else throw Error("--goodput key must be ttft, tpot or e2el, got '" + key + "'");
  }
  return s;
}

namespace {
std::string join_sources(const std::map<std::string, std::size_t>& counts) {
  std::string out;
  for (const auto& [k, n] : counts) out += (out.empty() ? "" : ", ") + k + (counts.size() > 1 ? " (" + std::to_string(n) + ")" : "");
  return out.empty() ? "none" : out;
}
}  // namespace

std::map<std::string, std::size_t> count_http_versions(const std::vector<RequestRecord>& records) {
  std::map<std::string, std::size_t> counts;
  for (const auto& r : records)
    if (!r.http_version.empty()) ++counts[r.http_version];
  return counts;
}

LevelMetrics compute_level_metrics(const LoadRun& run, const LoadPlan& plan, const std::vector<double>& pcts,
                                   const Slo& slo) {
  LevelMetrics m;
  m.max_concurrency = plan.max_concurrency;
  m.request_rate = plan.request_rate;
  m.burstiness = plan.burstiness;
  m.rate_mode = std::isfinite(plan.request_rate) && plan.request_rate > 0;
  m.duration_s = run.duration();
  m.http_versions = count_http_versions(run.records);
  m.connections_opened = run.connections_opened;
  std::vector<double> ttft, ttft_content, ttfb, tpot, itl, itl_tok, e2el, queue;
  std::map<std::string, std::size_t> in_src, out_src;
  std::vector<std::pair<double, int>> sweep;
  std::map<long, std::size_t> event_bins;
  std::size_t good = 0;
  bool first_diff = true;
  for (const auto& r : run.records) {
    if (!r.ok()) {
      ++m.failed;
      ++m.faults[static_cast<std::size_t>(r.fault)];
      if (m.first_error.empty()) m.first_error = std::string(fault_name(r.fault)) + ": " + r.error;
      continue;
    }
    ++m.completed;
    const double origin = m.rate_mode ? r.scheduled : r.start;
    // Token counts and where they come from.
    std::int64_t out_tokens = 0;
    if (r.usage.completion_tokens >= 0) {
      out_tokens = r.usage.completion_tokens;
      ++out_src["server usage"];
    } else {
      std::int64_t hinted = 0;
      bool all_hinted = true;
      for (const auto& e : r.events) {
        if (e.tokens_hint >= 0) hinted += e.tokens_hint;
        else all_hinted = false;
      }
      if (all_hinted && !r.events.empty()) {
        out_tokens = hinted;
        ++out_src["server token_ids"];
      } else {
        for (const auto& e : r.events) out_tokens += e.text_bytes > 0 ? 1 : 0;
        ++out_src["chunks"];
      }
    }
    std::int64_t in_tokens = 0;
    if (r.usage.prompt_tokens >= 0) {
      in_tokens = r.usage.prompt_tokens;
      ++in_src["server usage"];
    } else if (r.prompt_tokens_ours >= 0) {
      in_tokens = r.prompt_tokens_ours;
      ++in_src["client tokenizer"];
    } else {
      ++in_src["unknown"];
    }
    if (r.usage.prompt_tokens >= 0 && r.prompt_tokens_ours >= 0) {
      const std::int64_t d = r.usage.prompt_tokens - r.prompt_tokens_ours;
      ++m.prompt_len_compared;
      if (d != 0) ++m.prompt_len_mismatched;
      m.prompt_len_min_diff = first_diff ? d : std::min(m.prompt_len_min_diff, d);
      m.prompt_len_max_diff = first_diff ? d : std::max(m.prompt_len_max_diff, d);
      first_diff = false;
    }
    m.total_input_tokens += in_tokens;
    m.total_output_tokens += out_tokens;

    const double t_first = r.first_token() - origin;
    const double t_last = r.last_token() - origin;
    ttft.push_back(t_first * 1e3);
    if (r.first_content() >= 0) ttft_content.push_back((r.first_content() - origin) * 1e3);
    if (r.first_byte >= 0) ttfb.push_back((r.first_byte - origin) * 1e3);
    e2el.push_back(t_last * 1e3);
    queue.push_back((r.start - r.scheduled) * 1e3);
    double tpot_ms = 0;
    if (out_tokens > 1) {
      tpot_ms = (t_last - t_first) / static_cast<double>(out_tokens - 1) * 1e3;
      tpot.push_back(tpot_ms);
    }
    // Chunk gaps, and per token: a gap divided by the tokens its chunk carried (the server's token_ids
    // when given, else the request's average tokens per text chunk).
    std::size_t text_events = 0;
    for (const auto& e : r.events) text_events += e.text_bytes > 0 ? 1 : 0;
    const double avg_per_chunk = text_events > 0 ? std::max(1.0, static_cast<double>(out_tokens) / static_cast<double>(text_events)) : 1.0;
    for (std::size_t i = 1; i < r.events.size(); ++i) {
      const double gap = (r.events[i].t - r.events[i - 1].t) * 1e3;
      itl.push_back(gap);
      if (r.events[i].text_bytes > 0) {
        const double k = r.events[i].tokens_hint > 0 ? r.events[i].tokens_hint : avg_per_chunk;
        itl_tok.push_back(gap / k);
      }
    }
    for (const auto& e : r.events) ++event_bins[static_cast<long>(std::floor(e.t - run.begin))];
    sweep.emplace_back(r.start, +1);
    sweep.emplace_back(r.last_token(), -1);
    bool is_good = true;
    if (slo.ttft_ms && t_first * 1e3 > *slo.ttft_ms) is_good = false;
    if (slo.tpot_ms && tpot_ms > *slo.tpot_ms) is_good = false;
    if (slo.e2el_ms && t_last * 1e3 > *slo.e2el_ms) is_good = false;
    if (is_good) ++good;
  }
  const double dur = m.duration_s > 0 ? m.duration_s : 1e-9;
  m.request_throughput = static_cast<double>(m.completed) / dur;
  m.output_throughput = static_cast<double>(m.total_output_tokens) / dur;
  m.total_token_throughput = static_cast<double>(m.total_input_tokens + m.total_output_tokens) / dur;
  if (slo.any()) m.request_goodput = static_cast<double>(good) / dur;
  for (const auto& [bin, n] : event_bins) m.max_output_tokens_per_s = std::max(m.max_output_tokens_per_s, static_cast<double>(n));
  std::sort(sweep.begin(), sweep.end());  // ends (-1) sort before starts (+1) at equal times: half-open
  long cur = 0;
  for (const auto& [t, d] : sweep) {
    cur += d;
    m.max_concurrent_requests = std::max<std::size_t>(m.max_concurrent_requests, static_cast<std::size_t>(std::max(0L, cur)));
  }
  m.input_token_source = join_sources(in_src);
  m.output_token_source = join_sources(out_src);
  m.ttft_ms = metrics::summarize(std::move(ttft), pcts);
  m.ttft_content_ms = metrics::summarize(std::move(ttft_content), pcts);
  m.ttfb_ms = metrics::summarize(std::move(ttfb), pcts);
  m.tpot_ms = metrics::summarize(std::move(tpot), pcts);
  m.itl_ms = metrics::summarize(std::move(itl), pcts);
  m.itl_per_token_ms = metrics::summarize(std::move(itl_tok), pcts);
  m.e2el_ms = metrics::summarize(std::move(e2el), pcts);
  m.queue_ms = metrics::summarize(std::move(queue), pcts);
  return m;
}

}  // namespace qg::load
