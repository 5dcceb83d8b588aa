#pragma once
// The model's weights in GPU memory: Linear weights as bf16 [out, in] or, when compressed-tensors
// quantized them, still packed (DeviceQuantizedLinear, dequantized into a bf16 workspace right before their
// GEMM); token tables as bf16; norm vectors, router weights and scales as fp32 (they are tiny, and fp32 keeps
// the norms' and the router's maths exact). Filled from a WeightSource: a checkpoint, or random values
// generated on the GPU (synthetic full-size models for memory and speed runs).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dequant_kernels.cuh"
#include "kernels/device_buffer.h"
#include "model/gemma4_config.h"
#include "model/gemma4_weights.h"

namespace qg::cuda {

// A matrix used in a GEMM: dense bf16, or packed quantized.
class GpuMatrix {
 public:
  GpuMatrix() = default;
  GpuMatrix(std::string name, std::int64_t out, std::int64_t in, DeviceBuffer dense);
  GpuMatrix(std::string name, std::unique_ptr<DeviceQuantizedLinear> quantized);
  static GpuMatrix borrow(std::string name, std::int64_t out, std::int64_t in, const __nv_bfloat16* dense);

  // bf16 [out, in] ready for a GEMM: the dense buffer, or the weight dequantized into `workspace` (which must
  // hold out * in values and stays in use until the GEMM reading it has run on the same stream).
  const __nv_bfloat16* bf16(__nv_bfloat16* workspace, cudaStream_t stream) const;

  const std::string& name() const { return name_; }
  std::int64_t out() const { return out_; }
  std::int64_t in() const { return in_; }
  bool quantized() const { return quantized_ != nullptr; }
  bool empty() const { return out_ == 0; }
  std::uint64_t device_bytes() const;  // owned bytes (0 when borrowed)

 private:
  std::string name_;
  std::int64_t out_ = 0, in_ = 0;
  DeviceBuffer dense_;
  const __nv_bfloat16* borrowed_ = nullptr;
  std::unique_ptr<DeviceQuantizedLinear> quantized_;
};

struct GpuLayerWeights {
  DeviceBuffer input_norm, post_attention_norm, pre_ffn_norm, post_ffn_norm;  // fp32 [H]
  float layer_scalar = 1.0f;
  GpuMatrix q_proj, k_proj, v_proj, o_proj;  // k/v empty on KV-shared layers, v also with k_eq_v
  // Dense layers that compute their own K/V: q, k (and v) live as consecutive rows of one [q; k; v] matrix here
  // (q_proj/k_proj/v_proj borrow their rows), so the fast precision runs one GEMM instead of three (k and v alone
  // are 512 outputs wide: 64 output tiles, half an H100 idle). Empty otherwise (quantized weights are
  // dequantized side by side into the workspace instead, see qkv_rows()).
  DeviceBuffer qkv;
  DeviceBuffer q_norm, k_norm;               // fp32 [d_head]
  GpuMatrix gate_proj, up_proj, down_proj;
  // Dense gate and up as one [gate; up] matrix (they borrow its rows): one GEMM, N = 2 d_ff, in the fast
  // precision. Empty when quantized (then dequantized side by side into the workspace, sized for the pair).
  DeviceBuffer gate_up;
  // MoE
  DeviceBuffer router_proj;                  // fp32 [E, H]
  DeviceBuffer router_scale, router_per_expert_scale;  // fp32 [H], [E]
  DeviceBuffer experts_gate_up, experts_down;          // bf16 [E, 2I, H], [E, H, I]
  DeviceBuffer post_ffn_norm_1, pre_ffn_norm_2, post_ffn_norm_2;
  // PLE
  GpuMatrix ple_gate, ple_projection;
  DeviceBuffer post_ple_norm;
};

// Output rows of the [q; k; v] projection of a layer that computes its own K/V (v absent with k_eq_v).
std::int64_t qkv_rows(const GpuLayerWeights& w);

struct GpuModelWeights {
  DeviceBuffer embedding;   // bf16 [V, H]
  DeviceBuffer ple_table;   // bf16 [V_ple, L * P]
  GpuMatrix ple_model_projection;
  DeviceBuffer ple_projection_norm, final_norm;  // fp32
  GpuMatrix head;           // borrows `embedding` when tied
  std::vector<GpuLayerWeights> layers;

  std::uint64_t device_bytes = 0;             // everything above
  // Dequantization workspace, in values: the largest quantized matrix, or a quantized gate + up pair.
  std::int64_t max_quantized_elements = 0;
};

// Where weight values come from. Names are relative to the text prefix, as in gemma4_text_weight_specs.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // A tensor of any float dtype as bf16 on the device (shape as in the spec).
  virtual DeviceBuffer bf16(const WeightSpec& spec) = 0;
  // A tensor as fp32 on the device.
  virtual DeviceBuffer f32(const WeightSpec& spec) = 0;
  // The quantized form of a Linear weight, or nullptr when it is stored dense.
  virtual std::unique_ptr<DeviceQuantizedLinear> quantized(const WeightSpec& spec) = 0;
  virtual float scalar(const WeightSpec& spec) = 0;  // layer_scalar
};

// Weights bound from a checkpoint (host mmap -> device; F32/F16 rounded to bf16 on the host, slab by slab).
std::unique_ptr<WeightSource> checkpoint_weight_source(const Gemma4Weights& weights);
// How many tensors a checkpoint source had to round to bf16 (stored as F32 or F16), and their dtypes.
struct RoundedWeights {
  std::int64_t tensors = 0;
  std::string dtypes;  // "F32" or "F32, F16"
};
RoundedWeights rounded_weights(const WeightSource& source);

// Loads every tensor the config implies.
GpuModelWeights load_gpu_weights(const Gemma4TextConfig& config, WeightSource& source);

// Bytes load_gpu_weights would allocate, computed from the specs and the bound weights (for the memory plan
// before anything is uploaded), and the workspace the largest quantized matrix needs.
struct GpuWeightSizes {
  std::uint64_t bytes = 0;
  std::int64_t max_quantized_elements = 0;
};
GpuWeightSizes gpu_weight_sizes(const Gemma4TextConfig& config, const Gemma4Weights& weights);

}  // namespace qg::cuda
