// `quantgate mmlu --model DIR [--ref DIR] --data DIR [--shots 5] ...`: lm-eval-compatible MMLU accuracy of
// a checkpoint and, with --ref, its recovery against a reference with a paired bootstrap CI.
// Exit 0: done (and recovery >= --min-recovery when --ref is given), 1: recovery below it, 2: error.
#include <fmt/format.h>

#include <csignal>
#include <span>

#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <iostream>
#include <map>
#include <unistd.h>

#include "cli/commands.h"
#include "common/error.h"
#include "evals/mmlu_data.h"
#include "evals/mmlu_eval.h"
#include "evals/mmlu_prompts.h"
#include "cli/engine_options.h"
#include "cli/split_commas.h"
#include "evals/same_tokenizer.h"
#include "report/mmlu_report.h"
#include "report/provenance.h"
#include "report/checkpoint_identity.h"
#include "report/dataset_identity.h"
#include "report/results_file.h"
#include "cli/flags_json.h"
#include "text/tokenizer.h"

namespace qg::cli {

namespace {
struct MmluArgs {
  std::string model, ref, data, tokenizer, subjects, dump_prompts, dump_scores, json;
  EngineArgs engine;
  int shots = 5;
  std::size_t limit = 0;
  std::int64_t max_len = 0;
  bool chat = false, multiturn = false;
  double min_recovery = 0.99;
  int bootstrap = 2000;
  std::uint64_t seed = 1234;
  std::size_t batch = 64;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out || !(out << text)) throw Error("cannot write the file", {.file = path});
}

volatile std::sig_atomic_t g_interrupted = 0;  // Ctrl-C: stop after the current subject, report what is done
extern "C" void on_mmlu_sigint(int) { g_interrupted = 1; }

report::MmluModelRun run_model(const std::string& dir, std::span<const evals::MmluRequest> requests,
                               const std::map<std::string, std::string>& groups, const MmluArgs& a, const char* label) {
  auto forward = open_forward(dir, a.engine.forward);
  evals::MmluEvalOptions opt;
  opt.max_len = a.max_len;
  opt.batch_size = a.batch;  // a question's log-likelihoods are the same bits whatever the batch (mmlu_eval.h)
  opt.row_scorer = open_mmlu_row_scorer(*forward);  // on the GPU for the CUDA engine: no logits rows to the host
  opt.should_stop = [] { return g_interrupted != 0; };
  const bool tty = isatty(fileno(stderr));
  const auto t0 = std::chrono::steady_clock::now();
  opt.progress = [&](std::size_t done, std::size_t total) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = done ? s * static_cast<double>(total - done) / static_cast<double>(done) : 0;
    std::cerr << fmt::format("{}{}: {}/{} questions, {:.1f} s, ETA {:.0f} s{}", tty ? "\r" : "", label, done, total, s, eta,
                             tty && done < total ? "" : "\n");
  };
  report::MmluModelRun run;
  run.model_dir = dir;
  run.device = forward->device();
  run.scores = evals::run_mmlu(*forward, requests, opt, &run.stats);
  run.accuracy = metrics::aggregate_mmlu(run.scores, groups);
  return run;
}
}  // namespace

