#include "forward/cuda/cuda_forward.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "common/error.h"
#include "forward/cpu/rope.h"
#include "forward/cuda/decoder_step.h"
#include "forward/cuda/engine_state.h"
#include "forward/cuda/synthetic_weights.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_info.cuh"
#include "kernels/elementwise_kernels.cuh"
#include "kernels/flash_attention_kernels.cuh"
#include "kernels/norm_kernels.cuh"

namespace qg {

using cuda::DeviceBuffer;
using cuda::Job;
using cuda::StepSegment;

namespace cuda {
PinnedBuffer::PinnedBuffer(std::size_t bytes, const char* what) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t err = cudaMallocHost(&p_, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    p_ = nullptr;
    throw Error(fmt::format("could not allocate {} of page-locked host memory for {}: {}", format_bytes(bytes), what,
                            cudaGetErrorString(err)));
  }
}
PinnedBuffer::~PinnedBuffer() {
  if (p_ != nullptr) cudaFreeHost(p_);
}
}  // namespace cuda

namespace {

// The K/V a prefix left in every layer that computes its own, copied out of the engine's cache.
class GpuPrefix final : public PrefixState {
 public:
  GpuPrefix(const CudaForward* owner, std::int64_t n) : owner_(owner), n_(n) {}
  std::int64_t n_tokens() const override { return n_; }
  const CudaForward* owner() const { return owner_; }
  std::vector<DeviceBuffer> k, v;  // per layer (empty for KV-shared layers): [n, n_kv * d] bf16

 private:
  const CudaForward* owner_;
  std::int64_t n_;
};

std::int64_t kv_width(const Gemma4LayerConfig& l) { return l.n_kv_heads * l.d_head; }

void select_device(int device) {
  const int n = cuda_device_count();
  if (n == 0)
    throw Error("--device cuda: no CUDA GPU is usable here (no driver or no device)",
                {.hint = "use --device cpu, or check nvidia-smi"});
  if (device < 0 || device >= n)
    throw Error(fmt::format("--device cuda:{}: this machine has {} CUDA device(s)", device, n),
                {.hint = fmt::format("use cuda:0 .. cuda:{}", n - 1)});
  QG_CUDA_CHECK(cudaSetDevice(device));
}

}  // namespace

CudaForward::Impl::~Impl() {
  gemm.reset();
  if (stream != nullptr) cudaStreamDestroy(stream);
}

