#include "report/kl_report.h"

#include <fmt/format.h>

#include <cmath>

#include "report/format.h"
#include "report/results_file.h"

namespace qg {

namespace {
nlohmann::json ve(const metrics::ValueError& v) { return {{"value", v.value}, {"stderr", v.error}}; }
nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }
}  // namespace

bool kl_gate_pass(const KlReportInput& in) { return !in.partial && in.summary.kl_mean.value <= in.max_kl; }

nlohmann::json kl_report_json(const KlReportInput& in) {
  const auto& s = in.summary;
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& b : s.kl_histogram)
    hist.push_back({{"lo", finite_or_null(b.lo)}, {"hi", finite_or_null(b.hi)}, {"count", b.count}});
  const double tokens_per_s = in.seconds > 0 ? static_cast<double>(s.n_tokens) / in.seconds : 0.0;
  nlohmann::json j = results_envelope("kl", in.provenance);
  j.update(nlohmann::json{
      {"approximation", in.approximation},
      {"flags", in.flags},
      {"reference", in.reference},
      {"candidate", in.candidate},
      {"corpus", in.corpus},
      {"device", in.device},
      {"partial", in.partial},
      {"chunking",
       {{"rule", in.chunking_rule},
        {"ctx", in.ctx},
        {"first_scored_row", in.first_scored_row},
        {"chunks_scored", in.chunks_done},
        {"chunks_planned", in.n_chunks},
        {"corpus_tokens", in.corpus_tokens},
        {"tokens_unused", in.tokens_unused}}},
      {"results",
       {{"n_tokens", s.n_tokens},
        {"kl_mean", ve(s.kl_mean)},
        {"kl_mean_ci",
         {{"lo", s.kl_mean_ci.lo},
          {"hi", s.kl_mean_ci.hi},
          {"confidence", s.ci_confidence},
          {"method", "moving-block bootstrap, percentile"},
          {"block_len", s.ci_block_len},
          {"resamples", s.ci_resamples},
          {"seed", s.ci_seed}}},
        {"kl_median", s.kl_median},
        {"kl_p90", s.kl_p90},
        {"kl_p95", s.kl_p95},
        {"kl_p99", s.kl_p99},
        {"kl_p99_9", s.kl_p999},
        {"kl_min", s.kl_min},
        {"kl_max", s.kl_max},
        {"kl_histogram", hist},
        {"kl_reverse_mean", ve(s.kl_reverse_mean)},
        {"same_top1", ve(s.same_top1)},
        {"ppl_ref", ve(s.ppl_ref)},
        {"ppl_cand", ve(s.ppl_cand)},
        {"ln_ppl_ratio", ve(s.ln_ppl_ratio)},
        {"ppl_ratio", ve(s.ppl_ratio)},
        {"rms_delta_p", ve(s.rms_delta_p)},
        {"mean_delta_p", ve(s.mean_delta_p)}}},
      {"gate", {{"metric", "kl_mean"}, {"max_kl", in.max_kl}, {"pass", kl_gate_pass(in)}}},
      {"timing",
       {{"seconds", in.seconds},
        {"forward_seconds", in.forward_seconds},
        {"scored_tokens_per_s", tokens_per_s}}},
  });
  return j;
}

