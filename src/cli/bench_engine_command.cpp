// `quantgate bench-engine`: our forward pass's speed on real or synthetic models (issue 11), in the shapes
// scripts/bench_transformers.py measures, plus the end-to-end figures of kl and mmlu (issues 7, 8).
// Thin: flags -> evals/engine_bench (forward shapes), evals/kl_eval (run_kl), evals/mmlu_eval (run_mmlu).
#include <fmt/format.h>

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/split_commas.h"
#include "common/error.h"
#include "evals/engine_bench.h"
#include "evals/kl_compact_measure.h"
#include "evals/kl_eval.h"
#include "evals/kl_overlap.h"
#include "evals/mmlu_data.h"
#include "evals/mmlu_eval.h"
#include "evals/mmlu_prompts.h"
#include "report/provenance.h"
#include "text/tokenizer.h"

namespace qg::cli {

namespace {

struct BenchEngineArgs {
  std::string synthetic, model, cand, weights = "bf16,w4a16", shapes = "1x2048,4x2048,1x8192,8x512,1x32768";
  std::string kl_corpus, kl_tokens, tokenizer, mmlu_data, subjects, json_out;
  std::int64_t ctx = 2048, max_chunks = 0;
  std::int64_t kl_compact_k = 0;  // --kl-compact-k: 0 = off
  std::string kl_compact_k_text;
  int warmup = 1, repeats = 3, shots = 5;
  std::size_t limit = 0, mmlu_batch = 64;
  std::uint64_t seed = 1;
  bool no_shapes = false, profile = false, no_overlap = false;
  EngineArgs engine;
};

double gib(std::uint64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0 * 1024.0); }

// One model to bench: a synthetic one (config + weights kind) or a checkpoint directory.
struct ModelChoice {
  std::string label;  // "synthetic BF16" or the directory
  bool synthetic = false, w4a16 = false;
  std::string path;
};

std::unique_ptr<Forward> open_choice(const ModelChoice& m, const BenchEngineArgs& a, std::uint64_t seed) {
  if (m.synthetic) return open_synthetic_forward({.config = m.path, .w4a16 = m.w4a16, .seed = seed}, a.engine.forward);
  return open_forward(m.path, a.engine.forward);
}

std::vector<ModelChoice> model_choices(const BenchEngineArgs& a) {
  std::vector<ModelChoice> out;
  if (!a.model.empty()) {
    out.push_back({a.model, false, false, a.model});
    if (!a.cand.empty()) out.push_back({a.cand, false, false, a.cand});
    return out;
  }
  for (const std::string& w : split_commas(a.weights)) {
    if (w != "bf16" && w != "w4a16") throw Error(fmt::format("--weights: '{}' is not bf16 or w4a16", w));
    out.push_back({w == "bf16" ? "synthetic BF16" : "synthetic W4A16", true, w == "w4a16", a.synthetic});
  }
  return out;
}

nlohmann::json forward_shapes(const BenchEngineArgs& a, const std::vector<ModelChoice>& models) {
  nlohmann::json out = nlohmann::json::array();
  const auto shapes = evals::parse_engine_shapes(a.shapes);
  for (const ModelChoice& m : models) {
    auto f = open_choice(m, a, a.seed);
    const Gemma4Config config = read_gemma4_config(
        m.synthetic ? m.path : (std::filesystem::path(m.path) / "config.json").string());
    const double flops = evals::matmul_flops_per_token(config);
    std::cout << fmt::format("\n{} on {} ({}), {:.2f} GFLOP/token (matmuls), {} tokens a step\n", m.label, f->device(),
                             forward_device_name(*f), flops / 1e9, forward_batch_tokens(*f));
    std::cout << "| B x T | tokens/s | effective TFLOP/s | median s | peak VRAM in use |\n|---|---|---|---|---|\n";
    for (const auto& shape : shapes) {
      const auto r = evals::bench_forward_shape(*f, shape, flops, a.warmup, a.repeats, a.seed);
      std::cout << fmt::format("| {} | {:.0f} | {:.1f} | {:.3f} | {:.2f} GiB |\n", shape.name(), r.tokens_per_second,
                               r.effective_tflops, r.median_seconds, gib(r.peak_device_bytes));
      std::cout.flush();
      out.push_back({{"model", m.label}, {"device", forward_device_name(*f)}, {"shape", shape.name()},
                     {"batch", shape.batch}, {"tokens", shape.tokens}, {"seconds", r.seconds},
                     {"median_seconds", r.median_seconds}, {"tokens_per_second", r.tokens_per_second},
                     {"effective_tflops", r.effective_tflops}, {"gflop_per_token", flops / 1e9},
                     {"max_batch_tokens", forward_batch_tokens(*f)},
                     {"peak_device_bytes", r.peak_device_bytes}});
    }
    if (a.profile) std::cout << "\nGPU time per phase, " << m.label << " (all shapes, warm-up included):\n" << forward_profile_report(*f);
  }
  return out;
}

// --kl-compact-k: the compact reference cache lives in the temp directory for the run (about 8K + 52 bytes a
// scored token: ~0.3 GB for WikiText-2 at K = 256) and is removed afterwards, also on an error.
struct CompactCacheFile {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               fmt::format("quantgate-bench-kl-compact-{}.safetensors", static_cast<long>(getpid()));
  CompactCacheFile() = default;
  CompactCacheFile(const CompactCacheFile&) = delete;
  CompactCacheFile& operator=(const CompactCacheFile&) = delete;
  ~CompactCacheFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path.string() + ".partial.safetensors", ec);  // an interrupted writer's file
  }
};

