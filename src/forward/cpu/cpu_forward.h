#pragma once
// The fp32 Eigen reference implementation of the Gemma 4 text forward pass (gemma4-text.md §3-§12).
// It exists to be right, not fast: it matches transformers' fp32 eager logits to ~1e-5 and is the
// yardstick for the CUDA engine. Weights in BF16/F16/F32 or any quantized scheme weight_to_f32 knows.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "forward/forward.h"
#include "model/gemma4_config.h"
#include "model/gemma4_weights.h"

namespace qg {

namespace cpu {
class ThreadPool;
class WeightStore;
struct SequenceState;
}  // namespace cpu

struct CpuForwardOptions {
  int n_threads = 0;  // 0: every hardware thread
  // fp32 copies of the layer weights (and of the head's table) are kept between calls while they fit in
  // this many bytes; a larger model converts each layer's weights on every call, layer by layer.
  std::uint64_t weight_cache_bytes = std::uint64_t{4} << 30;
};

class CpuForward final : public Forward {
 public:
  // Opens a checkpoint directory (config.json + safetensors); throws qg::Error naming the file for a bad
  // checkpoint or a config the forward pass cannot run.
  static std::unique_ptr<CpuForward> open(const std::filesystem::path& model_dir,
                                          const CpuForwardOptions& options = {});
  ~CpuForward() override;

  const Gemma4TextConfig& config() const override { return config_.text; }
  std::string device() const override { return "cpu"; }

  using Forward::score;
  void score(std::span<const TokenSpan> batch, const LogitsConsumer& consume,
             const ScoreOptions& options = {}) override;
  PrefixHandle encode_prefix(TokenSpan prefix, const LogitsConsumer& consume = {},
                             const ScoreOptions& options = {}) override;
  void score_continuations(const PrefixHandle& prefix, std::span<const TokenSpan> continuations,
                           const LogitsConsumer& consume, const ScoreOptions& options = {}) override;

 private:
  class Prefix;
  CpuForward(Checkpoint checkpoint, Gemma4Config config, const CpuForwardOptions& options);

  cpu::SequenceState start(TokenSpan tokens, std::size_t index, const Prefix* prefix) const;
  void run_layers(std::vector<cpu::SequenceState>& seqs) const;
  void emit_logits(const cpu::SequenceState& s, std::size_t index, const LogitsConsumer& consume,
                   const ScoreOptions& options) const;
  void emit(std::string_view name, int layer, std::size_t sequence, std::int64_t first_position,
            const float* data, std::int64_t rows, std::int64_t cols) const;

  Checkpoint checkpoint_;
  Gemma4Config config_;
  Gemma4Weights weights_;
  CpuForwardOptions options_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  std::unique_ptr<cpu::WeightStore> store_;
  std::vector<float> inv_freq_sliding_, inv_freq_full_;
};

}  // namespace qg
