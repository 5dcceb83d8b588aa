// `quantgate bench --base-url URL [--model NAME] [--max-concurrency 1,8] [--input-len N] [--output-len N] ...`:
// drives an OpenAI-compatible server (vLLM, SGLang, llama.cpp server, ...) with streaming requests and
// reports tok/s, TTFT, TPOT, ITL and E2E latency per concurrency level (flags follow `vllm bench serve`).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "load/bench_metrics.h"
#include "load/bench_report.h"
#include "load/fd_limit.h"
#include "load/load_client.h"
#include "load/nvml_sampler.h"
#include "load/prometheus.h"
#include "report/format.h"
#include "load/prompts.h"
#include "load/request_builder.h"
#include "report/provenance.h"
#include "report/results_file.h"
#include "report/served_checkpoint.h"
#include "common/sha256.h"
#include "cli/flags_json.h"
#include "text/tokenizer.h"

namespace qg::cli {

namespace {

struct BenchArgs {
  std::string base_url;
  std::string model;
  std::string endpoint = "completions";
  std::string backend = "openai";
  std::string label;
  std::string max_concurrency = "1";
  std::string request_rate = "inf";
  double burstiness = 1.0;
  std::size_t num_prompts = 100;
  double duration = 0;
  std::size_t warmup = 0;
  std::uint64_t seed = 0;
  std::int64_t input_len = 1024;
  std::int64_t output_len = 128;
  std::int64_t shared_prefix_len = 0;
  std::string tokenizer;
  std::string prompt_file;
  bool no_ignore_eos = false;
  double temperature = std::numeric_limits<double>::quiet_NaN();
  double timeout = 600;
  std::string api_key_env = "OPENAI_API_KEY";
  bool insecure = false;
  std::string cacert;
  std::string http = "auto";
  std::string percentiles = "50,90,99,99.9";
  std::vector<std::string> goodput;
  std::string json_out;
  bool save_detailed = false;
  std::string extra_body;
  std::int64_t server_pid = -1;
  bool no_vram = false;
  std::string checkpoint;
  bool hash_checkpoint = false;
};

nlohmann::ordered_json vram_json(const load::VramReport& v) {
  nlohmann::ordered_json j;
  j["measured"] = v.measured;
  if (!v.reason.empty()) j[v.measured ? "note" : "reason"] = v.reason;
  if (!v.measured) return j;
  j["source"] = "NVML (dlopen libnvidia-ml.so.1), device used = total - free";
  j["driver_version"] = v.driver_version;
  j["interval_s"] = v.interval_s;
  j["gpus"] = nlohmann::ordered_json::array();
  for (const auto& g : v.gpus) {
    j["gpus"].push_back({{"nvml_index", g.nvml_index}, {"name", g.name}, {"uuid", g.uuid}, {"total_bytes", g.total_bytes},
                         {"baseline_used_bytes", g.baseline_used_bytes}, {"peak_used_bytes", g.peak_used_bytes},
                         {"steady_used_bytes", g.steady_used_bytes}, {"samples", g.n_samples},
                         {"process_pid", g.process_pid < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(g.process_pid)},
                         {"process_peak_bytes", g.process_peak_bytes < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(g.process_peak_bytes)}});
  }
  return j;
}

// text::Tokenizer behind load::TokenCounter.
class TextTokenCounter : public load::TokenCounter {
 public:
  explicit TextTokenCounter(text::Tokenizer tok) : tok_(std::move(tok)) {}
  std::vector<std::int32_t> encode(const std::string& s) const override {
    auto ids = tok_.encode(s, false, "prompt");
    return {ids.begin(), ids.end()};
  }
  std::string decode(std::span<const std::int32_t> ids) const override {
    std::vector<text::TokenId> v(ids.begin(), ids.end());
    return tok_.decode(v, false);
  }
  std::size_t vocab_size() const override { return tok_.vocab_size(); }
  bool is_special(std::int32_t id) const override { return tok_.is_special(static_cast<text::TokenId>(id)); }

 private:
  text::Tokenizer tok_;
};

std::vector<std::size_t> parse_size_list(const std::string& s, const char* flag) {
  std::vector<std::size_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      const long v = std::stol(item);
      if (v <= 0) throw std::invalid_argument("");
      out.push_back(static_cast<std::size_t>(v));
    } catch (...) {
      throw Error(fmt::format("{} expects positive integers separated by commas, got '{}'", flag, s));
    }
  }
  if (out.empty()) throw Error(fmt::format("{} is empty", flag));
  return out;
}

