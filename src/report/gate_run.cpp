#include "report/gate_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "report/card_fill.h"
#include "report/card_sources.h"
#include "report/gate_junit.h"
#include "report/gate_summary.h"
#include "report/run_program.h"

namespace qg::gate {

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The last `max_bytes` of a log, starting on a UTF-8 character boundary (junit.xml must stay valid UTF-8).
std::string log_tail(const fs::path& log, std::size_t max_bytes = 3000) {
  std::ifstream f(log, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() <= max_bytes) return s;
  std::size_t start = s.size() - max_bytes;
  while (start < s.size() && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) ++start;
  return "..." + s.substr(start);
}

std::string read_text(const fs::path& p, const char* what) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(fmt::format("cannot read the {}", what), {.file = p.string()});
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  if (!f || !(f << text) || !f.flush()) throw Error("cannot write the file", {.file = p.string()});
}

// Modification times of a checkpoint's config.json and *.safetensors (the files quantize reads and writes).
std::vector<fs::file_time_type> weight_mtimes(const fs::path& dir) {
  std::vector<fs::file_time_type> out;
  std::error_code ec;
  if (!fs::is_regular_file(dir / "config.json", ec)) return out;
  out.push_back(fs::last_write_time(dir / "config.json", ec));
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".safetensors") out.push_back(e.last_write_time(ec));
  return out;
}

// Empty when the candidate exists and none of its files is older than the reference's newest; else why it
// must be (re)made.
std::string candidate_stale(const fs::path& cand, const fs::path& ref) {
  const auto c = weight_mtimes(cand), r = weight_mtimes(ref);
  if (c.size() < 2) return "the candidate does not exist yet";
  if (!r.empty() && *std::min_element(c.begin(), c.end()) < *std::max_element(r.begin(), r.end()))
    return "the candidate is older than the reference";
  return "";
}

class Runner {
 public:
  Runner(const GateOptions& opt, GateOutcome& o) : opt_(opt), o_(o) {}

  void say(const std::string& line) const {
    if (opt_.progress) opt_.progress(line);
  }
  fs::path out(const std::string& name) const { return opt_.out_dir / name; }

  // Runs `quantgate ARGS...` with its output in logs/<name>.log. `exit1_measured`: exit code 1 means the
  // child's own gate missed and its results file is complete (kl, mmlu), which the gate judges itself.
  StepRecord& child(const std::string& name, std::vector<std::string> args, const fs::path& results,
                    bool exit1_measured) {
    StepRecord s{.name = name,
                 .results_path = results.string(),
                 .log_path = (opt_.out_dir / "logs" / (name + ".log")).string()};
    std::error_code ec;
    if (!results.empty()) fs::remove(results, ec);  // never judge an earlier run's file
    if (opt_.stop && opt_.stop()) {
      s.status = StepStatus::kSkipped;
      s.detail = "interrupted before it started";
      record(std::move(s));
      return o_.steps.back();
    }
    args.insert(args.begin(), opt_.self_exe.string());
    say(fmt::format("gate: {} (log {})", name, s.log_path));
    const auto t0 = Clock::now();
    std::optional<int> rc;
    try {
      rc = report::run_program(args, s.log_path);
      if (!rc) s.detail = fmt::format("cannot start {}", opt_.self_exe.string());
    } catch (const Error& e) {
      s.detail = e.what();
    }
    s.seconds = seconds_since(t0);
    if (rc) {
      s.exit_code = *rc;
      if (*rc == 0)
        s.status = StepStatus::kOk;
      else if (*rc == 1 && exit1_measured)
        s.status = StepStatus::kGateMissed;
      else
        s.status = StepStatus::kFailed, s.detail = fmt::format("exited with code {}", *rc);
      if (s.status != StepStatus::kFailed && !results.empty() && !fs::is_regular_file(results, ec))
        s.status = StepStatus::kFailed,
        s.detail = fmt::format("exited with code {} but wrote no results file", *rc);
    } else {
      s.status = StepStatus::kFailed;
    }
    if (s.status == StepStatus::kFailed) {
      s.log_tail = log_tail(s.log_path);
      // The child's own error line says what went wrong; the summary and JUnit quote it.
      const auto e = s.log_tail.rfind("error: ");
      if (e != std::string::npos && (e == 0 || s.log_tail[e - 1] == '\n'))
        s.detail += ": " + s.log_tail.substr(e + 7, s.log_tail.find('\n', e) - e - 7);
      say(fmt::format("gate: {} FAILED after {:.1f} s: {}; the end of {}:\n{}", name, s.seconds, s.detail,
                      s.log_path, s.log_tail));
    } else {
      say(fmt::format("gate: {} {} in {:.1f} s", name, step_status_name(s.status), s.seconds));
    }
    o_.steps.push_back(std::move(s));
    return o_.steps.back();
  }