void CudaForward::Impl::init_buffers() {
  const Gemma4TextConfig& c = config.text;
  const EngineLimits& lim = options.limits;
  const auto R = static_cast<std::size_t>(lim.max_batch_tokens);
  widths = step_widths(c, lim.precision);
  auto f32 = [&](std::int64_t width, const char* what) {
    return DeviceBuffer(R * static_cast<std::size_t>(width) * 4, what);
  };
  x = f32(widths.residual, "residual stream");
  gemm_in = DeviceBuffer(R * static_cast<std::size_t>(widths.gemm_in) * 2, "GEMM input");
  gemm_lo = DeviceBuffer(R * static_cast<std::size_t>(widths.gemm_lo) * 2, "GEMM input low halves");
  gemm_f32 = f32(widths.gemm_f32, "GEMM input staging");
  q = f32(widths.q, "queries");
  k = f32(widths.kv, "keys");
  v = f32(widths.kv, "values");
  out1 = f32(widths.out1, "GEMM output");
  out2 = f32(widths.out2, "GEMM output 2");
  ple = f32(widths.ple, "per-layer inputs");
  moe_f32 = f32(widths.moe_f32, "MoE buffers");
  moe_bf16 = DeviceBuffer(R * static_cast<std::size_t>(widths.moe_bf16) * 2, "MoE bf16 buffers");
  ids = DeviceBuffer(R * 4, "token ids");
  if (lim.precision == GemmInputPrecision::kFast)
    gemm_attention = std::make_unique<cuda::GemmAttention>(
        lim.max_batch_tokens, widths.q, kAttentionScoreBytes,
        options.fused_kernels ? cuda::GemmAttention::Method::kAuto : cuda::GemmAttention::Method::kGemm);
  positions = DeviceBuffer(R * 4, "positions");
  kv_start = DeviceBuffer(R * 8, "cache slots");
  kv_dest = DeviceBuffer(R * 8, "cache rows");
  keep_rows = DeviceBuffer(R * 4, "rows of the KV-shared layers");
  const auto L = static_cast<std::size_t>(lim.logits_rows);
  head_in = DeviceBuffer(L * static_cast<std::size_t>(c.d_model) * 2, "head input");
  logits = DeviceBuffer(L * static_cast<std::size_t>(c.n_vocab) * 4, "logits");
  if (lim.precision == GemmInputPrecision::kAccurate) {
    head_lo = DeviceBuffer(L * static_cast<std::size_t>(c.d_model) * 2, "head input low halves");
    head_f32 = DeviceBuffer(L * static_cast<std::size_t>(c.d_model) * 4, "head input staging");
  }
  dequant = DeviceBuffer(static_cast<std::size_t>(w.max_quantized_elements) * 2, "dequantization workspace");
  k_cache.resize(static_cast<std::size_t>(c.n_layers));
  v_cache.resize(static_cast<std::size_t>(c.n_layers));
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    if (c.layers[i].kv_shared) continue;
    const std::size_t bytes =
        static_cast<std::size_t>(lim.max_context * kv_width(c.layers[i])) * kv_element_bytes(lim.precision);
    k_cache[i] = DeviceBuffer(bytes, fmt::format("K cache of layer {}", i));
    v_cache[i] = DeviceBuffer(bytes, fmt::format("V cache of layer {}", i));
  }
  for (const Gemma4LayerConfig& l : c.layers) {
    DeviceBuffer& table = l.type == LayerType::kFull ? inv_freq_full : inv_freq_sliding;
    if (!table.empty()) continue;
    const std::vector<float> f = cpu::rope_inv_freq(l.type == LayerType::kFull ? c.rope_full : c.rope_sliding, l.d_head);
    table = cuda::upload_bytes(f.data(), f.size() * 4, "RoPE frequencies");
  }
  meta_host = cuda::PinnedBuffer(R * 28, "step metadata");  // ids, positions, kv_start, kv_dest, kept rows
  logits_host = cuda::PinnedBuffer(L * static_cast<std::size_t>(c.n_vocab) * 4, "logits");
  allocated = w.device_bytes + plan.total() - plan.weights;
}

namespace {

// Plans the memory for `weight_bytes` of weights, checks it fits the free memory, and builds the engine.
std::unique_ptr<CudaForward::Impl> start_impl(Gemma4Config config, const CudaForwardOptions& options) {
  select_device(options.device);
  auto impl = std::make_unique<CudaForward::Impl>();
  impl->config = std::move(config);
  impl->device = options.device;
  impl->options = options;
  impl->profile.enable(options.profile);
  cudaDeviceProp prop{};
  QG_CUDA_CHECK(cudaGetDeviceProperties(&prop, options.device));
  impl->device_name = prop.name;
  return impl;
}

void plan_and_check(CudaForward::Impl& e, std::uint64_t weight_bytes, std::int64_t max_quantized,
                    const std::string& what, bool weights_resident) {
  std::size_t free_bytes = 0, total = 0;
  QG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  // Once the weights are on the GPU, they are already out of the free figure.
  const std::uint64_t available = free_bytes + (weights_resident ? weight_bytes : 0);
  const std::uint64_t usable = available > e.options.headroom_bytes ? available - e.options.headroom_bytes : 0;
  const auto dequant_bytes = static_cast<std::uint64_t>(max_quantized) * 2;
  if (e.options.grow_batch_tokens)
    e.options.limits.max_batch_tokens = grown_batch_tokens(e.config.text, weight_bytes, dequant_bytes, e.options.limits,
                                                           cuda::Gemm::kDefaultWorkspaceBytes, usable);
  e.plan = plan_memory(e.config.text, weight_bytes, dequant_bytes, e.options.limits, cuda::Gemm::kDefaultWorkspaceBytes);
  check_plan_fits(e.plan, e.config.text, usable,
                  fmt::format("{} on cuda:{} ({})", what, e.device, e.device_name));
}

void finish_impl(CudaForward::Impl& e) {
  QG_CUDA_CHECK(cudaStreamCreateWithFlags(&e.stream, cudaStreamNonBlocking));
  e.gemm = std::make_unique<cuda::Gemm>(e.stream, cuda::Gemm::kDefaultWorkspaceBytes, e.options.limits.max_batch_tokens);
  e.init_buffers();
  const Gemma4TextConfig& c = e.config.text;
  e.shared_rows_exact = c.first_kv_shared_layer() < c.n_layers;
  if (!e.accurate())
    for (std::int64_t i = c.first_kv_shared_layer(); i < c.n_layers; ++i)
      e.shared_rows_exact = e.shared_rows_exact && e.gemm_attention->fused(static_cast<int>(c.layers[static_cast<std::size_t>(i)].d_head));
}

}  // namespace

