// `quantgate tokenize TOKENIZER (--text S | --file F) [--add-special] [--json OUT]`: the token ids of a
// text with a checkpoint's tokenizer.json, to diff against any other tokenizer.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "report/provenance.h"
#include "text/tokenizer.h"

namespace qg::cli {

namespace {
struct TokenizeArgs {
  std::string tokenizer;
  std::string text;
  std::string file;
  bool add_special = false;
  std::string json_out;
};

std::string read_input_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open input file (no such file or not readable)", {.file = path});
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

CommandRunner register_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize",
      "Token ids of a text, exactly as the Hugging Face `tokenizers` library gives them for this tokenizer.json. "
      "TOKENIZER is a tokenizer.json or a checkpoint directory with one (tokenizer_config.json beside it is read too).");
  cmd->add_option("TOKENIZER", args->tokenizer, "tokenizer.json or checkpoint directory")->required();
  auto* text = cmd->add_option("--text", args->text, "the text to tokenize (UTF-8)");
  auto* file = cmd->add_option("--file", args->file, "a UTF-8 text file to tokenize (its bytes, newlines included)");
  text->excludes(file);
  cmd->add_flag("--add-special", args->add_special,
                "add the special tokens of the post-processor (e.g. Gemma's <bos>), as encode(..., add_special_tokens=True)");
  cmd->add_option("--json", args->json_out, "write {\"ids\": [...], \"count\": N, ...} here ('-' for stdout)");
  return [args, text, file](const std::vector<std::string>& argv) {
    if (text->count() == 0 && file->count() == 0)
      throw Error("tokenize needs the input: --text S or --file F", {.hint = "see quantgate tokenize --help"});
    const auto tok = text::Tokenizer::load(args->tokenizer);
    const bool from_file = file->count() > 0;
    const std::string input = from_file ? read_input_file(args->file) : args->text;
    const auto ids = tok.encode(input, args->add_special, from_file ? args->file : std::string("--text"));

    const auto& bos = tok.bos_rule();
    std::cerr << fmt::format("tokenizer: {} ({})\n", tok.json_path().string(), tok.summary());
    std::cerr << fmt::format("BOS rule: {}\n", bos.source);
    if (!bos.warning.empty()) std::cerr << "warning: " << bos.warning << "\n";

    nlohmann::ordered_json j;
    j["ids"] = ids;
    j["count"] = ids.size();
    j["tokenizer"] = tok.json_path().string();
    j["add_special"] = args->add_special;
    j["input"] = from_file ? nlohmann::ordered_json{{"file", args->file}, {"bytes", input.size()}}
                           : nlohmann::ordered_json{{"text_bytes", input.size()}};
    j["bos_rule"] = {{"bos_token", bos.bos_token},
                     {"bos_id", bos.bos_id ? nlohmann::ordered_json(*bos.bos_id) : nlohmann::ordered_json()},
                     {"encode_adds_bos", bos.encode_adds_bos},
                     {"model_expects_bos", bos.model_expects_bos},
                     {"source", bos.source}};
    j["provenance"] = nlohmann::ordered_json::parse(provenance_json(argv).dump());

    if (args->json_out == "-") {
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    std::cout << fmt::format("{}\n", fmt::join(ids, " "));
    std::cout << fmt::format("count: {}\n", ids.size());
    if (!args->json_out.empty()) {
      std::ofstream out(args->json_out);
      out << j.dump(2) << "\n";
      if (!out) throw Error("cannot write results JSON", {.file = args->json_out});
    }
    return 0;
  };
}

}  // namespace qg::cli