  void record(StepRecord s) {
    say(fmt::format("gate: {} {}{}", s.name, step_status_name(s.status),
                    s.detail.empty() ? "" : ": " + s.detail));
    o_.steps.push_back(std::move(s));
  }

  // The results file of a step that measured (ok or own gate missed), loaded; nullopt with `why` otherwise.
  std::optional<ResultsFile> results_of(const std::string& step, std::string& why) {
    for (const auto& s : o_.steps) {
      if (s.name != step) continue;
      if (s.status != StepStatus::kOk && s.status != StepStatus::kGateMissed) {
        why = fmt::format("the {} step {} ({})", step,
                          s.status == StepStatus::kSkipped ? "was skipped" : "failed",
                          s.detail.empty() ? "see " + s.log_path : s.detail);
        return std::nullopt;
      }
      try {
        return load_results_file(s.results_path);
      } catch (const Error& e) {
        why = e.what();
        const std::string error = fmt::format("{} step: {}", step, e.what());
        if (std::find(o_.errors.begin(), o_.errors.end(), error) == o_.errors.end())
          o_.errors.push_back(error);
        return std::nullopt;
      }
    }
    why = fmt::format("the recipe has no {} step", step);
    return std::nullopt;
  }

 private:
  const GateOptions& opt_;
  GateOutcome& o_;
};

std::string fmt_number(double v) { return fmt::format("{}", v); }

void make_candidate(const Recipe& r, Runner& run, const fs::path& ref, const fs::path& cand,
                    const fs::path& out_dir) {
  const auto& q = *r.candidate.quantize;
  const std::string why = candidate_stale(cand, ref);
  if (why.empty()) {
    run.record({.name = "quantize",
                .status = StepStatus::kUpToDate,
                .detail = fmt::format("{} is newer than {}: reused (delete it to quantize again)",
                                      cand.string(), ref.string())});
    return;
  }
  // Quantize into a sibling directory and swap it in only when complete: an interrupted run leaves no
  // half-written candidate that a later run would take for up to date.
  const fs::path partial = cand.string() + ".partial";
  std::error_code ec;
  if (fs::exists(cand, ec) && !fs::is_regular_file(cand / "config.json", ec) && !fs::is_empty(cand, ec)) {
    // Replacing it would delete files that are not a checkpoint: a wrong candidate.path, most likely.
    run.record({.name = "quantize",
                .status = StepStatus::kFailed,
                .detail = fmt::format("{} exists and is not a checkpoint (no config.json): not replaced; "
                                      "point candidate.path at a new or checkpoint directory",
                                      cand.string())});
    return;
  }
  fs::remove_all(partial, ec);
  if (cand.has_parent_path()) fs::create_directories(cand.parent_path(), ec);
  std::vector<std::string> args = {"quantize", ref.string(), partial.string(), "--scheme", q.scheme};
  if (q.group_size) args.insert(args.end(), {"--group-size", std::to_string(*q.group_size)});
  for (const auto& p : q.ignore) args.insert(args.end(), {"--ignore", p});
  args.insert(args.end(), {"--json", (out_dir / "quantize.json").string()});
  StepRecord& s = run.child("quantize", args, out_dir / "quantize.json", false);
  if (s.status != StepStatus::kOk) return;
  fs::remove_all(cand, ec);
  fs::rename(partial, cand, ec);
  if (ec) {
    s.status = StepStatus::kFailed;
    s.detail = fmt::format("cannot move {} to {}: {}", partial.string(), cand.string(), ec.message());
  }
}