std::vector<double> parse_double_list(const std::string& s, const char* flag) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      out.push_back(std::stod(item));
    } catch (...) {
      throw Error(fmt::format("{} expects numbers separated by commas, got '{}'", flag, s));
    }
  }
  return out;
}

// What the server says about itself (docs/serving-protocols.md §3). Best effort: absent fields stay empty.
nlohmann::ordered_json discover_server(const load::ClientOptions& client, std::string& model) {
  nlohmann::ordered_json info;
  const auto models = load::http_get(client, "/v1/models");
  std::string owned_by;
  if (models.status == 200) {
    auto j = nlohmann::json::parse(models.body, nullptr, false);
    if (!j.is_discarded() && j.contains("data") && j["data"].is_array() && !j["data"].empty()) {
      const auto& d0 = j["data"][0];
      if (d0.contains("id") && d0["id"].is_string() && model.empty()) model = d0["id"].get<std::string>();
      if (d0.contains("owned_by") && d0["owned_by"].is_string()) owned_by = d0["owned_by"].get<std::string>();
      if (d0.contains("max_model_len")) info["max_model_len"] = d0["max_model_len"];
    }
  } else {
    info["models_endpoint"] = models.error.empty() ? fmt::format("HTTP {}", models.status) : models.error;
  }
  info["engine"] = owned_by.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(owned_by);
  std::string version;
  auto read_version = [&](const char* path, const char* key) {
    const auto r = load::http_get(client, path);
    if (r.status != 200) return;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.contains(key) && j[key].is_string()) version = j[key].get<std::string>();
  };
  if (owned_by == "vllm") read_version("/version", "version");
  else if (owned_by == "sglang") read_version("/get_server_info", "version");
  else if (owned_by == "llamacpp") read_version("/props", "build_info");
  info["engine_version"] = version.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(version);
  return info;
}

}  // namespace

