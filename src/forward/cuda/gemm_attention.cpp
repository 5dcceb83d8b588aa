#include "forward/cuda/gemm_attention.h"

#include <fmt/format.h>

#include <algorithm>
#include <ranges>

#include "common/error.h"
#include "kernels/attention_softmax_kernels.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/elementwise_kernels.cuh"
#include "kernels/flash_attention_kernels.cuh"

namespace qg::cuda {

namespace {
// cuBLAS's fp16 tensor-core kernels want 16-byte aligned rows: score rows are padded to 8 halves.
std::int64_t padded(std::int64_t keys) { return (keys + 7) / 8 * 8; }

// Query blocks of a step: every span contributes ceil(n_rows / 64) blocks, so at most rows / 64 + spans, and a span
// has at least one row.
std::int64_t max_fused_blocks(std::int64_t max_rows) { return max_rows / kFlashBlockRows + max_rows + 1; }
}  // namespace

std::size_t GemmAttention::bytes(std::int64_t max_rows, std::int64_t max_q_width, std::size_t score_bytes) {
  return static_cast<std::size_t>(max_rows * max_q_width) * 2 + score_bytes +
         2 * static_cast<std::size_t>(max_fused_blocks(max_rows)) * sizeof(FlashBlock);  // two block tables
}

GemmAttention::GemmAttention(std::int64_t max_rows, std::int64_t max_q_width, std::size_t score_bytes, Method method,
                             int fused_slice)
    : max_rows_(max_rows),
      max_q_width_(max_q_width),
      score_bytes_(score_bytes),
      method_(method),
      slice_(fused_slice),
      q16_(static_cast<std::size_t>(max_rows * max_q_width) * 2, "attention queries (fp16)"),
      scores_(score_bytes, "attention scores"),
      max_blocks_(max_fused_blocks(max_rows)) {
  QG_CUDA_CHECK(cudaGetDevice(&device_));
  const std::size_t table_bytes = static_cast<std::size_t>(max_blocks_) * sizeof(FlashBlock);
  for (BlockTable& t : tables_) {
    t.device = DeviceBuffer(table_bytes, "attention query blocks");
    QG_CUDA_CHECK(cudaMallocHost(&t.host, table_bytes));
    QG_CUDA_CHECK(cudaEventCreateWithFlags(&t.uploaded, cudaEventDisableTiming));
  }
}

GemmAttention::~GemmAttention() {
  for (BlockTable& t : tables_) {
    if (t.uploaded != nullptr) cudaEventDestroy(t.uploaded);
    if (t.host != nullptr) cudaFreeHost(t.host);
  }
}

bool GemmAttention::fused(int d) const {
  switch (method_) {
    case Method::kGemm: return false;
    case Method::kFused: return true;
    case Method::kAuto: return flash_attention_supported(d, device_);
  }
  return false;
}

const GemmAttention::BlockTable& GemmAttention::block_table(std::span<const AttentionSpan> spans, cudaStream_t s) {
  ++uses_;
  for (BlockTable& t : tables_)
    if (t.built && std::ranges::equal(spans, t.spans)) {
      t.last_use = uses_;
      return t;
    }
  BlockTable& t = tables_[0].last_use <= tables_[1].last_use ? tables_[0] : tables_[1];
  // Kernels that read the device table earlier are ordered before the new upload by the stream; the host copy is
  // free once its previous upload is done.
  QG_CUDA_CHECK(cudaEventSynchronize(t.uploaded));
  auto* host = static_cast<FlashBlock*>(t.host);
  std::int64_t n = 0;
  for (const AttentionSpan& span : spans)
    for (std::int64_t r0 = 0; r0 < span.n_rows; r0 += kFlashBlockRows) {
      if (n >= max_blocks_) throw Error(fmt::format("fused attention: more than {} query blocks", max_blocks_));
      host[n++] = FlashBlock{span.first_row + r0, span.first_position + r0, span.kv_start,
                             static_cast<std::int32_t>(std::min(kFlashBlockRows, span.n_rows - r0)), 0};
    }
  if (n > 0)
    QG_CUDA_CHECK(cudaMemcpyAsync(t.device.get(), host, static_cast<std::size_t>(n) * sizeof(FlashBlock),
                                  cudaMemcpyHostToDevice, s));
  QG_CUDA_CHECK(cudaEventRecord(t.uploaded, s));
  t.n_blocks = n;
  t.spans.assign(spans.begin(), spans.end());
  t.built = true;
  t.last_use = uses_;
  return t;
}

void GemmAttention::run_fused(const GemmAttentionArgs& a, const __half* q16, std::span<const AttentionSpan> spans,
                              cudaStream_t s) {
  const BlockTable& t = block_table(spans, s);
  flash_attention({.q = q16, .k = a.k, .v = a.v, .out = a.out_bf16 != nullptr ? nullptr : a.out,
                   .out_bf16 = a.out_bf16, .blocks = t.device.as<FlashBlock>(),
                   .n_blocks = t.n_blocks, .n_heads = a.n_heads, .n_kv_heads = a.n_kv_heads, .d = a.d,
                   .dv = slice_ > 0 ? slice_ : flash_attention_slice(a.d, device_), .window = a.window},
                  s);
}

void GemmAttention::run(const Gemm& gemm, const GemmAttentionArgs& a, std::span<const AttentionSpan> spans,
                        cudaStream_t s) {
  if (a.rows == 0) return;
  if (a.q == nullptr && a.q16 == nullptr) throw Error("gemm attention: no queries (q or q16)");
  if (a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 || a.d % 8 != 0 || a.d <= 0)
    throw Error(fmt::format("gemm attention: {} heads over {} kv heads at d = {} (need a multiple of 8)", a.n_heads,
                            a.n_kv_heads, a.d));
  if (a.rows > max_rows_ || a.n_heads * static_cast<std::int64_t>(a.d) > max_q_width_)
    throw Error(fmt::format("gemm attention: {} rows x {} wide exceed the workspace ({} x {})", a.rows,
                            a.n_heads * a.d, max_rows_, max_q_width_));
  const std::int64_t H = a.n_heads, KV = a.n_kv_heads, D = a.d, G = H / KV;
  const __half* q16 = a.q16 != nullptr ? a.q16 : q16_.as<__half>();
  for (const AttentionSpan& span : spans)
    if (span.first_row < 0 || span.n_rows < 0 || span.first_row + span.n_rows > a.rows || span.first_position < 0)
      throw Error(fmt::format("gemm attention: span rows [{}, +{}) at position {} outside the step's {} rows",
                              span.first_row, span.n_rows, span.first_position, a.rows));
  if (a.q16 == nullptr) f32_to_f16(a.q, a.rows * H * D, q16_.as<__half>(), s);
  if (fused(a.d)) return run_fused(a, q16, spans, s);
  for (const AttentionSpan& span : spans) {
    // Query rows per block: the block's scores (fp32) and probabilities (fp16) of G heads fit the budget,
    // sized for the widest block of this span.
    const std::int64_t last = span.first_position + span.n_rows;  // one past the last position
    const std::int64_t widest = a.window > 0 ? std::min(last, a.window - 1 + span.n_rows) : last;
    const std::int64_t per_row = G * padded(widest) * 6;
    const std::int64_t block = std::clamp<std::int64_t>(static_cast<std::int64_t>(score_bytes_) / per_row, 1,
                                                        std::max<std::int64_t>(span.n_rows, 1));
    for (std::int64_t r0 = 0; r0 < span.n_rows; r0 += block) {
      const std::int64_t nq = std::min(block, span.n_rows - r0);
      const std::int64_t p_first = span.first_position + r0, p_end = p_first + nq;
      const std::int64_t k_lo = a.window > 0 ? std::max<std::int64_t>(0, p_first - a.window + 1) : 0;
      const std::int64_t keys = p_end - k_lo, ld = padded(keys);
      float* scores = scores_.as<float>();
      auto* probs = reinterpret_cast<__half*>(scores + G * nq * ld);
      const std::int64_t row0 = span.first_row + r0;
      for (std::int64_t g = 0; g < KV; ++g) {
        const std::int64_t kv_row = span.kv_start + k_lo;
        // S_h[nq, keys] = Q_h · K_gᵀ for the G query heads h of kv head g (one K for the batch).
        gemm.f16_batched({.a = q16 + (row0 * H + g * G) * D, .lda = H * D, .sa = D,
                          .b = a.k + (kv_row * KV + g) * D, .ldb = KV * D, .sb = 0, .b_is_nk = true,
                          .c = scores, .ldc = ld, .sc = nq * ld, .m = nq, .n = keys, .k = D, .batch = G});
        masked_softmax_to_f16(scores, probs, G, nq, keys, ld, p_first, k_lo, a.window, s);
        // O_h[nq, D] = P_h · V_g, written in place into the [rows, n_heads, d] output.
        gemm.f16_batched({.a = probs, .lda = ld, .sa = nq * ld, .b = a.v + (kv_row * KV + g) * D, .ldb = KV * D,
                          .sb = 0, .b_is_nk = false, .c = a.out + (row0 * H + g * G) * D, .ldc = H * D, .sc = D,
                          .m = nq, .n = D, .k = keys, .batch = G});
      }
    }
  }
  if (a.out_bf16 != nullptr) f32_to_bf16(a.out, a.rows * H * D, a.out_bf16, s);
}

}  // namespace qg::cuda