std::vector<std::string> engine_args(const Recipe& r) {
  std::vector<std::string> a = {"--device", r.device};
  if (r.threads > 0) a.insert(a.end(), {"--threads", std::to_string(r.threads)});
  return a;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The card's own Quality Targets judge its Result column; say so when they are not the recipe's thresholds.
void check_card_targets(const std::string& card, const Recipe& r, std::vector<std::string>& warnings) {
  const std::string kl = fmt::format("< {:g}", r.targets.kl_mean_max);
  const std::string rec = fmt::format("≥ {:g}%", 100 * r.targets.mmlu_recovery_min);
  for (const auto& [want, used] : {std::pair{kl, r.kl.has_value()}, std::pair{rec, r.mmlu.has_value()}})
    if (used && card.find("| " + want + " |") == std::string::npos)
      warnings.push_back(
          fmt::format("the card template's Quality Targets do not print the recipe's target '{}': the card's "
                      "Result column judges against the card's own targets, summary.md and junit.xml "
                      "against the recipe's",
                      want));
}

void fill_card_step(const Recipe& r, Runner& run, GateOutcome& o, const fs::path& cand,
                    const fs::path& out_dir) {
  const auto t0 = Clock::now();
  const fs::path card_out = resolve_path(r.card_out, out_dir);
  StepRecord s{.name = "card", .results_path = card_out.string()};
  try {
    std::vector<ResultsFile> results;
    for (const char* step : {"inspect-reference", "inspect-candidate", "kl", "mmlu", "bench"}) {
      std::string why;
      if (auto f = run.results_of(step, why)) results.push_back(std::move(*f));
    }
    const std::string text = read_text(r.card_template, "card template");
    check_card_targets(text, r, o.warnings);
    const card::CardFill filled = card::fill_card(text, card::select_card_sources(cand, std::move(results)));
    o.warnings.insert(o.warnings.end(), filled.warnings.begin(), filled.warnings.end());
    if (card_out.has_parent_path()) fs::create_directories(card_out.parent_path());
    write_text(card_out, filled.text);
    o.card_path = card_out.string();
    s.status = StepStatus::kOk;
    s.detail = "filled from " + r.card_template;
  } catch (const std::exception& e) {  // qg::Error, or a filesystem error creating the card's folder
    s.status = StepStatus::kFailed;
    s.detail = e.what();
  }
  s.seconds = seconds_since(t0);
  run.record(std::move(s));
}
}  // namespace

void write_gate_reports(const GateOutcome& outcome, const fs::path& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  write_text(out_dir / "summary.md", gate_summary_markdown(outcome));
  write_text(out_dir / "junit.xml", gate_junit_xml(outcome));
}