std::unique_ptr<CudaForward> CudaForward::open(const std::filesystem::path& model_dir,
                                               const CudaForwardOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    throw Error("not a checkpoint directory", {.file = model_dir.string(), .hint = "pass the folder with config.json"});
  const std::filesystem::path config_path = model_dir / "config.json";
  if (!std::filesystem::exists(config_path, ec))
    throw Error("no config.json in this directory", {.file = model_dir.string()});
  Gemma4Config config = read_gemma4_config(config_path.string());
  check_forward_supported(config, config_path.string());
  auto impl = start_impl(std::move(config), options);
  impl->checkpoint.emplace(Checkpoint::open(model_dir));
  impl->bound.emplace(bind_gemma4_weights(*impl->checkpoint, impl->config));
  // The whole plan is checked before the first byte is uploaded.
  const cuda::GpuWeightSizes sizes = cuda::gpu_weight_sizes(impl->config.text, *impl->bound);
  plan_and_check(*impl, sizes.bytes, sizes.max_quantized_elements, model_dir.string(), false);
  auto source = cuda::checkpoint_weight_source(*impl->bound);
  impl->w = cuda::load_gpu_weights(impl->config.text, *source);
  const cuda::RoundedWeights rounded = cuda::rounded_weights(*source);
  if (rounded.tensors > 0)
    impl->warnings.push_back(fmt::format(
        "{}: {} weight tensors stored as {} were rounded to bf16, the CUDA engine's weight format (--device cpu "
        "keeps them exact)",
        model_dir.string(), rounded.tensors, rounded.dtypes));
  finish_impl(*impl);
  return std::unique_ptr<CudaForward>(new CudaForward(std::move(impl)));
}

std::unique_ptr<CudaForward> CudaForward::synthetic(const Gemma4Config& config, const SyntheticWeights& weights,
                                                    const CudaForwardOptions& options) {
  check_forward_supported(config, "synthetic config");
  auto impl = start_impl(config, options);
  auto source = cuda::synthetic_weight_source(impl->config.text, weights);
  impl->w = cuda::load_gpu_weights(impl->config.text, *source);
  plan_and_check(*impl, impl->w.device_bytes, impl->w.max_quantized_elements, "synthetic model", true);
  finish_impl(*impl);
  return std::unique_ptr<CudaForward>(new CudaForward(std::move(impl)));
}

