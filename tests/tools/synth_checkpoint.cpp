// qg_synth_checkpoint CONFIG_JSON OUT_DIR [SEED]: writes a Gemma 4 checkpoint with random BF16 weights
// of exactly the shapes CONFIG_JSON implies (config.json is copied beside it). For speed and memory
// measurements at full size where real weights cannot be downloaded; not a test.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "checkpoint/json_file.h"
#include "checkpoint/safetensors_writer.h"
#include "common/error.h"
#include "model/gemma4_config.h"
#include "model/gemma4_weights.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fputs("usage: qg_synth_checkpoint CONFIG_JSON OUT_DIR [SEED]\n", stderr);
    return 2;
  }
  try {
    const std::filesystem::path config_path = argv[1], out = argv[2];
    std::uint64_t state = argc > 3 ? std::stoull(argv[3]) : 1;
    const qg::Gemma4Config config = qg::read_gemma4_config(config_path.string());
    const bool nested = config.model_type == "gemma4";
    const std::string prefix = nested ? "model.language_model." : "model.";
    qg::SafetensorsWriter writer(out, {.max_shard_bytes = 2'000'000'000});
    std::vector<std::uint16_t> buf(1 << 20);
    for (const qg::WeightSpec& spec : qg::gemma4_text_weight_specs(config.text)) {
      const std::string name = spec.component == qg::WeightComponent::kLmHead ? spec.name : prefix + spec.name;
      const bool vector_like = spec.shape.size() == 1;
      writer.add_streamed(name, qg::DType::kBF16, spec.shape, [&](const qg::SafetensorsWriter::Sink& sink) {
        std::int64_t left = qg::shape_numel(spec.shape);
        while (left > 0) {
          const std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(left, static_cast<std::int64_t>(buf.size())));
          for (std::size_t i = 0; i < n; ++i) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;  // xorshift64
            // Norm-like vectors near 1; matrices: random sign, magnitude 2^-12 .. 2^-4, random mantissa.
            const std::uint16_t exp = vector_like ? 127 : static_cast<std::uint16_t>(115 + state % 9);
            buf[i] = static_cast<std::uint16_t>(((state >> 20) & 1) << 15 | exp << 7 | ((state >> 32) & 0x7f));
          }
          sink({reinterpret_cast<const std::byte*>(buf.data()), n * 2});
          left -= static_cast<std::int64_t>(n);
        }
      });
    }
    for (const auto& f : writer.finish()) std::printf("wrote %s\n", f.string().c_str());
    std::filesystem::copy_file(config_path, out / "config.json", std::filesystem::copy_options::overwrite_existing);
    return 0;
  } catch (const qg::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
