#pragma once
// `quantgate quantize`: data-free RTN of a Gemma 4 checkpoint into compressed-tensors pack-quantized
// (W4A16, W4A16_ASYM, W8A16), streamed tensor by tensor so peak memory stays near one tensor, with a
// config.json whose quantization_config vLLM loads as is.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qg {

// The model card's ignore list: the head, embeddings, norms, the PLE table and projection, and the
// vision/audio towers with their projectors stay in 16 bits.
const std::vector<std::string>& default_quant_ignore();

struct QuantizeOptions {
  std::string scheme = "W4A16";               // W4A16 | W4A16_ASYM | W8A16
  std::optional<std::int64_t> group_size;     // overrides the preset's 128; -1 = per channel
  std::vector<std::string> extra_ignore;      // appended to default_quant_ignore()
  std::uint64_t max_shard_bytes = 5'000'000'000;
};

struct QuantizeSummary {
  std::int64_t quantized_layers = 0;
  std::int64_t kept_tensors = 0;  // copied unchanged
  std::uint64_t input_tensor_bytes = 0;
  std::uint64_t output_tensor_bytes = 0;
  std::vector<std::string> written_files;
  nlohmann::json quantization_config;
};

// `progress(done, total)` is called after each tensor. Throws qg::Error for bad input (an already
// quantized checkpoint, an existing non-empty OUT, a layer whose width the group size does not divide).
QuantizeSummary quantize_gemma4_checkpoint(const std::filesystem::path& in_dir, const std::filesystem::path& out_dir,
                                           const QuantizeOptions& options,
                                           const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace qg