CudaForward::CudaForward(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaForward::~CudaForward() = default;

const Gemma4TextConfig& CudaForward::config() const { return impl_->config.text; }
std::string CudaForward::device() const { return fmt::format("cuda:{}", impl_->device); }
std::vector<std::string> CudaForward::warnings() const { return impl_->warnings; }
const MemoryPlan& CudaForward::plan() const { return impl_->plan; }
std::string CudaForward::device_name() const { return impl_->device_name; }
std::uint64_t CudaForward::peak_used_bytes() const { return impl_->peak_used; }
std::string CudaForward::profile_report() const { return impl_->profile.report(); }
std::uint64_t CudaForward::allocated_bytes() const { return impl_->allocated; }
std::int64_t CudaForward::shared_layer_rows_skipped() const { return impl_->shared_rows_skipped; }

namespace {

// Runs the jobs of one call: grouped so each group's cache slots fit --max-context, packed into steps of
// --max-batch-tokens rows, logits handed out per sequence in position order. With `keep`, the K/V of job 0
// is copied into `keep` at the end (encode_prefix).
void run_jobs(CudaForward::Impl& e, const CudaForward& self, std::vector<Job>& jobs, const GpuPrefix* prefix,
              const LogitsConsumer& consume, const ScoreOptions& options, const ActivationHook& hook,
              GpuPrefix* keep) {
  using bf16 = __nv_bfloat16;
  const Gemma4TextConfig& c = e.config.text;
  const EngineLimits& lim = e.options.limits;
  cudaStream_t s = e.stream;
  QG_CUDA_CHECK(cudaSetDevice(e.device));
  if (hook && e.hook_tmp.empty())
    e.hook_tmp = DeviceBuffer(static_cast<std::size_t>(lim.max_batch_tokens * c.d_model) * 4, "activation hook scratch");

  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const std::int64_t need = jobs[j].first_position + static_cast<std::int64_t>(jobs[j].tokens.size());
    if (need > lim.max_context)
      throw Error(fmt::format("sequence {} needs {} tokens of K/V cache but the engine holds {} (--max-context)",
                              jobs[j].sequence, need, lim.max_context),
                  {.hint = fmt::format("raise --max-context to at least {}", need)});
  }

  std::size_t g0 = 0;
  while (g0 < jobs.size()) {
    // A group: consecutive jobs whose slots fit the cache together.
    std::size_t g1 = g0;
    std::int64_t used = 0;
    while (g1 < jobs.size()) {
      const std::int64_t need = jobs[g1].first_position + static_cast<std::int64_t>(jobs[g1].tokens.size());
      if (used + need > lim.max_context) break;
      jobs[g1].slot = used;
      used += need;
      ++g1;
    }
    // Continuations start from a copy of the prefix's K/V in their own slot.
    if (prefix != nullptr)
      for (std::size_t j = g0; j < g1; ++j)
        for (std::size_t i = 0; i < c.layers.size(); ++i) {
          if (c.layers[i].kv_shared) continue;
          const std::size_t row_bytes =
              static_cast<std::size_t>(kv_width(c.layers[i]) * kv_element_bytes(lim.precision));
          const std::size_t offset = static_cast<std::size_t>(jobs[j].slot) * row_bytes;
          const std::size_t bytes = static_cast<std::size_t>(prefix->n_tokens()) * row_bytes;
          QG_CUDA_CHECK(cudaMemcpyAsync(e.k_cache[i].as<std::byte>() + offset, prefix->k[i].get(), bytes,
                                        cudaMemcpyDeviceToDevice, s));
          QG_CUDA_CHECK(cudaMemcpyAsync(e.v_cache[i].as<std::byte>() + offset, prefix->v[i].get(), bytes,
                                        cudaMemcpyDeviceToDevice, s));
        }

    // Steps over the group's rows, in job order.
    std::size_t j = g0;
    std::int64_t local = 0;
    while (j < g1) {
      std::vector<StepSegment> segments;
      std::int64_t m = 0;
      auto* h_ids = e.meta_host.as<std::int32_t>();
      auto* h_pos = h_ids + lim.max_batch_tokens;
      auto* h_start = reinterpret_cast<std::int64_t*>(h_pos + lim.max_batch_tokens);
      auto* h_dest = h_start + lim.max_batch_tokens;
      while (j < g1 && m < lim.max_batch_tokens) {
        const Job& job = jobs[j];
        const auto n = static_cast<std::int64_t>(job.tokens.size());
        // Batch invariance: a sequence that does not fit the rest of this step starts the next one, so it is cut
        // into the same spans (and its attention into the same GEMMs) whatever it is batched with.
        if (local == 0 && m > 0 && n > lim.max_batch_tokens - m) break;
        const std::int64_t take = std::min(n - local, lim.max_batch_tokens - m);
        segments.push_back({j, m, take, local});
        for (std::int64_t r = 0; r < take; ++r) {
          const std::int64_t p = job.first_position + local + r;
          h_ids[m + r] = job.tokens[static_cast<std::size_t>(local + r)];
          h_pos[m + r] = static_cast<std::int32_t>(p);
          h_start[m + r] = job.slot;
          h_dest[m + r] = job.slot + p;
        }
        m += take;
        local += take;
        if (local == n) {
          ++j;
          local = 0;
        }
      }
      QG_CUDA_CHECK(cudaMemcpyAsync(e.ids.get(), h_ids, static_cast<std::size_t>(m) * 4, cudaMemcpyHostToDevice, s));
      QG_CUDA_CHECK(cudaMemcpyAsync(e.positions.get(), h_pos, static_cast<std::size_t>(m) * 4, cudaMemcpyHostToDevice, s));
      QG_CUDA_CHECK(cudaMemcpyAsync(e.kv_start.get(), h_start, static_cast<std::size_t>(m) * 8, cudaMemcpyHostToDevice, s));
      QG_CUDA_CHECK(cudaMemcpyAsync(e.kv_dest.get(), h_dest, static_cast<std::size_t>(m) * 8, cudaMemcpyHostToDevice, s));

      cuda::StepEmitter emit;
      std::vector<float> host;
      if (hook)
        emit = [&](std::string_view name, int layer, const float* device, std::int64_t width) {
          host.resize(static_cast<std::size_t>(m * width));
          QG_CUDA_CHECK(cudaMemcpyAsync(host.data(), device, host.size() * 4, cudaMemcpyDeviceToHost, s));
          QG_CUDA_CHECK(cudaStreamSynchronize(s));
          for (const StepSegment& seg : segments) {
            const Job& job = jobs[seg.job];
            hook(Activation{name, layer, job.sequence, job.first_position + seg.first_local,
                            TensorView{std::string(name), DType::kF32, {seg.n_rows, width},
                                       host.data() + seg.first_row * width, Device::kHost}});
          }
        };
      e.step_spans.clear();
      for (const StepSegment& seg : segments)
        e.step_spans.push_back({seg.first_row, seg.n_rows, jobs[seg.job].first_position + seg.first_local,
                                jobs[seg.job].slot});
      // Rows without logits skip the KV-shared layers (not while the hook wants every row's activations).
      std::optional<SharedLayerRows> shared;
      if (e.shared_rows_exact && !hook) {
        std::vector<std::int64_t> needed(segments.size());
        for (std::size_t i = 0; i < segments.size(); ++i)
          needed[i] = consume ? first_logit_row_of(options, jobs[segments[i].job].sequence) - segments[i].first_local
                              : segments[i].n_rows;
        shared = plan_shared_layer_rows(e.step_spans, needed, cuda::kFlashBlockRows);
        if (shared->dropped(m) == 0) shared.reset();
      }
      cuda::run_decoder_step(e, m, emit, shared ? &*shared : nullptr);
      e.profile.mark("final_norm_hook", s);

      // Final norm and head, per segment, for rows at or past first_logit_row.
      const std::int64_t H = c.d_model, V = c.n_vocab;
      if (hook) {
        float* tmp = e.hook_tmp.as<float>();
        QG_CUDA_CHECK(cudaMemcpyAsync(tmp, e.x.get(), static_cast<std::size_t>(m * H) * 4, cudaMemcpyDeviceToDevice, s));
        cuda::rms_norm_in_place(tmp, e.w.final_norm.as<float>(), m, H, static_cast<float>(c.rms_norm_eps), s);
        emit(activation::kFinalNorm, static_cast<int>(c.n_layers), tmp, H);
      }
      if (consume) {
        // The head runs on blocks of up to --logits-rows rows (one GEMM re-reads the [V, H] head once per block, so
        // bigger blocks cost fewer weight passes). A block pools the scored rows of consecutive segments (MMLU scores
        // one row per question: a step of 20 questions is one head GEMM, not 20); the pinned GEMM makes a row's
        // logits the same bits whatever it is pooled with. The consumer gets them chunk_rows at a time, in order.
        struct Piece {
          const Job* job;
          std::int64_t first_local, rows, step_row;
        };
        std::vector<Piece> pieces;
        const std::int64_t block = lim.logits_rows;
        for (const StepSegment& seg : segments) {
          const Job& job = jobs[seg.job];
          const std::int64_t first = std::max(seg.first_local, first_logit_row_of(options, job.sequence));
          const std::int64_t end = seg.first_local + seg.n_rows;
          for (std::int64_t b0 = first; b0 < end; b0 += block)
            pieces.push_back({&job, b0, std::min(block, end - b0), seg.first_row + b0 - seg.first_local});
        }
        if (shared)  // the residual holds only the kept rows, in order; a piece's rows stay consecutive
          for (Piece& piece : pieces) piece.step_row = shared->compacted_row(piece.step_row);
        const std::int64_t chunk = std::clamp<std::int64_t>(options.chunk_rows, 1, block);
        const float eps = static_cast<float>(c.rms_norm_eps);
        const bf16* head = nullptr;
        for (std::size_t p0 = 0; p0 < pieces.size();) {
          std::size_t p1 = p0;
          std::int64_t rows = 0;
          while (p1 < pieces.size() && rows + pieces[p1].rows <= block) rows += pieces[p1++].rows;
          if (head == nullptr) head = e.w.head.bf16(e.ws(), s);  // dequantized once per step if quantized
          e.profile.mark("head", s);
          std::int64_t at = 0;
          for (std::size_t i = p0; i < p1; ++i) {  // final norm of each piece into its rows of the block
            const float* xr = e.x.as<float>() + pieces[i].step_row * H;
            const std::int64_t n = pieces[i].rows;
            if (e.accurate()) {
              float* staged = e.head_f32.as<float>() + at * H;
              QG_CUDA_CHECK(cudaMemcpyAsync(staged, xr, static_cast<std::size_t>(n * H) * 4, cudaMemcpyDeviceToDevice, s));
              cuda::rms_norm_in_place(staged, e.w.final_norm.as<float>(), n, H, eps, s);
            } else {
              cuda::rms_norm_to_bf16(xr, e.w.final_norm.as<float>(), n, H, eps, e.head_in.as<bf16>() + at * H, s);
            }
            at += n;
          }
          if (e.accurate()) {  // hi + lo halves of the final-norm rows, two GEMMs accumulated in fp32
            cuda::split_to_bf16(e.head_f32.as<float>(), rows * H, e.head_in.as<bf16>(), e.head_lo.as<bf16>(), s);
            e.gemm->bf16(e.head_in.as<bf16>(), head, e.logits.as<float>(), rows, V, H);
            e.gemm->bf16(e.head_lo.as<bf16>(), head, e.logits.as<float>(), rows, V, H, 1.0f, 1.0f);
          } else {
            e.gemm->bf16(e.head_in.as<bf16>(), head, e.logits.as<float>(), rows, V, H);
          }
          if (c.final_logit_softcapping)
            cuda::softcap_in_place(e.logits.as<float>(), rows * V, static_cast<float>(*c.final_logit_softcapping), s);
          if (!options.logits_on_device)
            QG_CUDA_CHECK(cudaMemcpyAsync(e.logits_host.as<float>(), e.logits.get(), static_cast<std::size_t>(rows * V) * 4,
                                          cudaMemcpyDeviceToHost, s));
          e.profile.mark("consumer", s);
          QG_CUDA_CHECK(cudaStreamSynchronize(s));
          at = 0;
          for (std::size_t i = p0; i < p1; ++i) {
            const Piece& piece = pieces[i];
            for (std::int64_t r = 0; r < piece.rows; r += chunk) {
              const std::int64_t n = std::min(chunk, piece.rows - r);
              const std::size_t offset = static_cast<std::size_t>((at + r) * V);
              LogitsChunk out{piece.job->sequence, piece.job->first_position + piece.first_local + r, n, V, {}};
              if (options.logits_on_device) {
                out.device_logits = e.logits.as<float>() + offset;
                out.cuda_stream = s;
              } else {
                out.logits = std::span<const float>(e.logits_host.as<float>() + offset, static_cast<std::size_t>(n * V));
              }
              consume(out);
            }
            at += piece.rows;
          }
          // Work the consumer queued on the stream reads the block: it must finish before the next head GEMM
          // overwrites it (stream order guarantees that).
          p0 = p1;
        }
      }
      // The pinned metadata is rewritten by the next step: wait for this one's uploads (and everything else).
      QG_CUDA_CHECK(cudaStreamSynchronize(s));
      std::size_t free_bytes = 0, total = 0;
      QG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
      e.peak_used = std::max<std::uint64_t>(e.peak_used, total - free_bytes);
      e.profile.flush();
    }

    if (keep != nullptr) {  // encode_prefix: one job, group of one
      keep->k.resize(c.layers.size());
      keep->v.resize(c.layers.size());
      for (std::size_t i = 0; i < c.layers.size(); ++i) {
        if (c.layers[i].kv_shared) continue;
        const std::size_t row_bytes =
              static_cast<std::size_t>(kv_width(c.layers[i]) * kv_element_bytes(lim.precision));
        const std::size_t bytes = static_cast<std::size_t>(keep->n_tokens()) * row_bytes;
        const std::size_t offset = static_cast<std::size_t>(jobs[0].slot) * row_bytes;
        keep->k[i] = DeviceBuffer(bytes, fmt::format("prefix K of layer {}", i));
        keep->v[i] = DeviceBuffer(bytes, fmt::format("prefix V of layer {}", i));
        QG_CUDA_CHECK(cudaMemcpyAsync(keep->k[i].get(), e.k_cache[i].as<std::byte>() + offset, bytes,
                                      cudaMemcpyDeviceToDevice, s));
        QG_CUDA_CHECK(cudaMemcpyAsync(keep->v[i].get(), e.v_cache[i].as<std::byte>() + offset, bytes,
                                      cudaMemcpyDeviceToDevice, s));
      }
      QG_CUDA_CHECK(cudaStreamSynchronize(s));
    }
    g0 = g1;
  }
  (void)self;
}

void check_ple_range(const Gemma4TextConfig& c, TokenSpan tokens) {
  if (!c.has_ple()) return;
  for (TokenId t : tokens)
    if (t >= c.n_vocab_ple)  // transformers would index out of range; vLLM maps to 0. Refuse, as the CPU pass does.
      throw Error(fmt::format("token {} is outside the per-layer embedding table ({} rows)", t, c.n_vocab_ple),
                  {.tensor = "embed_tokens_per_layer.weight"});
}

}  // namespace

