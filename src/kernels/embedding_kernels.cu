// Token-table lookups (embedding_kernels.cuh): the scaled main embedding and the model-level PLE combine.
// Same maths as forward/cpu/embedding.cpp (embed) and forward/cpu/ple.cpp (ple_inputs), each fp32 step an
// explicitly rounded intrinsic so no FMA contraction changes a result. Token ids are trusted: the launchers
// receive no vocabulary size, so the caller validates ids (the tokenizer/engine) before they reach the GPU.
#include "kernels/embedding_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"
#include "kernels/rms_rows.cuh"

namespace qg::cuda {

namespace {

__device__ inline float widen(__nv_bfloat16 v) { return ::qg::bf16_to_f32(__bfloat16_as_ushort(v)); }

__global__ void embed_rows_kernel(const __nv_bfloat16* __restrict__ table, std::int64_t width,
                                  const std::int32_t* __restrict__ ids, std::int64_t rows, float scale,
                                  float* __restrict__ out) {
  const std::int64_t n = rows * width;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / width, j = i - r * width;
    out[i] = __fmul_rn(widen(table[static_cast<std::int64_t>(ids[r]) * width + j]), scale);
  }
}

// PLE combine as an RMSNorm over "norm rows" nr = r * L + l of width P: ctx [rows, L, P] is exactly such rows.
// ctx and out may be the same buffer (store of an element follows its own load in the same thread).
struct PleCombineRows {
  const float* ctx;
  const __nv_bfloat16* __restrict__ table;  // [vocab, L * P]
  const std::int32_t* __restrict__ ids;
  float* out;
  std::int64_t n_layers, d_ple;
  float ctx_scale, token_scale, combine_scale;

  __device__ float load(std::int64_t nr, std::int64_t k) const { return __fmul_rn(ctx[nr * d_ple + k], ctx_scale); }
  __device__ void store(std::int64_t nr, std::int64_t k, float normed) const {
    const std::int64_t r = nr / n_layers, l = nr - r * n_layers;
    const float tok = widen(table[(static_cast<std::int64_t>(ids[r]) * n_layers + l) * d_ple + k]);
    out[nr * d_ple + k] = __fmul_rn(__fadd_rn(normed, __fmul_rn(tok, token_scale)), combine_scale);
  }
};

}  // namespace

void embed_rows(const __nv_bfloat16* table, std::int64_t width, const std::int32_t* ids, std::int64_t rows,
                float scale, float* out, cudaStream_t stream) {
  if (rows < 0 || width < 1) throw Error(fmt::format("embed_rows: bad shape rows={} width={}", rows, width));
  if (rows == 0) return;
  if (table == nullptr || ids == nullptr || out == nullptr) throw Error("embed_rows: null pointer");
  constexpr int kThreads = 256;
  const std::int64_t blocks = std::min<std::int64_t>((rows * width + kThreads - 1) / kThreads, 65535LL * 8);
  embed_rows_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(table, width, ids, rows, scale, out);
  check_launch("embed_rows");
}

void ple_combine(const float* ctx, const __nv_bfloat16* table, const std::int32_t* ids, const float* norm_w,
                 std::int64_t rows, std::int64_t n_layers, std::int64_t d_ple, float ctx_scale, float token_scale,
                 float combine_scale, float eps, float* out, cudaStream_t stream) {
  if (rows < 0 || n_layers < 1 || d_ple < 1)
    throw Error(fmt::format("ple_combine: bad shape rows={} n_layers={} d_ple={}", rows, n_layers, d_ple));
  if (rows == 0) return;
  if (ctx == nullptr || table == nullptr || ids == nullptr || out == nullptr) throw Error("ple_combine: null pointer");
  const PleCombineRows row_op{ctx, table, ids, out, n_layers, d_ple, ctx_scale, token_scale, combine_scale};
  detail::launch_rms_rows(row_op, norm_w, rows * n_layers, d_ple, eps, stream, "ple_combine");
}

}  // namespace qg::cuda