GateOutcome run_gate(const Recipe& r, const GateOptions& opt) {
  const auto t0 = Clock::now();
  GateOutcome o{.recipe_path = r.path, .recipe_name = r.name, .out_dir = opt.out_dir.string()};
  std::error_code ec;
  fs::create_directories(opt.out_dir / "logs", ec);
  if (ec)
    throw Error(fmt::format("cannot create the output directory: {}", ec.message()),
                {.file = opt.out_dir.string()});
  Runner run(opt, o);
  const fs::path ref = resolve_path(r.reference.path, opt.out_dir);
  const fs::path cand = resolve_path(r.candidate.path, opt.out_dir);

  if (r.candidate.quantize) make_candidate(r, run, ref, cand, opt.out_dir);
  const bool have_cand = o.steps.empty() || o.steps.back().status != StepStatus::kFailed;
  const std::string no_cand = "the candidate was not made (quantize failed)";
  auto skip = [&](const char* name) {
    run.record({.name = name, .status = StepStatus::kSkipped, .detail = no_cand});
  };

  run.child("inspect-reference",
            {"inspect", ref.string(), "--json", run.out("inspect-reference.json").string()},
            run.out("inspect-reference.json"), false);
  if (have_cand)
    run.child("inspect-candidate",
              {"inspect", cand.string(), "--json", run.out("inspect-candidate.json").string()},
              run.out("inspect-candidate.json"), false);
  else
    skip("inspect-candidate");

  if (r.kl && have_cand) {
    const auto& k = *r.kl;
    std::vector<std::string> a = {"kl",
                                  "--ref",
                                  ref.string(),
                                  "--cand",
                                  cand.string(),
                                  "--corpus",
                                  k.corpus,
                                  "--ctx",
                                  std::to_string(k.ctx),
                                  "--score-from",
                                  k.score_from,
                                  "--max-chunks",
                                  std::to_string(k.max_chunks),
                                  "--seed",
                                  std::to_string(k.seed),
                                  "--max-kl",
                                  fmt_number(r.targets.kl_mean_max),
                                  "--json",
                                  run.out("kl.json").string()};
    const auto e = engine_args(r);
    a.insert(a.end(), e.begin(), e.end());
    run.child("kl", a, run.out("kl.json"), true);
  } else if (r.kl) {
    skip("kl");
  }

  if (r.mmlu && have_cand) {
    const auto& m = *r.mmlu;
    std::vector<std::string> a = {"mmlu",
                                  "--model",
                                  cand.string(),
                                  "--ref",
                                  ref.string(),
                                  "--data",
                                  m.data,
                                  "--shots",
                                  std::to_string(m.shots),
                                  "--seed",
                                  std::to_string(m.seed),
                                  "--min-recovery",
                                  fmt_number(r.targets.mmlu_recovery_min),
                                  "--json",
                                  run.out("mmlu.json").string()};
    if (!m.subjects.empty()) a.insert(a.end(), {"--subjects", join(m.subjects, ",")});
    if (m.limit > 0) a.insert(a.end(), {"--limit", std::to_string(m.limit)});
    if (m.chat) a.push_back("--chat");
    const auto e = engine_args(r);
    a.insert(a.end(), e.begin(), e.end());
    run.child("mmlu", a, run.out("mmlu.json"), true);
  } else if (r.mmlu) {
    skip("mmlu");
  }

  if (r.bench && have_cand) {
    const auto& b = *r.bench;
    std::vector<std::string> conc;
    for (auto c : b.max_concurrency) conc.push_back(std::to_string(c));
    std::vector<std::string> a = {"bench",
                                  "--base-url",
                                  b.base_url,
                                  "--max-concurrency",
                                  join(conc, ","),
                                  "--input-len",
                                  std::to_string(b.input_len),
                                  "--output-len",
                                  std::to_string(b.output_len),
                                  "--checkpoint",
                                  cand.string(),
                                  "--json",
                                  run.out("bench.json").string()};
    if (!b.model.empty()) a.insert(a.end(), {"--model", b.model});
    if (!b.endpoint.empty()) a.insert(a.end(), {"--endpoint", b.endpoint});
    if (!b.tokenizer.empty()) a.insert(a.end(), {"--tokenizer", b.tokenizer});
    if (b.num_prompts > 0) a.insert(a.end(), {"--num-prompts", std::to_string(b.num_prompts)});
    if (b.num_warmups >= 0) a.insert(a.end(), {"--num-warmups", std::to_string(b.num_warmups)});
    if (b.server_pid) a.insert(a.end(), {"--server-pid", std::to_string(*b.server_pid)});
    run.child("bench", a, run.out("bench.json"), false);
  } else if (r.bench) {
    skip("bench");
  }

  if (!r.card_template.empty()) {
    if (have_cand)
      fill_card_step(r, run, o, cand, opt.out_dir);
    else
      skip("card");
  }

  std::string why;
  if (r.kl) {
    auto f = run.results_of("kl", why);
    try {
      o.targets.push_back(kl_target(r.targets, f, why));
    } catch (const Error& e) {
      o.targets.push_back(kl_target(r.targets, std::nullopt, e.what()));
    }
  }
  if (r.mmlu) {
    auto f = run.results_of("mmlu", why);
    try {
      o.targets.push_back(mmlu_target(r.targets, f, why));
    } catch (const Error& e) {
      o.targets.push_back(mmlu_target(r.targets, std::nullopt, e.what()));
    }
  }
  if (opt.stop && opt.stop())
    o.errors.push_back("interrupted (Ctrl-C): the steps marked skipped did not run");
  o.seconds = seconds_since(t0);
  write_gate_reports(o, opt.out_dir);
  return o;
}

}  // namespace qg::gate