void CudaForward::score(std::span<const TokenSpan> batch, const LogitsConsumer& consume, const ScoreOptions& options) {
  std::vector<Job> jobs;
  for (std::size_t b = 0; b < batch.size(); ++b) {
    check_tokens(config(), batch[b], 0, fmt::format("sequence {}", b));
    check_ple_range(config(), batch[b]);
    jobs.push_back({b, batch[b], 0, 0});
  }
  check_first_logit_rows(options, batch.size());
  run_jobs(*impl_, *this, jobs, nullptr, consume, options, activation_hook(), nullptr);
}

PrefixHandle CudaForward::encode_prefix(TokenSpan prefix, const LogitsConsumer& consume, const ScoreOptions& options) {
  check_tokens(config(), prefix, 0, "prefix");
  check_ple_range(config(), prefix);
  check_first_logit_rows(options, 1);
  std::vector<Job> jobs{{0, prefix, 0, 0}};
  auto state = std::make_shared<GpuPrefix>(this, static_cast<std::int64_t>(prefix.size()));
  run_jobs(*impl_, *this, jobs, nullptr, consume, options, activation_hook(), state.get());
  return state;
}

void CudaForward::score_continuations(const PrefixHandle& handle, std::span<const TokenSpan> continuations,
                                      const LogitsConsumer& consume, const ScoreOptions& options) {
  const auto* prefix = dynamic_cast<const GpuPrefix*>(handle.get());
  if (prefix == nullptr || prefix->owner() != this)
    throw Error("the prefix was not encoded by this CUDA forward pass", {.hint = "call encode_prefix on the same object"});
  std::vector<Job> jobs;
  for (std::size_t b = 0; b < continuations.size(); ++b) {
    check_tokens(config(), continuations[b], prefix->n_tokens(), fmt::format("continuation {}", b));
    check_ple_range(config(), continuations[b]);
    jobs.push_back({b, continuations[b], prefix->n_tokens(), 0});
  }
  check_first_logit_rows(options, continuations.size());
  run_jobs(*impl_, *this, jobs, prefix, consume, options, activation_hook(), nullptr);
}

}  // namespace qg