// "" (the flag alone; CLI11 may also hand "true" for an option without its value) -> 256; else K >= 0.
std::int64_t parse_kl_compact_k(const std::string& text) {
  if (text.empty() || text == "true") return 256;
  std::int64_t k = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), k);
  if (ec != std::errc() || end != text.data() + text.size() || k < 0)
    throw Error(fmt::format("--kl-compact-k '{}': expected K >= 0 (0: off; the flag alone: 256)", text));
  return k;
}

// The compact cache's KL error on this pair, printed beside the exact result and returned as "kl_compact".
nlohmann::json report_kl_compact(const KlCompactMeasurement& m, const std::vector<ModelChoice>& models,
                                 const BenchEngineArgs& a, std::int64_t n_vocab, std::size_t n_chunks) {
  const KlCompactError& e = m.error;
  const double tokens = static_cast<double>(e.n_tokens);
  const double bytes_per_token = static_cast<double>(m.cache_bytes) / tokens;
  const double llama_cpp_per_token = 2.0 * static_cast<double>(n_vocab);  // llama.cpp's fp16 logits file
  const std::string pair = fmt::format("{} vs {}{}", models[0].label, models[1].label,
                                       models[0].synthetic ? fmt::format(" ({}, seed {})", a.synthetic, a.seed) : "");
  const std::string method_name = metrics::kl_tail_method_name(m.method);
  // The printed bound was measured at one K and method: another K or method is reported but not judged by it.
  const bool comparable = m.k == kKlCompactMeasuredK && m.method == kDefaultKlTailMethod;
  const std::string verdict = !comparable ? fmt::format("not comparable (measured at K {}, {})", kKlCompactMeasuredK,
                                                        metrics::kl_tail_method_name(kDefaultKlTailMethod))
                              : e.within_printed_bound ? "within it"
                                                       : "OUTSIDE it (the printed bound must be updated from this figure)";
  std::cout << fmt::format(
      "\nKL from a compact reference cache (K {}, {}; top-K written on the {}, compared on the {}), same {} chunks, "
      "measured on {}:\n"
      "  mean KL exact {:.6g}, compact {:.6g}: relative error {:+.3f} %; max |token KL error| {:.4g} (chunk {}, row {})\n"
      "  reference tail mass beyond the top-K: mean {:.4g}, max {:.4g}; max |token error| / max p_tail {:.4g}\n"
      "  rigorous bounds of the mean KL [{:.6g}, {:.6g}] (width {:.4g}){}\n"
      "  cache {:.0f} bytes a token ({} bytes) = {:.2f} % of llama.cpp's 2 x {} = {:.0f} bytes a token\n"
      "  wall time: exact {:.2f} s (both models, full rows); compact: writing {:.2f} s (reference pass, K {}) + "
      "comparing {:.2f} s (candidate pass) = {:.2f} s\n"
      "  kl_compact_cache.h prints as the measured error: max |token error| / max p_tail <= {}, |mean error| <= {} % "
      "when p_tail mean <= {} ({}): this pair is {}\n",
      m.k, method_name, m.written_on_device ? "GPU" : "host", m.compared_on_device ? "GPU" : "host", n_chunks, pair,
      e.exact_mean, e.compact_mean, 100 * e.relative_mean_error, e.max_abs_token_error, e.worst_chunk, e.worst_row,
      e.p_tail_mean, e.p_tail_max, e.max_error_over_max_p_tail, e.bounds_lower_mean, e.bounds_upper_mean,
      e.bounds_upper_mean - e.bounds_lower_mean, e.bounds_contain_exact ? ", containing the exact mean" : ", NOT containing the exact mean",
      bytes_per_token, m.cache_bytes, 100 * bytes_per_token / llama_cpp_per_token, n_vocab, llama_cpp_per_token,
      m.exact_seconds, m.write_seconds, m.k, m.compare_seconds, m.write_seconds + m.compare_seconds,
      kKlCompactMeasuredTokenError, 100 * kKlCompactMeasuredMeanError, kKlCompactMeanErrorMaxTail,
      kKlCompactMeasuredWhere, verdict);
  return {{"measured_on", pair},
          {"k", m.k},
          {"method", method_name},
          {"written_on", m.written_on_device ? "gpu" : "host"},
          {"compared_on", m.compared_on_device ? "gpu" : "host"},
          {"scored_tokens", e.n_tokens},
          {"kl_mean_exact", e.exact_mean},
          {"kl_mean_compact", e.compact_mean},
          {"relative_mean_error", std::isfinite(e.relative_mean_error) ? nlohmann::json(e.relative_mean_error) : nlohmann::json()},
          {"max_abs_token_error", e.max_abs_token_error},
          {"worst_token", {{"chunk", e.worst_chunk}, {"row", e.worst_row}}},
          {"p_tail", {{"mean", e.p_tail_mean}, {"max", e.p_tail_max}}},
          {"max_token_error_over_max_p_tail", e.max_error_over_max_p_tail},
          {"kl_mean_bounds", {{"lower", e.bounds_lower_mean}, {"upper", e.bounds_upper_mean},
                              {"width", e.bounds_upper_mean - e.bounds_lower_mean},
                              {"contains_exact", e.bounds_contain_exact}}},
          {"cache_bytes", m.cache_bytes},
          {"cache_bytes_per_token", bytes_per_token},
          {"llama_cpp_bytes_per_token", llama_cpp_per_token},
          {"cache_fraction_of_llama_cpp", bytes_per_token / llama_cpp_per_token},
          {"seconds", {{"exact", m.exact_seconds}, {"write", m.write_seconds}, {"compare", m.compare_seconds}}},
          {"printed_bound", {{"where", kKlCompactMeasuredWhere},
                             {"max_token_error_over_p_tail", kKlCompactMeasuredTokenError},
                             {"max_relative_mean_error", kKlCompactMeasuredMeanError},
                             {"within", comparable ? nlohmann::json(e.within_printed_bound) : nlohmann::json()}}}};
}

