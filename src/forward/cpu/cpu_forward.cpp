#include "forward/cpu/cpu_forward.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/check.h"
#include "common/error.h"
#include "forward/cpu/cpu_weights.h"
#include "forward/cpu/decoder_layer.h"
#include "forward/cpu/embedding.h"
#include "forward/cpu/norms.h"
#include "forward/cpu/ple.h"
#include "forward/cpu/rope.h"
#include "forward/cpu/thread_pool.h"

namespace qg {

using cpu::Matrix;
using cpu::SequenceState;

// The K/V a prefix left in every layer that computes its own.
class CpuForward::Prefix final : public PrefixState {
 public:
  Prefix(const CpuForward* owner, std::int64_t n, std::vector<Matrix> k, std::vector<Matrix> v)
      : owner_(owner), n_(n), k_(std::move(k)), v_(std::move(v)) {}
  std::int64_t n_tokens() const override { return n_; }
  const CpuForward* owner() const { return owner_; }
  const std::vector<Matrix>& k() const { return k_; }
  const std::vector<Matrix>& v() const { return v_; }

 private:
  const CpuForward* owner_;
  std::int64_t n_;
  std::vector<Matrix> k_, v_;
};

std::unique_ptr<CpuForward> CpuForward::open(const std::filesystem::path& model_dir,
                                             const CpuForwardOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    throw Error("not a checkpoint directory",
                {.file = model_dir.string(), .hint = "pass the folder with config.json"});
  const std::filesystem::path config_path = model_dir / "config.json";
  if (!std::filesystem::exists(config_path, ec))
    throw Error("no config.json in this directory", {.file = model_dir.string()});
  Gemma4Config config = read_gemma4_config(config_path.string());
  check_forward_supported(config, config_path.string());
  return std::unique_ptr<CpuForward>(new CpuForward(Checkpoint::open(model_dir), std::move(config), options));
}

CpuForward::CpuForward(Checkpoint checkpoint, Gemma4Config config, const CpuForwardOptions& options)
    : checkpoint_(std::move(checkpoint)),
      config_(std::move(config)),
      options_(options),
      pool_(std::make_unique<cpu::ThreadPool>(options.n_threads)) {
  weights_ = bind_gemma4_weights(checkpoint_, config_);
  store_ = std::make_unique<cpu::WeightStore>(weights_, config_.text, options_.weight_cache_bytes);
  // One table per layer type (check_forward_supported guarantees one head dim per type).
  for (const Gemma4LayerConfig& l : config_.text.layers) {
    if (l.type == LayerType::kSliding && inv_freq_sliding_.empty())
      inv_freq_sliding_ = cpu::rope_inv_freq(config_.text.rope_sliding, l.d_head);
    if (l.type == LayerType::kFull && inv_freq_full_.empty())
      inv_freq_full_ = cpu::rope_inv_freq(config_.text.rope_full, l.d_head);
  }
}

CpuForward::~CpuForward() = default;

void CpuForward::emit(std::string_view name, int layer, std::size_t sequence, std::int64_t first_position,
                      const float* data, std::int64_t rows, std::int64_t cols) const {
  const ActivationHook& hook = activation_hook();
  if (!hook) return;
  hook(Activation{name, layer, sequence, first_position,
                  TensorView{std::string(name), DType::kF32, {rows, cols}, data, Device::kHost}});
}

SequenceState CpuForward::start(TokenSpan tokens, std::size_t index, const Prefix* prefix) const {
  const Gemma4TextConfig& c = config_.text;
  SequenceState s;
  s.sequence = index;
  s.first_position = prefix ? prefix->n_tokens() : 0;
  // fp32 reference: the embed scale an fp32 transformers run uses (gemma4-text.md §4).
  s.x = cpu::embed(store_->embedding(), tokens, cpu::embed_scale(c.d_model, DType::kF32));
  emit(activation::kEmbedding, -1, index, s.first_position, s.x.data(), s.x.rows(), s.x.cols());
  if (c.has_ple()) {
    const cpu::TableRows& table = *store_->ple_table();
    Matrix rows(static_cast<Eigen::Index>(tokens.size()), table.cols());
    for (std::size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] >= table.rows())  // transformers would index out of range; vLLM maps to 0. Refuse.
        throw Error(fmt::format("token {} is outside the per-layer embedding table ({} rows)", tokens[i],
                                table.rows()),
                    {.tensor = table.name()});
    table.gather(tokens, rows.data());
    const cpu::GlobalWeights& g = store_->globals();
    s.ple = cpu::ple_inputs(s.x, rows, g.ple_model_projection.matrix(), g.ple_projection_norm.vector(),
                            c.d_ple, c.rms_norm_eps, *pool_);
    emit(activation::kPleInputs, -1, index, s.first_position, s.ple.data(), s.ple.rows(), s.ple.cols());
  }
  const auto n_layers = static_cast<std::size_t>(c.n_layers);
  if (prefix) {
    s.k = prefix->k();
    s.v = prefix->v();
  } else {
    s.k.resize(n_layers);
    s.v.resize(n_layers);
  }
  return s;
}

