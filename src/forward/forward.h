#pragma once
// The forward-pass interface shared by the CPU reference (forward/cpu), the CUDA engine, KL and MMLU:
// token sequences in, fp32 logits out. Logits are handed to a consumer a chunk of rows at a time, so a
// corpus never needs [n_tokens, n_vocab] in memory (262144 floats = 1 MiB per token). A computed prompt
// prefix (its K/V) can be reused for many continuations (MMLU: one few-shot prompt, four answers), and a
// hook sees intermediate activations so an engine can be diffed layer by layer against transformers.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/gemma4_config.h"
#include "tensor/tensor_view.h"

namespace qg {

using TokenId = std::int32_t;
using TokenSpan = std::span<const TokenId>;

// Rows [first_position, first_position + n_rows) of one sequence's logits (after the final softcap).
struct LogitsChunk {
  std::size_t sequence = 0;         // index in the batch, or of the continuation
  std::int64_t first_position = 0;  // absolute position of row 0; a reused prefix's tokens count
  std::int64_t n_rows = 0;
  std::int64_t n_vocab = 0;
  std::span<const float> logits;  // [n_rows, n_vocab] row-major; valid only during the call (empty when
                                  // the logits were handed over on the GPU, see ScoreOptions::logits_on_device)
  // With ScoreOptions::logits_on_device on a GPU engine: the same rows in device memory, and the engine's CUDA
  // stream (a cudaStream_t). The stream is synchronized before the call; work the consumer queues on that
  // stream runs before the engine overwrites the buffer, work on any other stream must finish before returning.
  const float* device_logits = nullptr;
  void* cuda_stream = nullptr;

  std::span<const float> row(std::int64_t r) const {
    return logits.subspan(static_cast<std::size_t>(r * n_vocab), static_cast<std::size_t>(n_vocab));
  }
};
// Called with chunks in order: sequence by sequence, and within a sequence by ascending position.
using LogitsConsumer = std::function<void(const LogitsChunk&)>;

// Names of the activations an engine reports to the hook (fp32, [n_rows, width]).
namespace activation {
// layer -1: E[ids] * sqrt(d_model), the input of layer 0
inline constexpr std::string_view kEmbedding = "embedding";
// layer -1: the per-layer inputs [n, n_layers * d_ple] (PLE models)
inline constexpr std::string_view kPleInputs = "ple_inputs";
// post_attention_layernorm(o_proj(attention)), before the residual add
inline constexpr std::string_view kAttentionOutput = "attn_output";
// post_feedforward_layernorm(MLP [+ MoE]), before the residual add
inline constexpr std::string_view kFfnOutput = "ffn_output";
// the residual stream at the end of the layer, after layer_scalar
inline constexpr std::string_view kLayerOutput = "layer_output";
// layer n_layers: model.norm(x), the input of the head
inline constexpr std::string_view kFinalNorm = "final_norm";
}  // namespace activation

struct Activation {
  std::string_view name;  // one of activation::k*
  int layer = -1;         // decoder layer; -1 before the first; n_layers for the final norm
  std::size_t sequence = 0;
  std::int64_t first_position = 0;  // absolute position of row 0
  TensorView value;                 // host fp32 [n_rows, width]; valid only during the call
};
using ActivationHook = std::function<void(const Activation&)>;

struct ScoreOptions {
  std::int64_t chunk_rows = 64;      // rows per consumer call; a chunk may be shorter at the end of a sequence
                                     // and, on the GPU engine, where a sequence spans two steps or this exceeds
                                     // its --logits-rows
  std::int64_t first_logit_row = 0;  // rows of each sequence (of this call) before this get no logits: the
                                     // head is not even computed for them (KL scores only the second half)
  // When not empty: one first row per sequence of the call (the prefix for encode_prefix), overriding
  // first_logit_row; MMLU asks for the last context row of each question only. Its size must equal the number
  // of sequences (qg::Error otherwise). The caller keeps the values alive during the call.
  std::span<const std::int64_t> first_logit_rows;
  bool logits_on_device = false;     // GPU engines: hand LogitsChunk::device_logits instead of a host copy
                                     // (no [rows, n_vocab] transfer); the CPU engine always gives host rows
};

// The first row of sequence `sequence` that gets logits (first_logit_rows[sequence], else first_logit_row;
// negative values count as 0).
std::int64_t first_logit_row_of(const ScoreOptions& options, std::size_t sequence);
// Throws qg::Error unless first_logit_rows is empty or has one entry per sequence of the call.
void check_first_logit_rows(const ScoreOptions& options, std::size_t n_sequences);

// The K/V of an encoded prefix; opaque, and only usable with the Forward that made it.
class PrefixState {
 public:
  virtual ~PrefixState() = default;
  virtual std::int64_t n_tokens() const = 0;
};
using PrefixHandle = std::shared_ptr<const PrefixState>;

class Forward {
 public:
  virtual ~Forward() = default;

  virtual const Gemma4TextConfig& config() const = 0;
  virtual std::string device() const = 0;  // "cpu", "cuda:0"
  // Things a user should know about how this engine runs the model (e.g. weights it had to round).
  virtual std::vector<std::string> warnings() const { return {}; }

  // Teacher-forced logits of each sequence (positions from 0, no padding, any lengths >= 1).
  virtual void score(std::span<const TokenSpan> batch, const LogitsConsumer& consume,
                     const ScoreOptions& options = {}) = 0;
  void score(TokenSpan tokens, const LogitsConsumer& consume, const ScoreOptions& options = {}) {
    score(std::span<const TokenSpan>(&tokens, 1), consume, options);
  }

  // Runs `prefix` once and keeps its K/V. Its own logits go to `consume` when one is given (the last row
  // predicts every continuation's first token), as sequence 0.
  virtual PrefixHandle encode_prefix(TokenSpan prefix, const LogitsConsumer& consume = {},
                                     const ScoreOptions& options = {}) = 0;
  // Logits of each continuation as if scored as prefix + continuation in one go; chunk positions are
  // absolute (they start at prefix->n_tokens()), `sequence` is the continuation's index.
  virtual void score_continuations(const PrefixHandle& prefix, std::span<const TokenSpan> continuations,
                                   const LogitsConsumer& consume, const ScoreOptions& options = {}) = 0;

  // Sees every activation of every later call (an empty function turns it off). For debugging: the
  // copies it may make are the caller's business.
  void set_activation_hook(ActivationHook hook) { hook_ = std::move(hook); }

 protected:
  const ActivationHook& activation_hook() const { return hook_; }

 private:
  ActivationHook hook_;
};

// Throws qg::Error unless the forward maths of gemma4-text.md covers this config exactly (instead of
// producing wrong numbers): bidirectional text attention, an activation or RoPE type we do not know,
// layers of one type with different head dims, ... `source` names the config file in the message.
void check_forward_supported(const Gemma4Config& config, const std::string& source);

// Throws qg::Error for an empty sequence, an id outside [0, n_vocab), or positions past
// max_position_embeddings. `what` names the sequence in the message ("sequence 3").
void check_tokens(const Gemma4TextConfig& config, TokenSpan tokens, std::int64_t first_position,
                  const std::string& what);

}  // namespace qg