nlohmann::json kl_end_to_end(const BenchEngineArgs& a, const std::vector<ModelChoice>& models) {
  if (models.size() < 2)
    throw Error("the KL benchmark needs two models: --synthetic with --weights bf16,w4a16, or --model REF --cand DIR");
  const auto t_open = std::chrono::steady_clock::now();
  auto ref = open_choice(models[0], a, a.seed);
  auto cand = open_choice(models[1], a, a.seed);
  const double open_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_open).count();
  check_kl_pair(ref->config(), cand->config(), models[0].label, models[1].label);
  const auto bos = static_cast<TokenId>(ref->config().bos_token_id);
  const auto t0 = std::chrono::steady_clock::now();
  KlCorpus corpus = load_kl_corpus({.tokens_file = a.kl_tokens, .corpus = a.kl_corpus, .tokenizer = a.tokenizer}, bos);
  const KlChunkPlan plan = plan_kl_chunks(corpus.ids, bos, {.ctx = a.ctx, .max_chunks = a.max_chunks});
  const double tokenize_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << plan.rule << "\n";
  // The engine computes --logits-rows (512) rows per head GEMM; comparing them in one go keeps the GPU busy.
  KlRunOptions options{.chunk_rows = a.engine.forward.limits.logits_rows};
  options.on_chunk = [](const KlProgress& p) {
    if (p.chunks_done % 10 == 0 || p.chunks_done == p.n_chunks)
      std::cerr << fmt::format("kl: chunk {}/{}, {:.0f} tokens/s\n", p.chunks_done, p.n_chunks,
                               static_cast<double>(p.tokens_scored) / p.seconds);
  };
  KlRun run;
  bool overlapped = false;  // the reference one group ahead on a second thread (evals/kl_overlap.h)
  std::size_t chunks_per_call = 1;
  std::optional<KlCompactMeasurement> compact;  // --kl-compact-k: the exact run plus the two compact-cache passes
  if (a.kl_compact_k > 0) {
    const CompactCacheFile file;
    compact = measure_kl_compact(*ref, *cand, plan, options,
                                 {.k = a.kl_compact_k, .cache_file = file.path,
                                  .identity = {{"reference", models[0].label}, {"corpus", corpus.identity},
                                               {"tokenizer_sha256", ""}},
                                  .on_phase = [](const std::string& line) { std::cerr << line << "\n"; }});
    run = std::move(compact->exact);
  } else {
    const auto comparer = open_kl_comparer(*ref, *cand);
    const auto rows_bytes = static_cast<std::size_t>(plan.scored_per_chunk * ref->config().n_vocab) * 4;
    const KlOverlap overlap = a.no_overlap ? KlOverlap{} : open_kl_overlap(*ref, *cand, plan.ctx, rows_bytes);
    overlapped = overlap.second != nullptr;
    chunks_per_call = overlap.chunks_per_call;
    if (overlap.second)
      run = run_kl_overlapped(*ref, *cand, plan, options, *comparer, *overlap.second, overlap.chunks_per_call);
    else
      run = run_kl(*ref, *cand, plan, options, comparer.get());
  }
  if (a.profile)
    std::cout << "\nGPU time per phase" << (compact ? " (the compact cache's passes included)" : "") << ", reference:\n"
              << forward_profile_report(*ref) << "candidate:\n" << forward_profile_report(*cand);
  // With --kl-compact-k the compact passes ran after the exact one: only the exact run counts here.
  const double total_s = compact ? tokenize_s + compact->exact_seconds
                                 : std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto summary = metrics::summarize_kl(run.acc, {.block_len = static_cast<std::size_t>(plan.scored_per_chunk)});
  const double outside = total_s - run.progress.forward_seconds;
  std::cout << fmt::format(
      "\nKL {} vs {} on {}: {} chunks x {} tokens, {} scored tokens in {:.2f} s ({:.0f} scored tokens/s; models "
      "opened in {:.1f} s, not counted){}\n  the two forward passes: {:.2f} s; everything else (tokenizing {:.2f} s, "
      "KL, statistics, bookkeeping): {:.2f} s = {:.1f} % of the run\n  mean KL {:.6g}\n",
      models[0].label, models[1].label, forward_device_name(*cand), plan.chunks.size(), plan.ctx,
      run.progress.tokens_scored, total_s, static_cast<double>(run.progress.tokens_scored) / total_s, open_s,
      overlapped ? fmt::format("; {} chunks a forward call, the reference one call ahead of the candidate", chunks_per_call) : "", run.progress.forward_seconds, tokenize_s, outside, 100.0 * outside / total_s, summary.kl_mean.value);
  nlohmann::json out = {{"reference", models[0].label}, {"candidate", models[1].label}, {"device", forward_device_name(*cand)},
          {"chunks", plan.chunks.size()}, {"ctx", plan.ctx}, {"scored_tokens", run.progress.tokens_scored},
          {"seconds", total_s}, {"tokenize_seconds", tokenize_s}, {"forward_seconds", run.progress.forward_seconds},
          {"outside_forward_fraction", outside / total_s}, {"open_seconds", open_s},
          {"scored_tokens_per_second", static_cast<double>(run.progress.tokens_scored) / total_s},
          {"kl_mean", summary.kl_mean.value}, {"overlapped", overlapped}, {"chunks_per_call", chunks_per_call}, {"corpus", corpus.identity}};
  if (compact) out["kl_compact"] = report_kl_compact(*compact, models, a, ref->config().n_vocab, plan.chunks.size());
  return out;
}