CommandRunner register_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Load-test an OpenAI-compatible streaming endpoint (vLLM, SGLang, llama.cpp server, ...): tok/s, TTFT, TPOT, "
      "ITL, E2E latency per concurrency level. Flags follow `vllm bench serve`.");
  cmd->add_option("--base-url", a->base_url, "server URL, e.g. http://127.0.0.1:8000")->required();
  cmd->add_option("--model", a->model, "model name sent in requests (default: the server's first /v1/models entry)");
  cmd->add_option("--endpoint", a->endpoint, "completions or chat (/v1/completions, /v1/chat/completions)");
  cmd->add_option("--backend", a->backend, "label for the results' backend/endpoint_type keys");
  cmd->add_option("--label", a->label, "label stored in the results");
  cmd->add_option("--max-concurrency", a->max_concurrency, "concurrency levels, comma-separated; each runs in turn");
  cmd->add_option("--request-rate", a->request_rate, "requests/s (Poisson arrivals with --burstiness 1) or inf");
  cmd->add_option("--burstiness", a->burstiness, "gamma shape of inter-arrival times (1 = Poisson)");
  cmd->add_option("--num-prompts", a->num_prompts, "measured requests per level");
  cmd->add_option("--duration", a->duration, "seconds per level instead of --num-prompts (requests in flight finish)");
  cmd->add_option("--num-warmups", a->warmup, "warm-up requests per level, excluded from the metrics");
  cmd->add_option("--seed", a->seed, "seed for prompts and arrivals");
  cmd->add_option("--input-len", a->input_len, "prompt tokens (exact with --tokenizer)");
  cmd->add_option("--output-len", a->output_len, "output tokens (max_tokens, with ignore_eos)");
  cmd->add_option("--shared-prefix-len", a->shared_prefix_len, "tokens shared by every prompt's start");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or checkpoint dir: exact prompt lengths");
  cmd->add_option("--prompt-file", a->prompt_file, "JSONL prompts ({\"prompt\": ..., \"output_len\": N})");
  cmd->add_flag("--no-ignore-eos", a->no_ignore_eos, "do not send ignore_eos (outputs may end early)");
  cmd->add_option("--temperature", a->temperature, "sampling temperature (default: the server's)");
  cmd->add_option("--timeout", a->timeout, "seconds without any byte before a request counts as stalled");
  cmd->add_option("--api-key-env", a->api_key_env, "environment variable holding the API key (never printed or saved)");
  cmd->add_flag("--insecure", a->insecure, "do not verify the server's TLS certificate");
  cmd->add_option("--cacert", a->cacert, "PEM file of CA certificates to trust (e.g. an internal CA) instead of the system's")
      ->check(CLI::ExistingFile);
  cmd->add_option("--http", a->http,
                  "HTTP version: auto (h2 over https when the server offers it by ALPN, HTTP/1.1 on http), 1.1, or 2 "
                  "(h2 by ALPN on https; h2c with prior knowledge on http)");
  cmd->add_option("--metric-percentiles", a->percentiles, "percentiles to report, comma-separated");
  cmd->add_option("--goodput", a->goodput, "SLOs KEY:MS with KEY in ttft, tpot, e2el")->expected(1, 3);
  cmd->add_option("--extra-body", a->extra_body, "JSON object merged into every request body");
  cmd->add_option("--server-pid", a->server_pid, "host pid of the serving process (its VRAM is reported; NVML sees host pids)");
  cmd->add_flag("--no-vram", a->no_vram, "do not sample VRAM with NVML");
  cmd->add_flag("--save-detailed", a->save_detailed, "add per-request arrays to the results JSON");
  cmd->add_option("--json", a->json_out, "write the results JSON here ('-' for stdout)");
  cmd->add_option("--checkpoint", a->checkpoint,
                  "the served checkpoint's directory: its identity and quantization scheme go into the results (what "
                  "`quantgate card` matches its Benchmarks rows by)");
  cmd->add_flag("--hash-checkpoint", a->hash_checkpoint, "with --checkpoint: record the sha256 of its files (slow)");

  return [a, cmd](const std::vector<std::string>& argv) {
    // Read before the load runs, so a wrong directory fails at once.
    const nlohmann::json served =
        a->checkpoint.empty() ? nlohmann::json() : served_checkpoint_json(a->checkpoint, a->hash_checkpoint);
    const auto levels = parse_size_list(a->max_concurrency, "--max-concurrency");
    const auto pcts = parse_double_list(a->percentiles, "--metric-percentiles");
    const load::Slo slo = load::parse_goodput(a->goodput);
    double rate = std::numeric_limits<double>::infinity();
    if (a->request_rate != "inf") {
      try {
        rate = std::stod(a->request_rate);
      } catch (...) {
        throw Error("--request-rate expects a number or inf, got '" + a->request_rate + "'");
      }
      if (!(rate > 0)) throw Error("--request-rate must be positive");
    }

    load::ClientOptions client;
    client.base_url = a->base_url;
    client.timeout_s = a->timeout;
    client.connect_timeout_s = std::min(30.0, a->timeout);
    client.verify_tls = !a->insecure;
    client.ca_file = a->cacert;
    client.http = load::parse_http_version(a->http);
    if (const char* key = std::getenv(a->api_key_env.c_str())) client.api_key = key;
    const load::Endpoint endpoint = load::parse_endpoint(a->endpoint);
    client.path = load::endpoint_path(endpoint);

    std::string model = a->model;
    nlohmann::ordered_json server = discover_server(client, model);
    if (model.empty())
      throw Error("no --model given and the server's /v1/models did not name one",
                  {.hint = fmt::format("is {} an OpenAI-compatible server?", a->base_url)});

    // Prompts.
    std::unique_ptr<TextTokenCounter> tok;
    if (!a->tokenizer.empty()) tok = std::make_unique<TextTokenCounter>(text::Tokenizer::load(a->tokenizer));
    std::vector<load::Prompt> prompts;
    std::string prompt_source;
    const std::size_t n_prompts = std::max<std::size_t>(a->num_prompts, 1);
    load::RandomPromptOptions po{n_prompts, a->input_len, a->shared_prefix_len, a->seed};
    if (!a->prompt_file.empty()) {
      prompts = load::load_prompt_file(a->prompt_file, tok.get());
      prompt_source = "file " + a->prompt_file;
    } else if (tok) {
      prompts = load::random_token_prompts(*tok, po);
      prompt_source = "random tokens, exact length by the tokenizer";
    } else {
      prompts = load::random_word_prompts(po);
      prompt_source = "random words, length not exact (no --tokenizer)";
      std::cerr << "warning: no --tokenizer: prompt lengths are approximate; the server's counts are reported\n";
    }
    std::size_t inexact = 0;
    for (const auto& p : prompts)
      if (tok && a->prompt_file.empty() && p.n_tokens != a->input_len) ++inexact;
    if (inexact) std::cerr << fmt::format("warning: {} prompts could not be made exactly {} tokens\n", inexact, a->input_len);

    load::RequestOptions ro;
    ro.endpoint = endpoint;
    ro.model = model;
    ro.max_tokens = a->output_len;
    ro.ignore_eos = !a->no_ignore_eos;
    if (!std::isnan(a->temperature)) ro.temperature = a->temperature;
    if (!a->extra_body.empty()) {
      ro.extra_body = nlohmann::json::parse(a->extra_body, nullptr, false);
      if (ro.extra_body.is_discarded() || !ro.extra_body.is_object()) throw Error("--extra-body must be a JSON object");
    }
    load::LoadPlan plan;
    for (const auto& p : prompts) {
      plan.bodies.push_back(load::build_request_body(ro, p));
      plan.prompt_tokens.push_back(p.n_tokens);
    }
    plan.num_requests = a->duration > 0 ? 0 : a->num_prompts;
    plan.duration_s = a->duration;
    plan.warmup_requests = a->warmup;
    plan.request_rate = rate;
    plan.burstiness = a->burstiness;
    plan.seed = a->seed;

    std::vector<load::LevelMetrics> results;
    nlohmann::ordered_json level_objs = nlohmann::ordered_json::array();
    std::string http_version;
    load::VramReport last_vram;
    const bool tty = isatty(fileno(stderr)) != 0;
    // One socket per stream: lift a 1024 soft limit before thousands of connections hit it.
    const std::size_t max_level = *std::max_element(levels.begin(), levels.end());
    const std::size_t fd_limit = load::raise_fd_limit(max_level + 256);
    if (fd_limit < max_level + 64)
      throw Error(fmt::format("--max-concurrency {} needs about {} file descriptors but RLIMIT_NOFILE allows {} "
                              "(raise the hard limit: ulimit -Hn)", max_level, max_level + 64, fd_limit));
    for (std::size_t level : levels) {
      plan.max_concurrency = level;
      // A terminal gets one line rewritten in place; a log gets a plain line per second (at most).
      plan.on_progress = [level, tty](const load::LoadProgress& p) {
        const double tok_s = p.elapsed_s > 0 ? static_cast<double>(p.output_tokens) / p.elapsed_s : 0.0;
        std::cerr << fmt::format("{}concurrency {}{}: {} done, {} in flight, {} errors, {:.0f} output tok/s, {:.1f} s{}",
                                 tty ? "\r" : "", level, p.warmup ? " (warm-up)" : "", p.finished, p.in_flight, p.failed,
                                 tok_s, p.elapsed_s, tty && !p.phase_done ? "\x1b[K" : "\n");
      };
      client.request_id_prefix = fmt::format("qg-c{}", level);
      std::optional<load::NvmlSampler> sampler;
      if (!a->no_vram) {
        sampler.emplace(0.1, a->server_pid >= 0 ? std::optional<std::int64_t>(a->server_pid) : std::nullopt);
        sampler->start();
      }
      load::PrometheusSampler prom(client, 0.5);
      prom.start();
      const load::LoadRun run = load::run_load(client, plan);
      const auto server_metrics = prom.stop();
      last_vram = sampler ? sampler->stop() : load::VramReport{false, "disabled by --no-vram", "", 0, {}};
      if (!run.http_version.empty()) http_version = run.http_version;
      auto m = load::compute_level_metrics(run, plan, pcts, slo);
      auto j = load::level_json(m);
      j["quantgate"]["client_loop_iterations"] = run.loop_iterations;
      j["quantgate"]["warmup_requests"] = run.warmup.size();
      j["quantgate"]["vram"] = vram_json(last_vram);
      j["quantgate"]["server_metrics"] = server_metrics;
      if (a->save_detailed) j["detailed"] = load::level_detail_json(run, m.rate_mode);
      level_objs.push_back(std::move(j));
      results.push_back(std::move(m));
    }

    std::size_t completed = 0;
    std::string first_error;
    for (const auto& m : results) {
      completed += m.completed;
      if (first_error.empty()) first_error = m.first_error;
    }
    // --http 2 asks for h2; over TLS the server may still answer HTTP/1.1 by ALPN. Say so rather than report
    // HTTP/1.1 figures under an h2 label (the counts per version are in the results either way).
    if (client.http == load::HttpVersion::kHttp2)
      for (const auto& m : results)
        for (const auto& [v, n] : m.http_versions)
          if (v != "2")
            std::cerr << fmt::format("warning: --http 2 but {} requests at concurrency {} used HTTP/{} (the server did "
                                     "not negotiate h2)\n", n, m.max_concurrency, v);

    ProvenanceInputs prov{.argv = argv, .flags = flags_json(*cmd), .seeds = {{"prompts", a->seed}}};
    if (!served.is_null()) prov.checkpoints["served"] = served["identity"];
    if (!a->prompt_file.empty())
      prov.datasets["prompts"] = {{"path", a->prompt_file}, {"sha256", sha256_file_hex(a->prompt_file)}};
    const nlohmann::ordered_json envelope = nlohmann::ordered_json::parse(results_envelope("bench", provenance_json(prov)).dump());
    nlohmann::ordered_json out;
    out["schema"] = envelope["schema"];
    out["kind"] = envelope["kind"];
    out["date"] = envelope["provenance"]["time_utc"];
    out["endpoint_type"] = a->backend;
    out["backend"] = a->backend;
    out["label"] = a->label;
    out["model_id"] = model;
    out["tokenizer_id"] = a->tokenizer;
    out["num_prompts"] = a->num_prompts;
    out["server"] = server;
    out["server"]["base_url"] = a->base_url;
    out["server"]["http_version"] = http_version;
    // What is served (bench --checkpoint): identity and quantization; null when not given.
    out["served_checkpoint"] = nlohmann::ordered_json::parse(served.dump());
    out["workload"] = {{"endpoint", load::endpoint_path(endpoint)},
                       {"input_len", a->input_len},
                       {"output_len", a->output_len},
                       {"shared_prefix_len", a->shared_prefix_len},
                       {"ignore_eos", ro.ignore_eos},
                       {"prompt_source", prompt_source},
                       {"prompts_not_exact", inexact},
                       {"seed", a->seed}};
    out["vram"] = vram_json(last_vram);  // the last level's; each level has its own under quantgate.vram
    out["vram"]["note_per_level"] = "each level's own samples are in levels[i].quantgate.vram";
    out["levels"] = level_objs;
    out["provenance"] = envelope["provenance"];

    if (a->json_out == "-") {
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << fmt::format("model {} at {} ({}{}), {} {}\n", model, a->base_url,
                               server["engine"].is_string() ? server["engine"].get<std::string>() : "engine unknown",
                               server["engine_version"].is_string() ? " " + server["engine_version"].get<std::string>() : "",
                               load::endpoint_path(endpoint), prompt_source);
      std::cout << load::levels_table(results);
      if (!last_vram.measured) {
        std::cout << fmt::format("VRAM: not measured ({})\n", last_vram.reason);
      } else {
        for (const auto& g : last_vram.gpus)
          std::cout << fmt::format("VRAM GPU {} {} ({}): peak {} steady {} of {}{}\n", g.nvml_index, g.name, g.uuid,
                                   human_bytes(g.peak_used_bytes), human_bytes(g.steady_used_bytes), human_bytes(g.total_bytes),
                                   g.process_peak_bytes >= 0 ? fmt::format(", process {} peak {}", g.process_pid,
                                                                          human_bytes(static_cast<std::uint64_t>(g.process_peak_bytes)))
                                                             : std::string());
      }
      if (!a->json_out.empty()) {
        std::ofstream f(a->json_out);
        if (!f) throw Error("cannot write results", {.file = a->json_out});
        f << out.dump(2) << "\n";
      }
    }
    if (completed == 0) {
      std::cerr << fmt::format("error: every request failed; first error: {}\n", first_error);
      return 2;
    }
    return 0;
  };
}

}  // namespace qg::cli
