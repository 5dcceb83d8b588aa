// `quantgate kl --ref DIR --cand DIR [--corpus FILE | --tokens-file FILE] [--ctx 2048] ...`: per-token KL of a
// candidate against its reference (issue 7). Thin: flags -> evals/kl_eval -> metrics -> report/kl_report.
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "evals/kl_eval.h"
#include "evals/kl_compact_cache.h"
#ifdef QG_HAVE_CUDA
#include "evals/kl_compact_device_comparer.h"
#include "evals/kl_compact_device_writer.h"
#endif
#include "evals/kl_overlap.h"
#include "evals/kl_ref_cache.h"
#include "evals/kl_two_pass.h"
#include "evals/same_tokenizer.h"
#include "cli/engine_options.h"
#include "cli/flags_json.h"
#include "report/checkpoint_identity.h"
#include "report/kl_report.h"
#include "report/provenance.h"

namespace qg::cli {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;  // CLI only: Ctrl-C ends the run after the current chunk
extern "C" void on_sigint(int) { g_interrupted = 1; }

struct KlArgs {
  std::string ref, cand, corpus = "../shared/datasets/wikitext-2-raw/wiki.test.raw", tokens_file, tokenizer;
  std::string text_field = "text", score_from = "half", json_out, dump_tokens, ref_cache, save_ref_cache;
  std::string ref_cache_tail = metrics::kl_tail_method_name(kDefaultKlTailMethod);
  double ref_buffer_gb = 0;
  std::int64_t ref_cache_topk = 256;
  EngineArgs engine;
  std::int64_t ctx = 2048, max_chunks = 0, chunk_rows = 64;
  bool llama_cpp_compat = false, hash_checkpoints = false, ctx_given = false, no_overlap = false;
  double max_kl = 0.014;
  std::uint64_t seed = 1234;
  int resamples = 1000;

  KlChunking chunking() const {
    KlChunking c{.ctx = ctx, .llama_cpp_compat = llama_cpp_compat, .max_chunks = max_chunks};
    if (llama_cpp_compat && !ctx_given) c.ctx = 512;  // llama-perplexity's default -c
    c.score_from = parse_score_from(score_from);
    return c;
  }
  void validate() const {
    (void)parse_device(engine.forward.device);
    if (max_kl < 0) throw Error("--max-kl must be >= 0");
    if (chunk_rows < 1) throw Error("--chunk-rows must be >= 1");
    if (ref_cache_topk < 1) throw Error("--ref-cache-topk must be >= 1");
    (void)metrics::parse_kl_tail_method(ref_cache_tail);
    (void)chunking();
  }
};
}  // namespace