nlohmann::json mmlu_end_to_end(const BenchEngineArgs& a, const std::vector<ModelChoice>& models) {
  if (a.tokenizer.empty()) throw Error("the MMLU benchmark needs --tokenizer (a tokenizer.json or its directory)");
  const auto data = evals::load_mmlu(a.mmlu_data, split_commas(a.subjects), a.limit);
  const auto tokenizer = text::Tokenizer::load(a.tokenizer);
  const auto t_build = std::chrono::steady_clock::now();
  const auto requests = evals::build_mmlu_requests(data, tokenizer, {.shots = a.shots});
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_build).count();
  auto f = open_choice(models[0], a, a.seed);
  evals::MmluEvalOptions options;
  options.batch_size = a.mmlu_batch;
  options.row_scorer = open_mmlu_row_scorer(*f);
  options.progress = [](std::size_t done, std::size_t total) {
    if (done % 1000 < 16 || done == total) std::cerr << fmt::format("mmlu: {}/{}\n", done, total);
  };
  evals::MmluEvalStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  const auto scores = evals::run_mmlu(*f, requests, options, &stats);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.profile) std::cout << "\nGPU time per phase:\n" << forward_profile_report(*f);
  std::size_t prompt_tokens = 0;
  for (const auto& r : requests) prompt_tokens += r.context_ids.size() + 1;
  std::cout << fmt::format(
      "\nMMLU {}-shot, {} questions, {} on {}: {:.1f} s ({:.1f} questions/s; prompts built in {:.1f} s, not "
      "counted); {} prompt tokens, {} run through the model (prefix reuse saved {}); {}\n",
      a.shots, scores.size(), models[0].label, forward_device_name(*f), s, static_cast<double>(scores.size()) / s,
      build_s, prompt_tokens, stats.forward_tokens, stats.prefix_tokens_reused,
      fmt::format("{} sequences per call", a.mmlu_batch));
  return {{"model", models[0].label}, {"device", forward_device_name(*f)}, {"shots", a.shots},
          {"questions", scores.size()}, {"seconds", s}, {"prompt_tokens", prompt_tokens},
          {"forward_tokens", stats.forward_tokens}, {"prefix_tokens_reused", stats.prefix_tokens_reused},
          {"sequences_per_call", a.mmlu_batch}};
}

}  // namespace

