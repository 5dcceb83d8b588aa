#pragma once
// CudaForward's internals: the weights, the planned buffers, and the per-step description of which rows
// belong to which sequence. Only the engine's own .cpp files include this.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "forward/cuda/cuda_forward.h"
#include "forward/cuda/gemm.h"
#include "forward/cuda/gpu_weights.h"
#include "forward/memory_plan.h"
#include "forward/cuda/gemm_attention.h"
#include "forward/cuda/phase_profiler.h"
#include "kernels/device_buffer.h"

namespace qg::cuda {

// Page-locked host memory, for async uploads of step metadata and fast logits downloads.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(std::size_t bytes, const char* what);
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// A run of consecutive rows of one step that belong to one sequence.
struct StepSegment {
  std::size_t job = 0;           // index into the call's jobs
  std::int64_t first_row = 0;    // step-local row of the segment's first token
  std::int64_t n_rows = 0;
  std::int64_t first_local = 0;  // index of that token within the job's tokens
};

// One sequence of a call: its tokens, where its positions start (after a reused prefix) and its cache slot.
struct Job {
  std::size_t sequence = 0;
  TokenSpan tokens;
  std::int64_t first_position = 0;
  std::int64_t slot = 0;  // cache row of the sequence's position 0
};

}  // namespace qg::cuda

namespace qg {

struct CudaForward::Impl {
  Gemma4Config config;
  std::optional<Checkpoint> checkpoint;
  std::optional<Gemma4Weights> bound;
  int device = 0;
  std::string device_name;
  CudaForwardOptions options;
  cudaStream_t stream = nullptr;
  std::unique_ptr<cuda::Gemm> gemm;
  cuda::GpuModelWeights w;
  MemoryPlan plan;
  StepWidths widths;
  std::uint64_t allocated = 0;
  std::uint64_t peak_used = 0;
  std::vector<std::string> warnings;

  // Step buffers, [max_batch_tokens, width] each (widths from memory_plan.h).
  cuda::DeviceBuffer x, gemm_in, gemm_lo, gemm_f32, q, k, v, out1, out2, ple;
  cuda::DeviceBuffer moe_f32, moe_bf16;
  cuda::DeviceBuffer ids, positions, kv_start, kv_dest;  // int32, int32, int64, int64
  cuda::DeviceBuffer keep_rows;                           // int32: step rows the KV-shared layers run
  cuda::DeviceBuffer head_in, logits;                     // bf16 [logits_rows, H], fp32 [logits_rows, V]
  cuda::DeviceBuffer head_lo, head_f32;                   // accurate precision: bf16 / fp32 [logits_rows, H]
  cuda::DeviceBuffer dequant;                             // bf16 [largest quantized out * in]
  cuda::DeviceBuffer hook_tmp;                            // fp32, allocated on first use of the hook
  std::vector<cuda::DeviceBuffer> k_cache, v_cache;       // per layer that owns K/V: [max_context, n_kv * d],
                                                          // fp32 (accurate) or fp16 (fast)
  cuda::DeviceBuffer inv_freq_sliding, inv_freq_full;
  cuda::PinnedBuffer meta_host, logits_host;
  cuda::PhaseProfiler profile;  // CudaForwardOptions::profile
  // Fast precision: attention as GEMMs (forward/cuda/gemm_attention.h) over the step's runs of rows.
  std::unique_ptr<cuda::GemmAttention> gemm_attention;
  std::vector<cuda::AttentionSpan> step_spans;
  // Whether the KV-shared layers may run only the rows that get logits (forward/shared_layer_rows.h): the model has
  // such layers and their attention is row-invariant under the plan's aligned cut (the accurate kernel always; the
  // fast path when every shared layer's head dim runs the fused kernel, whose 64-row blocks the cut keeps).
  bool shared_rows_exact = false;
  std::int64_t shared_rows_skipped = 0;  // step rows that skipped the KV-shared layers, all calls

  ~Impl();
  void init_buffers();  // allocates everything the plan counts
  __nv_bfloat16* ws() const { return dequant.as<__nv_bfloat16>(); }
  bool accurate() const { return options.limits.precision == GemmInputPrecision::kAccurate; }
};

}  // namespace qg