CommandRunner register_kl(CLI::App& app) {
  auto a = std::make_shared<KlArgs>();
  CLI::App* cmd = app.add_subcommand("kl", "Per-token KL divergence of a candidate checkpoint against its "
                                           "reference over a corpus; exit 0 pass, 1 fail (--max-kl), 2 error.");
  cmd->add_option("--ref", a->ref, "reference checkpoint directory (e.g. BF16); optional with --ref-cache FILE");
  cmd->add_option("--cand", a->cand, "candidate checkpoint directory (e.g. its W4A16 quantization); optional with "
                                     "--save-ref-cache (then only the reference runs)");
  auto* corpus = cmd->add_option("--corpus", a->corpus, "plain text, or JSONL (.jsonl) with a text field")
                     ->capture_default_str();
  auto* tokens = cmd->add_option("--tokens-file", a->tokens_file, "token ids instead of text: JSON array (.json) "
                                                                  "or whitespace/comma-separated integers");
  tokens->excludes(corpus);
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or dir (default: the reference's)");
  cmd->add_option("--text-field", a->text_field, "JSONL field holding the text")->capture_default_str();
  auto* ctx = cmd->add_option("--ctx", a->ctx, "tokens per chunk, BOS included (512 with --llama-cpp-compat)")
                  ->capture_default_str();
  cmd->add_option("--score-from", a->score_from, "first scored row of each chunk: half or N")->capture_default_str();
  cmd->add_option("--max-chunks", a->max_chunks, "score at most N chunks (0: all)");
  cmd->add_flag("--llama-cpp-compat", a->llama_cpp_compat,
                "llama-perplexity's chunking: ctx 512, BOS overwriting each chunk's first token");
  add_engine_options(cmd, a->engine);
  auto* chunk_rows = cmd->add_option("--chunk-rows", a->chunk_rows,
                                     "logit rows per forward callback (default: 64 on the CPU, --logits-rows on a GPU)");
  cmd->add_option("--max-kl", a->max_kl, "gate: mean KL must not exceed this")->capture_default_str();
  cmd->add_option("--seed", a->seed, "bootstrap seed")->capture_default_str();
  cmd->add_option("--bootstrap-resamples", a->resamples, "block-bootstrap resamples")->capture_default_str();
  cmd->add_flag("--hash-checkpoints", a->hash_checkpoints, "sha256 of every checkpoint file (else size+mtime)");
  cmd->add_option("--json", a->json_out, "write the results JSON here");
  cmd->add_option("--dump-tokens", a->dump_tokens, "per-token CSV (chunk, row, next id, KLs, NLLs, p, top-1)");
  cmd->add_option("--ref-cache", a->ref_cache,
                  "run the models one after the other through this directory of the reference's fp32 logits (1 MiB "
                  "per scored token at a 262k vocabulary): written on first use, reused while the reference, corpus "
                  "and chunking match (the way to fit an 8B pair on a 24 GB GPU, or to compare several candidates). "
                  "A FILE (an existing file, or a name ending in .safetensors) is a compact cache written by "
                  "--save-ref-cache instead: KL approximate (its method, bounds and measured error are printed), "
                  "everything else exact");
  auto* buffer = cmd->add_option("--ref-buffer-gb", a->ref_buffer_gb,
                                 "exact two-pass mode: never both models resident; the reference runs over blocks of "
                                 "chunks whose fp32 scored rows fit this many GiB of host memory, then the candidate "
                                 "on each block (models reopened per block); results identical to the resident mode");
  cmd->add_option("--save-ref-cache", a->save_ref_cache,
                  "write a compact reference cache FILE (top-K ids + logits and exact per-token stats, ~8K+52 bytes "
                  "a token): the reference pass only, or alongside the exact comparison when --cand is given");
  cmd->add_option("--ref-cache-topk", a->ref_cache_topk, "K of --save-ref-cache")->capture_default_str();
  cmd->add_flag("--no-overlap", a->no_overlap,
                "CUDA, both models resident: run the reference strictly before the candidate on each chunk (by "
                "default each model runs a step's worth of chunks per call, the reference one call ahead on a second "
                "thread, when the GPU has room for two such groups of reference rows; same results, faster)");
  cmd->add_option("--ref-cache-tail", a->ref_cache_tail,
                  "KL tail estimate from a compact cache: proportional or log-sum (a lower bound)")
      ->capture_default_str();
  return [a, chunk_rows, ctx, tokens, cmd, buffer](const std::vector<std::string>& argv) {
    // On a GPU the engine computes --logits-rows rows per head GEMM: comparing them in one go keeps the GPU busy
    // (64-row KL launches left most SMs idle).
    if (chunk_rows->count() == 0 && parse_device(a->engine.forward.device).cuda)
      a->chunk_rows = a->engine.forward.limits.logits_rows;
    a->ctx_given = ctx->count() > 0;
    a->validate();
    const KlChunking chunking = a->chunking();
    // Which memory mode (README, kl row): resident (both models loaded), two-pass (--ref-buffer-gb), the exact
    // directory cache (--ref-cache DIR), or the compact cache (--save-ref-cache FILE writes, --ref-cache FILE reads).
    const bool compact_in = !a->ref_cache.empty() && is_compact_ref_cache_path(a->ref_cache);
    const bool dir_cache = !a->ref_cache.empty() && !compact_in;
    const bool saving = !a->save_ref_cache.empty(), two_pass = buffer->count() > 0, has_cand = !a->cand.empty();
    if (!has_cand && !saving) throw Error("--cand is required (only --save-ref-cache runs the reference alone)");
    if (a->ref.empty() && !compact_in)
      throw Error("--ref is required (only --ref-cache FILE, a compact reference cache, runs without it)");
    if (!a->ref_cache.empty() && (saving || two_pass))
      throw Error("--ref-cache cannot be combined with --save-ref-cache or --ref-buffer-gb");
    if (compact_in && !std::filesystem::is_regular_file(a->ref_cache))
      throw Error("no such compact reference cache file", {.file = a->ref_cache, .hint = "write one with --save-ref-cache FILE"});
    // Before any model is loaded: both must read the corpus's ids the same way.
    if (!a->ref.empty() && has_cand)
      if (const std::string note = check_same_tokenizer(a->ref, a->cand); !note.empty()) std::cerr << note << "\n";
    ForwardOptions engine = a->engine.forward;
    if (a->engine.max_context->count() == 0) engine.limits.max_context = chunking.ctx;  // one chunk in flight
    const bool cached = dir_cache;
    const bool reuse_cache = cached && kl_ref_cache_exists(a->ref_cache);
    // Resident: both models loaded at once. Otherwise the reference runs first (or not at all) and is released
    // before the candidate is loaded.
    const std::string config_dir = a->ref.empty() ? a->cand : a->ref;
    std::unique_ptr<Forward> ref;
    const Gemma4TextConfig ref_config =
        (reuse_cache || compact_in || two_pass) ? read_gemma4_config((std::filesystem::path(config_dir) / "config.json").string()).text
                                                : (ref = open_forward(a->ref, engine))->config();
    std::unique_ptr<Forward> cand = (cached || two_pass || !has_cand) ? nullptr : open_forward(a->cand, engine);
    std::string device = cand ? cand->device() : ref ? ref->device() : "";

    const auto bos = static_cast<TokenId>(ref_config.bos_token_id);
    KlCorpus corpus = load_kl_corpus({.tokens_file = a->tokens_file, .corpus = a->corpus, .text_field = a->text_field,
                                      .tokenizer = a->tokenizer.empty() ? config_dir : a->tokenizer}, bos);
    const KlChunkPlan plan = plan_kl_chunks(corpus.ids, bos, chunking);
    corpus.identity["n_tokens"] = plan.corpus_tokens;
    std::cerr << plan.rule << "\n";

    std::ofstream dump;
    if (!a->dump_tokens.empty()) {
      dump.open(a->dump_tokens);
      if (!dump) throw Error("cannot write the per-token dump", {.file = a->dump_tokens});
      dump << kl_token_csv_header();
    }
    KlRunOptions options{.chunk_rows = a->chunk_rows};
    // A terminal gets one progress line rewritten in place (with a bar); a log file gets a line per chunk.
    const bool tty = isatty(fileno(stderr)) != 0;
    options.on_chunk = [tty](const KlProgress& p) {
      const double eta = p.seconds / static_cast<double>(p.chunks_done) * static_cast<double>(p.n_chunks - p.chunks_done);
      const double tok_s = p.seconds > 0 ? static_cast<double>(p.tokens_scored) / p.seconds : 0.0;
      const int filled = static_cast<int>(30 * p.chunks_done / std::max<std::int64_t>(1, p.n_chunks));
      const std::string bar = tty ? "[" + std::string(static_cast<std::size_t>(filled), '#') +
                                        std::string(static_cast<std::size_t>(30 - filled), '.') + "] "
                                  : "";
      std::cerr << fmt::format("{}kl: {}chunk {}/{}, {} tokens, {:.0f} tokens/s, {:.1f} s, ETA {:.0f} s{}",
                               tty ? "\r" : "", bar, p.chunks_done, p.n_chunks, p.tokens_scored, tok_s, p.seconds, eta,
                               tty && p.chunks_done < p.n_chunks ? "" : "\n");
    };
    options.should_stop = [] { return g_interrupted != 0; };
    if (dump.is_open())
      options.on_token = [&dump](std::int64_t c, std::int64_t r, TokenId next, const metrics::TokenKl& t) {
        dump << kl_token_csv_row(c, r, next, t);
      };
    g_interrupted = 0;
    auto previous = std::signal(SIGINT, on_sigint);
    KlRun run;
    nlohmann::json approximation;    // stays null for exact results
    nlohmann::json cache_reference;  // the compact cache's reference identity (when --ref is not given)
    std::unique_ptr<KlCompactCacheWriter> writer;
    if (saving) {
      writer = std::make_unique<KlCompactCacheWriter>(
          a->save_ref_cache, plan, ref_config.n_vocab, a->ref_cache_topk,
          nlohmann::json{{"reference", checkpoint_identity_json(a->ref, a->hash_checkpoints)},
                         {"tokenizer_sha256", tokenizer_sha256_of(a->ref)},
                         {"corpus", corpus.identity}});
    }
    auto finish_cache = [&] {
      const std::uint64_t bytes = writer->finish();
      const double per_token = static_cast<double>(bytes) / static_cast<double>(writer->p_tail().count());
      std::cerr << fmt::format("kl: wrote the compact reference cache {}: {} tokens, K {}, {} bytes ({:.0f} bytes a "
                               "token, {:.2f}% of llama.cpp's 2 bytes x {} a token); reference tail mass beyond the "
                               "top-K: mean {:.3g}, max {:.3g}\n",
                               a->save_ref_cache, writer->p_tail().count(), writer->k(), bytes, per_token,
                               100 * per_token / (2.0 * static_cast<double>(ref_config.n_vocab)), ref_config.n_vocab,
                               writer->p_tail().mean(), writer->p_tail().max());
    };
    if (saving && !has_cand) {
      std::cerr << fmt::format("kl: reference pass only, writing {}\n", a->save_ref_cache);
      const auto stop = [] { return g_interrupted != 0; };
      const auto progress = [tty](std::size_t d, std::size_t total) {
        std::cerr << fmt::format("{}kl: reference chunk {}/{}{}", tty ? "\r" : "", d, total, tty && d < total ? "" : "\n");
      };
      bool done = false;
#ifdef QG_HAVE_CUDA
      if (ref->device().rfind("cuda", 0) == 0)  // top-K on the GPU: only the compact rows come to the host
        done = write_kl_compact_cache_device(*ref, plan, *writer, stop, progress);
      else
#endif
        done = write_kl_compact_cache(*ref, plan, *writer, stop, progress);
      std::signal(SIGINT, previous);
      if (!done) throw Error("interrupted: no reference cache was written", {.file = a->save_ref_cache});
      finish_cache();
      return 0;
    }
    if (compact_in) {
      const KlCompactCache cache(a->ref_cache, plan, ref_config.n_vocab, corpus.identity, tokenizer_sha256_of(config_dir));
      if (!a->ref.empty() &&
          cache.header().value("reference", nlohmann::json()).value("files", nlohmann::json()) !=
              checkpoint_identity_json(a->ref, false)["files"])
        throw Error("the reference cache was written for another reference checkpoint (files differ)",
                    {.file = a->ref_cache, .hint = "drop --ref to use the cache's reference as it is"});
      std::cerr << fmt::format("kl: reference from the compact cache {} (K {}): KL approximate, everything else exact\n",
                               a->ref_cache, cache.k());
      cand = open_forward(a->cand, engine);
      device = cand->device();
      if (cand->config().n_vocab != ref_config.n_vocab) check_kl_pair(ref_config, cand->config(), config_dir, a->cand);
      const metrics::KlTailMethod method = metrics::parse_kl_tail_method(a->ref_cache_tail);
      std::unique_ptr<CompactRowComparer> comparer;
#ifdef QG_HAVE_CUDA
      if (cand->device().rfind("cuda", 0) == 0) comparer = device_compact_kl_comparer(cache, method);  // rows stay on the GPU
#endif
      if (!comparer) comparer = std::make_unique<CompactKlComparer>(cache, method);
      CompactKlReference reference(*comparer);
      run = run_kl(reference, *cand, plan, options, comparer.get());
      approximation = kl_compact_approximation_json(cache, comparer->stats(), comparer->method());
      cache_reference = cache.header().value("reference", nlohmann::json::object());
      cache_reference["compact_cache"] = a->ref_cache;
    } else if (two_pass) {
      const KlBlockPlan blocks = plan_kl_blocks(plan, ref_config.n_vocab, a->ref_buffer_gb);
      std::cerr << blocks.rule << "\n";
      KlTwoPassOptions tp;
      tp.make_comparer = [](Forward& c) { return open_kl_comparer(c, c); };
      tp.on_phase = [](const std::string& line) { std::cerr << line << "\n"; };
      if (writer)
        tp.on_reference_chunk = [&](std::size_t c, const float* rows) { writer->add_rows(c, rows, 0, plan.scored_per_chunk); };
      run = run_kl_two_pass([&] { return open_forward(a->ref, engine); },
                            [&] {
                              auto c = open_forward(a->cand, engine);
                              check_kl_pair(ref_config, c->config(), a->ref, a->cand);
                              device = c->device();
                              return c;
                            },
                            plan, blocks, options, tp);
      if (writer && !run.partial) finish_cache();
    } else if (saving) {  // resident, the cache written on the way
      check_kl_pair(ref->config(), cand->config(), a->ref, a->cand);
      // Both models on one GPU: the exact comparison stays there and the reference rows are compacted where the
      // engine left them (only 8K + 52 bytes a token come down); otherwise host rows feed the host writer.
      const auto comparer = open_kl_comparer(*ref, *cand);
      LiveKlReference live(*ref, plan, {.chunk_rows = a->chunk_rows, .first_logit_row = plan.first_scored_row,
                                        .logits_on_device = comparer->logits_on_device()});
#ifdef QG_HAVE_CUDA
      if (comparer->logits_on_device()) {
        DeviceSavingKlReference tee(live, plan, *writer);
        run = run_kl(tee, *cand, plan, options, comparer.get());
      } else
#endif
      {
        SavingKlReference tee(live, *writer);
        run = run_kl(tee, *cand, plan, options, comparer.get());
      }
      if (!run.partial) finish_cache();
    } else if (cached) {
      const nlohmann::json ref_identity = checkpoint_identity_json(a->ref, false);
      if (!reuse_cache) {
        std::cerr << fmt::format("kl: writing the reference's logits to {}\n", a->ref_cache);
        write_kl_ref_cache(*ref, plan, a->ref_cache,
                           {{"reference", ref_identity}, {"corpus", corpus.identity}, {"chunking", plan.rule}},
                           [tty](std::size_t done, std::size_t total) {
                             std::cerr << fmt::format("{}kl: reference chunk {}/{}{}", tty ? "\r" : "", done, total,
                                                      tty && done < total ? "" : "\n");
                           });
        ref.reset();  // free its memory (GPU) before the candidate loads
      } else {
        std::cerr << fmt::format("kl: reusing the reference's logits in {}\n", a->ref_cache);
      }
      const KlRefCache cache(a->ref_cache, plan, ref_config.n_vocab);
      // The cache must come from this reference checkpoint (same files, sizes and times).
      if (cache.manifest().value("reference", nlohmann::json()).value("files", nlohmann::json()) != ref_identity["files"])
        throw Error("the reference cache was written for another reference checkpoint (files differ)",
                    {.file = (std::filesystem::path(a->ref_cache) / "manifest.json").string(),
                     .hint = "use another --ref-cache directory, or delete this one to rebuild it"});
      cand = open_forward(a->cand, engine);
      device = cand->device();
      check_kl_pair(ref_config, cand->config(), a->ref, a->cand);
      CachedKlReference reference(cache);
      const auto comparer = open_kl_comparer(*cand, *cand);
      run = run_kl(reference, *cand, plan, options, comparer.get());
    } else {
      check_kl_pair(ref->config(), cand->config(), a->ref, a->cand);
      const auto comparer = open_kl_comparer(*ref, *cand);
      const auto rows_bytes = static_cast<std::size_t>(plan.scored_per_chunk * ref->config().n_vocab) * 4;
      const KlOverlap overlap = a->no_overlap ? KlOverlap{} : open_kl_overlap(*ref, *cand, plan.ctx, rows_bytes);
      if (overlap.second)
        run = run_kl_overlapped(*ref, *cand, plan, options, *comparer, *overlap.second, overlap.chunks_per_call);
      else
        run = run_kl(*ref, *cand, plan, options, comparer.get());
    }
    std::signal(SIGINT, previous);
    if (writer && run.partial) std::cerr << "kl: interrupted: the compact reference cache was not written\n";

    KlReportInput in{.summary = metrics::summarize_kl(
                         run.acc, {.block_len = static_cast<std::size_t>(plan.scored_per_chunk),
                                   .n_resamples = a->resamples, .seed = a->seed}),
                     .max_kl = a->max_kl, .partial = run.partial, .chunks_done = run.progress.chunks_done,
                     .n_chunks = run.progress.n_chunks, .chunking_rule = plan.rule, .ctx = plan.ctx,
                     .first_scored_row = plan.first_scored_row, .corpus_tokens = plan.corpus_tokens,
                     .tokens_unused = plan.tokens_unused, .seconds = run.progress.seconds,
                     .forward_seconds = run.progress.forward_seconds, .device = device};
    in.flags = {{"ref", a->ref}, {"cand", a->cand}, {"corpus", tokens->count() ? "" : a->corpus},
                {"tokens_file", a->tokens_file}, {"tokenizer", a->tokenizer}, {"text_field", a->text_field},
                {"ctx", plan.ctx}, {"score_from", a->score_from}, {"max_chunks", a->max_chunks},
                {"llama_cpp_compat", a->llama_cpp_compat}, {"device", a->engine.forward.device}, {"threads", a->engine.forward.threads},
                {"chunk_rows", a->chunk_rows}, {"max_kl", a->max_kl}, {"seed", a->seed},
                {"bootstrap_resamples", a->resamples}, {"hash_checkpoints", a->hash_checkpoints},
                {"ref_cache", a->ref_cache}, {"ref_buffer_gb", two_pass ? nlohmann::json(a->ref_buffer_gb) : nlohmann::json()},
                {"save_ref_cache", a->save_ref_cache}, {"ref_cache_topk", a->ref_cache_topk},
                {"ref_cache_tail", a->ref_cache_tail}};
    in.reference = a->ref.empty() ? cache_reference : checkpoint_identity_json(a->ref, a->hash_checkpoints);
    in.approximation = approximation;
    in.candidate = checkpoint_identity_json(a->cand, a->hash_checkpoints);
    in.corpus = corpus.identity;
    in.provenance = provenance_json({.argv = argv, .flags = flags_json(*cmd),
                                     .checkpoints = {{"reference", in.reference}, {"candidate", in.candidate}},
                                     .datasets = {{"corpus", in.corpus}}, .seeds = {{"bootstrap", a->seed}}});
    std::cout << kl_report_table(in);
    if (!a->json_out.empty()) {
      std::ofstream out(a->json_out);
      if (!out) throw Error("cannot write the results JSON", {.file = a->json_out});
      out << kl_report_json(in).dump(2) << "\n";
    }
    if (run.partial) throw Error("interrupted: the result above is partial (not every chunk was scored)");
    return kl_gate_pass(in) ? 0 : 1;
  };
}

}  // namespace qg::cli
