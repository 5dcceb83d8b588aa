#include "report/compare_markdown.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "report/format.h"

namespace qg::report {

namespace {

constexpr const char* kDash = "—";

std::string fixed(double v, int digits) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "n/a"; }
std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}", 100 * v) : "n/a"; }

std::string kl_mean_cell(const CompareRow& r) {
  if (r.kl)
    return fmt::format("{} [{}, {}]{}", fixed(r.kl->mean, 6), fixed(r.kl->ci_lo, 6), fixed(r.kl->ci_hi, 6),
                       r.kl->partial ? " (partial)" : "");
  return r.kl_reference ? "ref" : kDash;
}
std::string kl_cell(const CompareRow& r, const std::string& v) { return r.kl ? v : (r.kl_reference ? "ref" : kDash); }

std::string mmlu_cell(const CompareRow& r) {
  if (!r.mmlu) return kDash;
  return fmt::format("{} ± {} %{}", pct(r.mmlu->acc), pct(r.mmlu->acc_stderr), r.mmlu->partial ? " (partial)" : "");
}
std::string recovery_cell(const CompareRow& r) {
  if (r.recovery)
    return fmt::format("{} [{}, {}]", fixed(r.recovery->recovery, 4), fixed(r.recovery->ci_lo, 4), fixed(r.recovery->ci_hi, 4));
  return r.mmlu_reference ? "ref" : kDash;
}
std::string ttft_cell(const CompareRow& r) {
  if (!r.bench) return kDash;
  return fmt::format("{} / {}", fixed(r.bench->ttft_p50_ms, 1), r.bench->ttft_p99_ms ? fixed(*r.bench->ttft_p99_ms, 1) : kDash);
}
std::string vram_cell(const CompareRow& r) {
  if (!r.bench || !r.bench->vram_peak) return kDash;
  return human_bytes(*r.bench->vram_peak) + (r.bench->vram_is_process ? " (process)" : "");
}

// "95%" when every row of a column used one level, else each level listed.
std::string levels_text(const std::set<double>& levels) {
  std::string s;
  for (double l : levels) {
    if (!s.empty()) s += "/";
    s += fmt::format("{:g}%", 100 * l);
  }
  return s;
}

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
nlohmann::json finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

std::string comparison_markdown(const Comparison& c, const std::vector<ChartLink>& charts,
                                const std::vector<std::string>& chart_warnings) {
  std::string md = "# quantgate compare\n\n";
  const std::string conc = c.concurrency ? fmt::format(" (c={})", *c.concurrency) : "";
  md += fmt::format(
      "| model | disk | mean KL [CI] | p99 KL | same top-1 | MMLU acc | recovery [CI] | output tok/s{} | TTFT p50 / p99 ms{} | "
      "peak VRAM{} |\n",
      conc, conc, conc);
  md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  std::set<double> kl_levels, rec_levels;
  bool any_cdf_percentiles = false;
  for (const auto& r : c.rows) {
    if (r.kl) kl_levels.insert(r.kl->ci_confidence);
    if (r.recovery) rec_levels.insert(r.recovery->ci_level);
    if (r.bench && r.bench->cdf_from_percentiles) any_cdf_percentiles = true;
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.label,
                      r.disk_bytes ? human_bytes(*r.disk_bytes) : kDash, kl_mean_cell(r),
                      kl_cell(r, r.kl ? fixed(r.kl->p99, 6) : ""),
                      kl_cell(r, r.kl ? fmt::format("{} %", pct(r.kl->same_top1)) : ""), mmlu_cell(r), recovery_cell(r),
                      r.bench ? fixed(r.bench->output_tok_s, 1) : kDash, ttft_cell(r), vram_cell(r));
  }
  md += "\n";
  md += fmt::format("{} = not measured: no results file given measures it for that model. \"ref\" = the model is the "
                    "reference the others were measured against.\n\n",
                    kDash);
  md += "- disk: bytes of the checkpoint's .safetensors files (inspect, or the file list kl records).\n";
  if (!kl_levels.empty())
    md += fmt::format("- KL: KL(P_ref ‖ Q_model) per token, mean with its {} moving-block bootstrap CI; p99 and same "
                      "top-1 over the same tokens (quantgate kl).\n",
                      levels_text(kl_levels));
  if (!rec_levels.empty())
    md += fmt::format("- MMLU: accuracy ± stderr (micro over subjects); recovery = acc / reference acc with its {} "
                      "paired bootstrap CI (quantgate mmlu).\n",
                      levels_text(rec_levels));
  if (c.concurrency)
    md += fmt::format("- bench: the concurrency-{} level; peak VRAM (NVML, summed over GPUs) = the serving process's "
                      "peak where marked (process), else the device's used memory (total − free), which includes the KV "
                      "cache pool the server preallocates.\n",
                      *c.concurrency);
  for (const auto& r : c.rows)
    if (r.bench && !r.bench->vram_peak) md += fmt::format("- {}: VRAM not measured: {}.\n", r.label, r.bench->vram_reason);
  for (const auto& w : c.warnings) md += fmt::format("- warning: {}\n", w);

  md += "\n## Models\n\n";
  for (const auto& r : c.rows) {
    std::string keys;
    for (const auto& k : r.keys) keys += (keys.empty() ? "" : ", ") + fmt::format("`{}`", k);
    md += fmt::format("- {}: {}\n", r.label, keys);
  }
  md += "\n## Sources\n\n";
  for (const auto& s : c.sources) md += fmt::format("- {}\n", s);

  if (!charts.empty() || !chart_warnings.empty()) {
    md += "\n## Charts\n\n";
    for (const auto& ch : charts) md += fmt::format("![{}]({})\n\n", ch.title, ch.file);
    if (any_cdf_percentiles && !charts.empty())
      md += "TTFT CDF: models benched without --save-detailed are drawn from their percentiles (min, p50, …, max).\n\n";
    for (const auto& w : chart_warnings) md += fmt::format("- charts skipped: {}\n", w);
  }
  return md;
}

