// `quantgate quantize IN OUT --scheme W4A16|W4A16_ASYM|W8A16 [--group-size N] [--ignore PATTERN ...]`:
// data-free RTN into compressed-tensors pack-quantized, bit-identical to llm-compressor.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "model/gemma4_quantize.h"
#include "report/format.h"
#include "report/provenance.h"
#include "report/checkpoint_identity.h"
#include "report/results_file.h"
#include "cli/flags_json.h"

namespace qg::cli {

namespace {
// VmHWM of this process: the peak resident set size, in bytes (0 where /proc is unavailable).
std::uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      std::uint64_t kb = 0;
      status >> kb;
      return kb * 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

struct QuantizeArgs {
  std::string in_dir, out_dir, scheme = "W4A16", json_out;
  std::int64_t group_size = 0;  // 0 = the scheme's default
  std::vector<std::string> ignore;
  double max_shard_gb = 5.0;
};
}  // namespace

CommandRunner register_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Data-free RTN quantization of a BF16/F16 Gemma 4 checkpoint into compressed-tensors pack-quantized, "
      "bit-identical to llm-compressor's QuantizationModifier; `vllm serve OUT` loads the result as is.");
  cmd->add_option("IN", a->in_dir, "BF16 checkpoint directory")->required();
  cmd->add_option("OUT", a->out_dir, "output directory (must not exist or be empty)")->required();
  cmd->add_option("--scheme", a->scheme, "W4A16 (int4 sym g128), W4A16_ASYM, W8A16 (int8 sym g128)")
      ->check(CLI::IsMember({"W4A16", "W4A16_ASYM", "W8A16"}));
  cmd->add_option("--group-size", a->group_size, "group size (default 128; -1 = per output channel)");
  cmd->add_option("--ignore", a->ignore,
                  "extra module names or re:regexes kept in 16 bits (added to the default list: lm_head, embeddings, "
                  "norms, PLE table and projection, vision/audio towers)");
  cmd->add_option("--max-shard-gb", a->max_shard_gb, "shard size limit in GB (default 5)");
  cmd->add_option("--json", a->json_out, "write a summary JSON here");
  return [a, cmd](const std::vector<std::string>& argv) {
    QuantizeOptions o;
    o.scheme = a->scheme;
    if (a->group_size != 0) o.group_size = a->group_size;
    o.extra_ignore = a->ignore;
    o.max_shard_bytes = static_cast<std::uint64_t>(a->max_shard_gb * 1e9);
    const bool tty = ::isatty(STDERR_FILENO);
    const auto start = std::chrono::steady_clock::now();
    std::size_t last_percent = 101;
    const QuantizeSummary s = quantize_gemma4_checkpoint(a->in_dir, a->out_dir, o, [&](std::size_t done, std::size_t total) {
      const std::size_t percent = done * 100 / total;
      if (percent == last_percent) return;
      last_percent = percent;
      if (tty) {
        std::fprintf(stderr, "\rquantize: %zu/%zu tensors (%zu%%)", done, total, percent);
        if (done == total) std::fputc('\n', stderr);
      } else if (percent % 10 == 0) {
        std::fprintf(stderr, "quantize: %zu/%zu tensors (%zu%%)\n", done, total, percent);
      }
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << fmt::format("quantized {} Linear layers ({}), kept {} tensors; tensor data {} -> {} in {:.1f} s\n",
                             s.quantized_layers, a->scheme, s.kept_tensors, human_bytes(s.input_tensor_bytes),
                             human_bytes(s.output_tensor_bytes), seconds);
    for (const auto& f : s.written_files) std::cout << "  wrote " << f << "\n";
    const std::uint64_t peak_rss = peak_rss_bytes();
    std::cout << fmt::format("peak RSS {} (input tensor data {})\n", human_bytes(peak_rss), human_bytes(s.input_tensor_bytes));
    if (!a->json_out.empty()) {
      nlohmann::json j = results_envelope(
          "quantize", provenance_json({.argv = argv, .flags = flags_json(*cmd),
                                       .checkpoints = {{"input", checkpoint_identity_json(a->in_dir, false)},
                                                       {"output", checkpoint_identity_json(a->out_dir, false)}}}));
      j.update(nlohmann::json{{"in", a->in_dir},
                          {"out", a->out_dir},
                          {"quantized_layers", s.quantized_layers},
                          {"kept_tensors", s.kept_tensors},
                          {"input_tensor_bytes", s.input_tensor_bytes},
                          {"output_tensor_bytes", s.output_tensor_bytes},
                          {"seconds", seconds},
                          {"peak_rss_bytes", peak_rss},
                          {"files", s.written_files},
                          {"quantization_config", s.quantization_config}});
      std::ofstream out(a->json_out);
      out << j.dump(2) << "\n";
      if (!out) throw Error("cannot write", {.file = a->json_out});
    }
    return 0;
  };
}

}  // namespace qg::cli
