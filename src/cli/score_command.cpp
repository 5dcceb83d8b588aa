// `quantgate score MODEL (--tokens 2,17,5 | --text S) --out logits.safetensors [--device cpu]`: the raw
// fp32 logits [n_tokens, n_vocab] of one sequence (and its ids), so anyone can diff us against another
// implementation (transformers, llama.cpp) with a few lines of Python.
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <iostream>

#include "checkpoint/safetensors_writer.h"
#include "cli/commands.h"
#include "common/error.h"
#include "cli/engine_options.h"
#include "report/provenance.h"
#include "text/tokenizer.h"

namespace qg::cli {

namespace {
struct ScoreArgs {
  std::string model;
  std::string tokens;
  std::string text;
  std::string out;
  EngineArgs engine;
};

// "2,17,5" (spaces allowed around commas) -> ids; the message names the bad entry.
std::vector<TokenId> parse_token_list(const std::string& list) {
  std::vector<TokenId> ids;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, comma - start);
    const auto first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    TokenId id = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      throw Error(fmt::format("--tokens: '{}' (entry {}) is not a token id", item, ids.size() + 1),
                  {.hint = "give comma-separated integers, e.g. --tokens 2,17,5"});
    ids.push_back(id);
    start = comma + 1;
  }
  return ids;
}
}  // namespace

CommandRunner register_score(CLI::App& app) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* cmd = app.add_subcommand(
      "score",
      "Raw logits of one token sequence: writes OUT.safetensors with 'ids' I64 [n] and 'logits' F32 [n, "
      "n_vocab] "
      "(after the final softcap, position i predicting token i+1), from the fp32 CPU reference pass or the CUDA "
      "engine (--device cuda).");
  cmd->add_option("MODEL", args->model, "checkpoint directory (config.json + safetensors)")->required();
  auto* tokens =
      cmd->add_option("--tokens", args->tokens, "comma-separated token ids, e.g. 2,17,5 (used as given)");
  auto* text = cmd->add_option(
      "--text", args->text,
      "text to tokenize with MODEL's tokenizer.json (one BOS in front when the model expects it)");
  tokens->excludes(text);
  cmd->add_option("--out", args->out, "output file, ending in .safetensors")->required();
  add_engine_options(cmd, args->engine);
  return [args, tokens, text](const std::vector<std::string>& argv) {
    if (tokens->count() == 0 && text->count() == 0)
      throw Error("score needs the input: --tokens 2,17,5 or --text S",
                  {.hint = "see quantgate score --help"});
    (void)parse_device(args->engine.forward.device);
    const std::filesystem::path out(args->out);
    if (out.extension() != ".safetensors")
      throw Error("--out must name a .safetensors file", {.file = args->out});

    std::vector<TokenId> ids;
    if (tokens->count() > 0) {
      ids = parse_token_list(args->tokens);
    } else {
      const auto tok = text::Tokenizer::load(args->model);
      ids = tok.encode_for_model(args->text, "--text");
      std::cerr << fmt::format("tokenizer: {}; BOS rule: {}\n", tok.json_path().string(),
                               tok.bos_rule().source);
    }
    auto forward = open_forward(args->model, args->engine.forward);
    check_tokens(forward->config(), ids, 0, args->tokens.empty() ? "--text" : "--tokens");
    const auto n = static_cast<std::int64_t>(ids.size());
    const std::int64_t n_vocab = forward->config().n_vocab;

    SafetensorsWriterOptions options;
    options.max_shard_bytes = UINT64_MAX;  // always one file
    options.basename = out.stem().string();
    options.metadata = {{"format", "pt"},
                        {"provenance", provenance_json(argv).dump()},
                        {"model", args->model},
                        {"device", forward->device()},
                        {"logits", "fp32, after final_logit_softcapping"}};
    SafetensorsWriter writer(out.has_parent_path() ? out.parent_path() : std::filesystem::path("."), options);
    std::vector<std::int64_t> ids64(ids.begin(), ids.end());
    writer.add("ids", DType::kI64, {n}, std::as_bytes(std::span<const std::int64_t>(ids64)));
    const auto t0 = std::chrono::steady_clock::now();
    // Logits go to disk chunk by chunk: never [n, n_vocab] in memory.
    writer.add_streamed("logits", DType::kF32, {n, n_vocab}, [&](const SafetensorsWriter::Sink& sink) {
      forward->score(TokenSpan(ids), [&](const LogitsChunk& c) { sink(std::as_bytes(c.logits)); });
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    writer.finish();
    std::cout << fmt::format("logits [{}, {}] fp32 -> {} ({} on {}, {:.1f} tokens/s)\n", n, n_vocab,
                             args->out, args->model, forward->device(), static_cast<double>(n) / seconds);
    return 0;
  };
}

}  // namespace qg::cli