CommandRunner register_mmlu(CLI::App& app) {
  auto a = std::make_shared<MmluArgs>();
  CLI::App* cmd = app.add_subcommand("mmlu", "MMLU accuracy as lm-evaluation-harness computes it (and recovery vs --ref)");
  cmd->add_option("--model", a->model, "candidate checkpoint directory")->required();
  cmd->add_option("--ref", a->ref, "reference checkpoint directory: adds recovery = acc_cand / acc_ref with a CI");
  cmd->add_option("--data", a->data, "MMLU directory (dev/ test/ CSVs and categories.tsv)")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or its directory (default: --model)");
  cmd->add_option("--shots", a->shots, "few-shot examples, 0..5 (first k dev records, as lm-eval)")->capture_default_str();
  cmd->add_option("--subjects", a->subjects, "comma-separated subjects (default: all 57)");
  cmd->add_option("--limit", a->limit, "first N test questions per subject (0: all)");
  cmd->add_option("--max-len", a->max_len, "left-truncate inputs to this many tokens (default: max_position_embeddings)");
  cmd->add_flag("--chat", a->chat, "wrap prompts in the model's chat turn format (lm-eval --apply_chat_template)");
  cmd->add_flag("--fewshot-as-multiturn", a->multiturn, "with --chat: shots as user/model turns");
  cmd->add_option("--dump-prompts", a->dump_prompts, "write the exact contexts and continuations (JSONL)");
  cmd->add_option("--dump-scores", a->dump_scores, "write per-question choice log-likelihoods (JSONL)");
  cmd->add_option("--json", a->json, "write results JSON with provenance");
  cmd->add_option("--min-recovery", a->min_recovery, "with --ref: fail (exit 1) below this recovery")->capture_default_str();
  cmd->add_option("--bootstrap", a->bootstrap, "bootstrap resamples for the recovery CI")->capture_default_str();
  cmd->add_option("--seed", a->seed, "bootstrap seed")->capture_default_str();
  cmd->add_option("--batch", a->batch,
                  "questions per forward call (speed only: log-likelihoods are bit-identical whatever the batch)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_engine_options(cmd, a->engine);
  return [a, cmd](const std::vector<std::string>& argv) {
    (void)parse_device(a->engine.forward.device);
    if (a->multiturn && !a->chat) throw Error("--fewshot-as-multiturn needs --chat");
    // The prompts are tokenized once, with --model's tokenizer, for both models.
    if (!a->ref.empty())
      if (const std::string note = check_same_tokenizer(a->ref, a->model); !note.empty()) std::cerr << note << "\n";
    const auto data = evals::load_mmlu(a->data, split_commas(a->subjects), a->limit);
    const auto tokenizer = text::Tokenizer::load(a->tokenizer.empty() ? a->model : a->tokenizer);
    evals::MmluTokenization tok_info;
    const auto requests = evals::build_mmlu_requests(data, tokenizer, {a->shots, a->chat, a->multiturn}, &tok_info);
    if (requests.empty()) throw Error("no test questions selected", {.file = a->data});
    std::cerr << fmt::format("MMLU: {} questions in {} subjects, {}-shot; BOS: {}\n", requests.size(), data.subjects.size(), a->shots,
                             tok_info.bos_rule);
    if (!tok_info.single_token_choices)
      std::cerr << "note: the choices are not single tokens with this tokenizer: each is scored in full (4 sequences per question)\n";
    if (!a->dump_prompts.empty()) {
      std::string out;
      for (const auto& r : requests)
        out += nlohmann::json{{"subject", r.subject}, {"index", r.index}, {"shots", a->shots}, {"context", r.context},
                              {"continuations", r.continuations}, {"answer", std::string(1, static_cast<char>('A' + r.gold))},
                              {"context_ids", r.context_ids}, {"continuation_ids", r.continuation_ids}}
                   .dump() + "\n";
      write_text(a->dump_prompts, out);
    }
    std::map<std::string, std::string> groups;
    for (const auto& s : data.subjects) groups[s.info.subject] = s.info.group;

    report::MmluResults res;
    res.settings = {a->shots, a->chat, a->multiturn, tok_info.bos_rule, tokenizer.json_path().string(), a->data,
                    split_commas(a->subjects), a->limit, a->min_recovery};
    g_interrupted = 0;
    auto previous = std::signal(SIGINT, on_mmlu_sigint);
    res.cand = run_model(a->model, requests, groups, *a, "candidate");
    // Interrupted: the reference scores the same (finished) questions, so recovery still pairs them.
    const std::size_t n = res.cand.scores.size();
    res.partial = n < requests.size();
    res.questions_selected = requests.size();
    if (!a->ref.empty() && n > 0 && !g_interrupted) {
      res.ref = run_model(a->ref, std::span<const evals::MmluRequest>(requests).first(n), groups, *a, "reference");
      if (res.ref->scores.size() < n) {  // interrupted during the reference: keep the common questions
        res.partial = true;
        res.ref.reset();
      }
    }
    std::signal(SIGINT, previous);
    if (res.ref) {
      std::unique_ptr<bool[]> rb(new bool[n]), cb(new bool[n]);
      for (std::size_t i = 0; i < n; ++i) rb[i] = res.ref->scores[i].correct, cb[i] = res.cand.scores[i].correct;
      res.recovery = metrics::mmlu_recovery({rb.get(), n}, {cb.get(), n}, a->bootstrap, a->seed);
      res.pass = std::isfinite(res.recovery->recovery) && res.recovery->recovery >= a->min_recovery;
    }
    if (!a->dump_scores.empty()) {
      std::string out = report::mmlu_scores_jsonl(res.cand);
      if (res.ref) out += report::mmlu_scores_jsonl(*res.ref);
      write_text(a->dump_scores, out);
    }
    if (!a->json.empty()) {
      std::vector<std::string> data_files = {"categories.tsv"};
      for (const auto& sub : data.subjects) {
        data_files.push_back("dev/" + sub.info.subject + "_dev.csv");
        data_files.push_back("test/" + sub.info.subject + "_test.csv");
      }
      nlohmann::json checkpoints = {{"candidate", checkpoint_identity_json(a->model, false)}};
      if (!a->ref.empty()) checkpoints["reference"] = checkpoint_identity_json(a->ref, false);
      auto j = results_envelope("mmlu", provenance_json({.argv = argv, .flags = flags_json(*cmd), .checkpoints = checkpoints,
                                                         .datasets = {{"mmlu", dataset_identity_json(a->data, data_files)}},
                                                         .seeds = {{"bootstrap", a->seed}}}));
      j.update(report::mmlu_results_json(res));
      write_text(a->json, j.dump(2) + "\n");
    }
    std::cout << report::mmlu_results_text(res);
    if (res.partial) throw Error("interrupted: the result above is partial (not every subject was scored)");
    return res.pass ? 0 : 1;
  };
}

}  // namespace qg::cli