nlohmann::json comparison_json(const Comparison& c) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : c.rows) {
    nlohmann::json j = {{"label", r.label}, {"keys", r.keys}, {"sources", r.source},
                        {"disk_bytes", r.disk_bytes ? nlohmann::json(*r.disk_bytes) : nlohmann::json(nullptr)},
                        {"kl_reference", r.kl_reference}, {"mmlu_reference", r.mmlu_reference}};
    if (r.kl)
      j["kl"] = {{"mean", finite(r.kl->mean)}, {"stderr", finite(r.kl->mean_stderr)}, {"ci_lo", finite(r.kl->ci_lo)},
                 {"ci_hi", finite(r.kl->ci_hi)}, {"ci_confidence", r.kl->ci_confidence}, {"p99", finite(r.kl->p99)},
                 {"same_top1", finite(r.kl->same_top1)}, {"same_top1_stderr", finite(r.kl->same_top1_stderr)},
                 {"n_tokens", r.kl->n_tokens}, {"partial", r.kl->partial}, {"reference", r.kl->reference}};
    if (r.mmlu) {
      nlohmann::json groups = nlohmann::json::object();
      for (const auto& [g, v] : r.mmlu->groups) groups[g] = {{"acc", finite(v.first)}, {"acc_stderr", finite(v.second)}};
      j["mmlu"] = {{"acc", finite(r.mmlu->acc)}, {"acc_stderr", finite(r.mmlu->acc_stderr)}, {"n", r.mmlu->n},
                   {"partial", r.mmlu->partial}, {"groups", groups}};
    }
    if (r.recovery)
      j["recovery"] = {{"recovery", finite(r.recovery->recovery)}, {"ci_lo", finite(r.recovery->ci_lo)},
                       {"ci_hi", finite(r.recovery->ci_hi)}, {"ci_level", r.recovery->ci_level},
                       {"reference", r.recovery->reference}};
    if (r.bench)
      j["bench"] = {{"concurrency", r.bench->concurrency}, {"output_tok_s", r.bench->output_tok_s},
                    {"ttft_p50_ms", r.bench->ttft_p50_ms}, {"ttft_p99_ms", opt(r.bench->ttft_p99_ms)},
                    {"vram_peak_bytes", r.bench->vram_peak ? nlohmann::json(*r.bench->vram_peak) : nlohmann::json(nullptr)},
                    {"vram_is_process", r.bench->vram_is_process}, {"vram_reason", r.bench->vram_reason}};
    rows.push_back(std::move(j));
  }
  return {{"kind", "compare"},
          {"concurrency", c.concurrency ? nlohmann::json(*c.concurrency) : nlohmann::json(nullptr)},
          {"rows", rows},
          {"sources", c.sources},
          {"warnings", c.warnings}};
}

}  // namespace qg::report