CommandRunner register_bench_engine(CLI::App& app) {
  auto a = std::make_shared<BenchEngineArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench-engine",
      "Forward-pass speed (tokens/s, effective TFLOP/s, peak VRAM) in BxT shapes, and optionally the end-to-end time "
      "of kl and mmlu, on a checkpoint or a synthetic model (a config's shapes, random weights on the GPU)");
  auto* syn = cmd->add_option("--synthetic", a->synthetic, "config.json of the shapes (e.g. tests/fixtures/configs/gemma4_e4b.json)");
  auto* model = cmd->add_option("--model", a->model, "checkpoint directory (instead of --synthetic)");
  syn->excludes(model);
  cmd->add_option("--cand", a->cand, "with --model: a second checkpoint (the KL candidate)");
  cmd->add_option("--weights", a->weights, "synthetic weights to bench, in order (the first is the KL reference)")
      ->capture_default_str();
  cmd->add_option("--shapes", a->shapes, "BxT shapes of the forward benchmark")->capture_default_str();
  cmd->add_flag("--no-shapes", a->no_shapes, "skip the forward benchmark");
  cmd->add_flag("--no-overlap", a->no_overlap, "KL: the reference strictly before the candidate on each chunk");
  cmd->add_option("--warmup", a->warmup, "untimed calls per shape")->capture_default_str();
  cmd->add_option("--repeats", a->repeats, "timed calls per shape (the median is reported)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "seed of the random ids and synthetic weights")->capture_default_str();
  cmd->add_option("--kl-corpus", a->kl_corpus, "KL end to end over this text (needs --tokenizer)");
  cmd->add_option("--kl-tokens", a->kl_tokens, "KL end to end over these token ids (JSON array or whitespace list)");
  cmd->add_option("--ctx", a->ctx, "KL chunk length")->capture_default_str();
  auto* compact_k = cmd->add_option("--kl-compact-k", a->kl_compact_k_text,
                                    "KL: also write the reference's compact cache with this K (the flag alone: 256; "
                                    "0: off) into the temp directory, compare the candidate with it and report its KL "
                                    "error against the exact run, token by token")
                        ->expected(0, 1);
  cmd->add_option("--max-chunks", a->max_chunks, "KL: at most N chunks (0: all)");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or its directory (KL text, MMLU)");
  cmd->add_option("--mmlu-data", a->mmlu_data, "MMLU end to end over this data directory (needs --tokenizer)");
  cmd->add_option("--shots", a->shots, "MMLU few-shot examples")->capture_default_str();
  cmd->add_option("--subjects", a->subjects, "MMLU subjects (default: all)");
  cmd->add_option("--limit", a->limit, "MMLU: first N test questions per subject");
  cmd->add_option("--mmlu-batch", a->mmlu_batch, "MMLU questions per forward call (as mmlu --batch)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--json", a->json_out, "write the figures as JSON");
  cmd->add_flag("--profile", a->profile, "CUDA: GPU time per engine phase (CUDA events, one sync per step; slows the run a little)");
  add_engine_options(cmd, a->engine);
  return [a, compact_k](const std::vector<std::string>& argv) {
    if (a->synthetic.empty() && a->model.empty()) throw Error("bench-engine needs --synthetic CONFIG or --model DIR");
    a->kl_compact_k = compact_k->count() > 0 ? parse_kl_compact_k(a->kl_compact_k_text) : 0;
    if (a->kl_compact_k > 0 && a->kl_corpus.empty() && a->kl_tokens.empty())
      throw Error("--kl-compact-k needs the KL benchmark: --kl-tokens FILE or --kl-corpus FILE");
    if (a->warmup < 0 || a->repeats < 1) throw Error("--warmup must be >= 0 and --repeats >= 1");
    const auto models = model_choices(*a);
    if (models.empty()) throw Error("--weights names no model");
    a->engine.forward.profile = a->profile;
    // One K/V slot per sequence in flight: the largest B x T must fit (the CUDA engine's cache).
    if (a->engine.max_context->count() == 0) {
      std::int64_t need = std::max(a->ctx, a->engine.forward.limits.max_context);
      if (!a->no_shapes)
        for (const auto& s : evals::parse_engine_shapes(a->shapes)) need = std::max(need, s.batch * s.tokens);
      a->engine.forward.limits.max_context = need;
    }
    nlohmann::json out = {{"schema", "quantgate.bench_engine/1"}, {"provenance", provenance_json(argv)},
                          {"precision", a->engine.forward.precision},
                          {"max_batch_tokens", a->engine.forward.auto_batch_tokens
                                                   ? nlohmann::json("auto")
                                                   : nlohmann::json(a->engine.forward.limits.max_batch_tokens)}};
    if (!a->no_shapes) out["forward"] = forward_shapes(*a, models);
    if (!a->kl_corpus.empty() || !a->kl_tokens.empty()) out["kl"] = kl_end_to_end(*a, models);
    if (!a->mmlu_data.empty()) out["mmlu"] = mmlu_end_to_end(*a, models);
    if (!a->json_out.empty()) {
      std::ofstream f(a->json_out);
      if (!f) throw Error("cannot write the results JSON", {.file = a->json_out});
      f << out.dump(2) << "\n";
    }
    return 0;
  };
}

}  // namespace qg::cli
