#include "report/mmlu_report.h"

#include <fmt/format.h>

#include <cmath>

namespace qg::report {

namespace {
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json stat_json(const metrics::AccuracyStat& s) {
  return {{"n", s.n}, {"correct", s.correct}, {"acc", num(s.acc)}, {"acc_stderr", num(s.stderr_acc)}, {"n_subjects", s.n_subjects}};
}

nlohmann::json run_json(const MmluModelRun& r) {
  nlohmann::json subjects = nlohmann::json::object(), groups = nlohmann::json::object();
  for (const auto& [k, v] : r.accuracy.subjects) subjects[k] = stat_json(v);
  for (const auto& [k, v] : r.accuracy.groups) groups[k] = stat_json(v);
  const auto& st = r.stats;
  return {{"model", r.model_dir},
          {"device", r.device},
          {"acc", num(r.accuracy.overall.acc)},
          {"acc_stderr", num(r.accuracy.overall.stderr_acc)},
          {"aggregation", "micro over leaf subjects (lm-eval weight_by_size), pooled stderr"},
          {"macro_acc", num(r.accuracy.macro)},
          {"macro_acc_stderr", num(r.accuracy.macro_stderr)},
          {"overall", stat_json(r.accuracy.overall)},
          {"groups", groups},
          {"subjects", subjects},
          {"run",
           {{"questions", st.questions},
            {"seconds", st.seconds},
            {"questions_per_s", st.seconds > 0 ? st.questions / st.seconds : 0.0},
            {"max_len", st.max_len},
            {"truncated_questions", st.truncated},
            {"truncated_tokens", st.truncated_tokens},
            {"forward_tokens", st.forward_tokens},
            {"prefix_tokens_reused", st.prefix_tokens_reused},
            {"sequences", st.sequences},
            {"single_token_choices", st.single_token_choices}}}};
}

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}", 100 * v) : "n/a"; }
}  // namespace

nlohmann::json mmlu_results_json(const MmluResults& r) {
  nlohmann::json j;
  j["task"] = "mmlu";
  j["partial"] = r.partial;
  if (r.partial) j["questions_selected"] = r.questions_selected;
  j["task_version"] = {{"mmlu", 2}, {"subtask", "1.0"}, {"format", "lm-evaluation-harness mmlu (v0.4.4+ prompts)"}};
  const auto& s = r.settings;
  j["settings"] = {{"shots", s.shots}, {"chat", s.chat}, {"fewshot_as_multiturn", s.fewshot_as_multiturn},
                   {"bos_rule", s.bos_rule}, {"tokenizer", s.tokenizer}, {"data", s.data_dir},
                   {"subjects", s.subjects}, {"limit", s.limit}, {"min_recovery", s.min_recovery},
                   {"loglik_precision", "fp32 logits, log_softmax in double"}};
  j["candidate"] = run_json(r.cand);
  if (r.ref) j["reference"] = run_json(*r.ref);
  if (r.recovery) {
    const auto& v = *r.recovery;
    nlohmann::json deltas = nlohmann::json::object();
    if (r.ref)
      for (const auto& [name, c] : r.cand.accuracy.subjects)
        if (auto it = r.ref->accuracy.subjects.find(name); it != r.ref->accuracy.subjects.end())
          deltas[name] = num(c.acc - it->second.acc);
    j["recovery"] = {{"recovery", num(v.recovery)}, {"ci_low", num(v.ci_low)}, {"ci_high", num(v.ci_high)},
                     {"ci_level", v.level}, {"ci_method", "paired percentile bootstrap over questions (splitmix64)"},
                     {"bootstrap_iterations", v.iterations}, {"seed", v.seed}, {"skipped_resamples", v.skipped_resamples},
                     {"acc_ref", num(v.acc_ref)}, {"acc_cand", num(v.acc_cand)}, {"n", v.n},
                     {"right_to_wrong", v.right_to_wrong}, {"wrong_to_right", v.wrong_to_right},
                     {"mcnemar_p", num(v.mcnemar_p)}, {"subject_acc_delta", deltas}};
  }
  j["pass"] = r.pass;
  return j;
}

std::string mmlu_results_text(const MmluResults& r) {
  std::string out = fmt::format("MMLU {}-shot{}: {} questions, {} subjects\nBOS: {}\n", r.settings.shots, r.settings.chat ? " (chat)" : "",
                                r.cand.scores.size(), r.cand.accuracy.subjects.size(), r.settings.bos_rule);
  if (r.partial)
    out += fmt::format("PARTIAL: interrupted after {} of {} questions (whole subjects only)\n", r.cand.scores.size(),
                       r.questions_selected);
  out += r.ref ? "| group | n | ref acc % | cand acc % | delta |\n|---|---:|---:|---:|---:|\n"
               : "| group | n | acc % | stderr |\n|---|---:|---:|---:|\n";
  auto row = [&](const std::string& name, const metrics::AccuracyStat& c, const metrics::AccuracyStat* ref) {
    if (ref)
      out += fmt::format("| {} | {} | {} ± {} | {} ± {} | {:+.2f} |\n", name, c.n, pct(ref->acc), pct(ref->stderr_acc), pct(c.acc),
                         pct(c.stderr_acc), 100 * (c.acc - ref->acc));
    else
      out += fmt::format("| {} | {} | {} | {} |\n", name, c.n, pct(c.acc), pct(c.stderr_acc));
  };
  for (const auto& [g, st] : r.cand.accuracy.groups) {
    const metrics::AccuracyStat* ref = nullptr;
    if (r.ref)
      if (auto it = r.ref->accuracy.groups.find(g); it != r.ref->accuracy.groups.end()) ref = &it->second;
    row(g, st, ref);
  }
  row("mmlu (micro)", r.cand.accuracy.overall, r.ref ? &r.ref->accuracy.overall : nullptr);
  out += fmt::format("macro (mean of subjects): {} %\n", pct(r.cand.accuracy.macro));
  const auto& st = r.cand.stats;
  out += fmt::format("candidate: {:.1f} questions/s on {}; {} truncated to {} tokens\n", st.seconds > 0 ? st.questions / st.seconds : 0.0,
                     r.cand.device, st.truncated, st.max_len);
  if (r.recovery) {
    const auto& v = *r.recovery;
    out += fmt::format("recovery: {:.4f} (95% CI {:.4f}..{:.4f}); flips right->wrong {}, wrong->right {}; McNemar p {:.3g}\n",
                       v.recovery, v.ci_low, v.ci_high, v.right_to_wrong, v.wrong_to_right, v.mcnemar_p);
    out += fmt::format("{}: recovery {:.4f} {} --min-recovery {}\n", r.pass ? "PASS" : "FAIL", v.recovery, r.pass ? ">=" : "<",
                       r.settings.min_recovery);
  }
  return out;
}

std::string mmlu_scores_jsonl(const MmluModelRun& run) {
  std::string out;
  for (const auto& s : run.scores) {
    nlohmann::json j = {{"model", run.model_dir}, {"subject", s.subject}, {"index", s.index}, {"gold", s.gold},
                        {"loglik", {num(s.loglik[0]), num(s.loglik[1]), num(s.loglik[2]), num(s.loglik[3])}},
                        {"pred", s.pred}, {"correct", s.correct}};
    out += j.dump() + "\n";
  }
  return out;
}

}  // namespace qg::report