std::string kl_report_table(const KlReportInput& in) {
  const auto& s = in.summary;
  std::string t;
  auto line = [&](const std::string& k, const std::string& v) { t += fmt::format("  {:<24} {}\n", k, v); };
  t += fmt::format("KL divergence: candidate vs reference{}\n", in.partial ? " (PARTIAL: interrupted)" : "");
  line("reference", in.reference.value("dir", ""));
  line("candidate", in.candidate.value("dir", ""));
  line("chunking", in.chunking_rule);
  line("scored tokens", fmt::format("{} ({} of {} chunks)", group_digits(static_cast<std::int64_t>(s.n_tokens)),
                                    in.chunks_done, in.n_chunks));
  line("mean KL", fmt::format("{:.6f} ± {:.6f}  ({:.0f}% CI {:.6f} .. {:.6f}, block bootstrap)", s.kl_mean.value,
                              s.kl_mean.error, s.ci_confidence * 100, s.kl_mean_ci.lo, s.kl_mean_ci.hi));
  line("KL median / p90 / p95", fmt::format("{:.6f} / {:.6f} / {:.6f}", s.kl_median, s.kl_p90, s.kl_p95));
  line("KL p99 / p99.9 / max", fmt::format("{:.6f} / {:.6f} / {:.6f}", s.kl_p99, s.kl_p999, s.kl_max));
  line(in.approximation.is_null() ? "reverse KL" : "reverse KL (approx.)",
       fmt::format("{:.6f} ± {:.6f}", s.kl_reverse_mean.value, s.kl_reverse_mean.error));
  if (!in.approximation.is_null()) {
    const auto& a = in.approximation;
    line("KL approximation", fmt::format("compact reference cache, top-{} exact + {} tail estimate; everything else "
                                         "exact", a.value("k", 0), a.value("method", "?")));
    line("mean KL bounds", fmt::format("{:.6f} .. {:.6f} (rigorous, this run)", a["kl_mean_bounds"].value("lower", 0.0),
                                       a["kl_mean_bounds"].value("upper", 0.0)));
    line("tail mass p_tail", fmt::format("mean {:.3g}, max {:.3g} (candidate's q_tail mean {:.3g})",
                                         a["p_tail"].value("mean", 0.0), a["p_tail"].value("max", 0.0),
                                         a["q_tail"].value("mean", 0.0)));
    const auto& m = a["measured_error"];
    line("measured error", fmt::format("per token <= {:.3g} x max p_tail, mean within {:.2g}% when p_tail mean <= {:.2g} "
                                       "({}); heavier tails err more ({})",
                                       m.value("max_token_error_over_p_tail", 0.0),
                                       100 * m.value("max_relative_mean_error", 0.0),
                                       m.value("mean_error_holds_up_to_p_tail_mean", 0.0), m.value("where", ""),
                                       m.value("heavy_tail", "")));
    if (a["p_tail"].value("mean", 0.0) > m.value("mean_error_holds_up_to_p_tail_mean", 1.0))
      line("WARNING", "this run's tail mass is heavier than where the mean error was measured: trust the rigorous "
                      "bounds above, or use the exact path (no --ref-cache)");
  }
  line("same top-1", fmt::format("{:.3f} ± {:.3f} %", s.same_top1.value * 100, s.same_top1.error * 100));
  line("PPL reference", fmt::format("{:.4f} ± {:.4f}", s.ppl_ref.value, s.ppl_ref.error));
  line("PPL candidate", fmt::format("{:.4f} ± {:.4f}", s.ppl_cand.value, s.ppl_cand.error));
  line("PPL ratio", fmt::format("{:.6f} ± {:.6f}", s.ppl_ratio.value, s.ppl_ratio.error));
  line("RMS delta p", fmt::format("{:.4f} ± {:.4f} %", s.rms_delta_p.value * 100, s.rms_delta_p.error * 100));
  line("time", fmt::format("{:.2f} s ({:.1f} scored tokens/s, {:.0f}% in forward passes) on {}", in.seconds,
                           in.seconds > 0 ? static_cast<double>(s.n_tokens) / in.seconds : 0.0,
                           in.seconds > 0 ? 100 * in.forward_seconds / in.seconds : 0.0, in.device));
  t += fmt::format("{}: mean KL {:.6f} {} --max-kl {}{}\n", kl_gate_pass(in) ? "PASS" : "FAIL", s.kl_mean.value,
                   s.kl_mean.value <= in.max_kl ? "<=" : ">", in.max_kl,
                   in.partial ? " (a partial run never passes)" : "");
  return t;
}

std::string kl_token_csv_header() {
  return "chunk,row,next,kl,kl_rev,nll_ref,nll_cand,p_ref,p_cand,top1_ref,top1_cand\n";
}

std::string kl_token_csv_row(std::int64_t chunk, std::int64_t row, std::int32_t next, const metrics::TokenKl& t) {
  return fmt::format("{},{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{},{}\n", chunk, row, next, t.kl,
                     t.kl_reverse, t.nll_ref, t.nll_cand, t.p_ref, t.p_cand, t.top1_ref, t.top1_cand);
}

}  // namespace qg