void CpuForward::run_layers(std::vector<SequenceState>& seqs) const {
  const Gemma4TextConfig& c = config_.text;
  // Per sequence, the RoPE tables of its positions.
  std::vector<cpu::RopeTable> sliding, full;
  for (const SequenceState& s : seqs) {
    sliding.push_back(cpu::make_rope_table(inv_freq_sliding_, s.first_position, s.x.rows()));
    full.push_back(cpu::make_rope_table(inv_freq_full_, s.first_position, s.x.rows()));
  }
  // Layer-major: each layer's weights are converted (or fetched from the cache) once per call.
  for (int i = 0; i < c.n_layers; ++i) {
    const std::shared_ptr<const cpu::LayerWeights> w = store_->layer(i);
    const bool is_full = c.layers[static_cast<std::size_t>(i)].type == LayerType::kFull;
    for (std::size_t b = 0; b < seqs.size(); ++b) {
      SequenceState& s = seqs[b];
      cpu::LayerContext ctx{c, is_full ? full[b] : sliding[b], *pool_, {}};
      if (activation_hook())
        ctx.emit = [&, i](std::string_view name, const Matrix& m) {
          emit(name, i, s.sequence, s.first_position, m.data(), m.rows(), m.cols());
        };
      cpu::decoder_layer(i, *w, ctx, s);
    }
  }
}

void CpuForward::emit_logits(const SequenceState& s, std::size_t index, const LogitsConsumer& consume,
                             const ScoreOptions& options) const {
  const Gemma4TextConfig& c = config_.text;
  const std::int64_t n = s.x.rows();
  Matrix h(n, c.d_model);
  cpu::rms_norm(s.x.data(), n, c.d_model, store_->globals().final_norm.vector(), c.rms_norm_eps, h.data());
  emit(activation::kFinalNorm, static_cast<int>(c.n_layers), index, s.first_position, h.data(), n, c.d_model);
  if (!consume) return;
  const cpu::TableRows& head = store_->head();
  const std::int64_t chunk = std::max<std::int64_t>(1, options.chunk_rows);
  Matrix logits;
  for (std::int64_t r0 = first_logit_row_of(options, index); r0 < n; r0 += chunk) {
    const std::int64_t rows = std::min(chunk, n - r0);
    logits.resize(rows, head.rows());
    cpu::lm_head(h.middleRows(r0, rows), head, c.final_logit_softcapping, logits, *pool_);
    consume(LogitsChunk{index, s.first_position + r0, rows, head.rows(),
                        std::span<const float>(logits.data(), static_cast<std::size_t>(logits.size()))});
  }
}

void CpuForward::score(std::span<const TokenSpan> batch, const LogitsConsumer& consume,
                       const ScoreOptions& options) {
  for (std::size_t b = 0; b < batch.size(); ++b)
    check_tokens(config_.text, batch[b], 0, fmt::format("sequence {}", b));
  check_first_logit_rows(options, batch.size());
  std::vector<SequenceState> seqs;
  for (std::size_t b = 0; b < batch.size(); ++b) seqs.push_back(start(batch[b], b, nullptr));
  run_layers(seqs);
  for (std::size_t b = 0; b < seqs.size(); ++b) emit_logits(seqs[b], b, consume, options);
}

PrefixHandle CpuForward::encode_prefix(TokenSpan prefix, const LogitsConsumer& consume,
                                       const ScoreOptions& options) {
  check_tokens(config_.text, prefix, 0, "prefix");
  check_first_logit_rows(options, 1);
  std::vector<SequenceState> seqs;
  seqs.push_back(start(prefix, 0, nullptr));
  run_layers(seqs);
  emit_logits(seqs[0], 0, consume, options);
  return std::make_shared<const Prefix>(this, static_cast<std::int64_t>(prefix.size()), std::move(seqs[0].k),
                                        std::move(seqs[0].v));
}

void CpuForward::score_continuations(const PrefixHandle& handle, std::span<const TokenSpan> continuations,
                                     const LogitsConsumer& consume, const ScoreOptions& options) {
  const auto* prefix = dynamic_cast<const Prefix*>(handle.get());
  if (prefix == nullptr || prefix->owner() != this)
    throw Error("the prefix was not encoded by this CPU forward pass",
                {.hint = "call encode_prefix on the same object"});
  for (std::size_t b = 0; b < continuations.size(); ++b)
    check_tokens(config_.text, continuations[b], prefix->n_tokens(), fmt::format("continuation {}", b));
  check_first_logit_rows(options, continuations.size());
  std::vector<SequenceState> seqs;
  for (std::size_t b = 0; b < continuations.size(); ++b) seqs.push_back(start(continuations[b], b, prefix));
  run_layers(seqs);
  for (std::size_t b = 0; b < seqs.size(); ++b) emit_logits(seqs[b], b, consume, options);
}

}  // namespace qg
