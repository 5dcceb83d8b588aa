// Flash-attention style causal / sliding-window attention in plain CUDA (fp32 FMA, no tensor cores).
//
// Work split: one block per (tile of kRowsPerBlock consecutive launch rows, kv head, chunk of that kv
// head's query heads); one warp per (query row, query head) pair, so the K/V tiles a block stages in
// shared memory are shared by every query head of the GQA group and by several query rows. Per key tile
// of kTile = 32 keys, lane j scores key j (q in shared memory as fp32, read as broadcasts; K tile as fp16
// with a row stride of an odd number of 16-byte chunks so the 32 lanes' 16-byte reads of 32 different
// rows are bank-conflict free), the warp updates the online softmax (running max m, running sum l), and
// each lane accumulates its own output channels over the tile's 32 keys from the V tile. K/V are fp16
// (see the header for why); every score, probability and sum is fp32. The output is written as bf16
// (rounded once) or, with out_f32, as the same fp32 value unrounded.
//
// Determinism and batch invariance: key tiles are aligned to absolute key positions (tile t covers keys
// [t*32, t*32+32) of the row's own sequence, whatever cache row they live in), every row visits exactly
// the tiles overlapping its own visible range [lo, p] in ascending order, and everything a row computes
// (dot-product order, warp reductions, exp, rescaling, accumulation order) depends only on its own q and
// its own visible keys: masked keys get probability exactly 0 and are skipped, never multiplied. So a
// row's output is bit-identical run to run AND whatever other rows share its launch or its block. The
// block/warp shape depends only on (d, n_heads / n_kv_heads), i.e. on the model, not on the batch.
//
// Rows of one block may belong to different sequences (kv_start differs): the block then makes one pass
// per distinct kv_start, each pass streaming only the tiles some row of that pass needs.
//
// fp32 K/V (accurate mode; the kernel is templated on the cache element type): an fp32 K tile plus an
// fp32 V tile would need 66 + 64 KB at d = 512, over sm_86's 99 KB. So only K is staged (fp32, row stride
// again an odd number of 16-byte chunks, d + 4 floats: lane j reads row j, conflict-free), and in the P.V
// step each lane reads its own contiguous channels of V row j straight from global memory (read-only
// path): the warp's reads of one row are one coalesced 4*d-byte segment, and the block's other warps
// (other heads of the GQA group / other rows of the same sequence) read the same rows, served by L1/L2.
// A lane reads V row j only when its row's probability for key j is nonzero, i.e. only visible keys
// (never a masked or out-of-sequence cache row). The arithmetic is the fp16 path's, operation for
// operation in the same order (the fp16 values are exactly widened before use), so determinism and batch
// invariance hold by the same argument, and an fp32 cache holding fp16-representable values gives the
// same bits as the fp16 cache. Dynamic shared memory (fp32): K tile 32 * (d + 4) * 4 + q 8 * d * 4 bytes,
// i.e. 10.5 / 20.5 / 40.5 / 80.5 KB at d = 64 / 128 / 256 / 512: 128 d + 512 bytes of tile, exactly the
// fp16 path's K + V tiles (32 (d + 8) 2 + 32 d 2), so every bucket stays where it was, under 96 KB.
#include "kernels/attention_kernels.cuh"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"

namespace qg::cuda {

namespace {

constexpr int kWarps = 8;  // (row, head) pairs per block
constexpr int kThreads = kWarps * 32;
constexpr int kTile = 32;  // keys per tile: one per lane
constexpr int kMaxHeadDim = 512;
// Static shared memory of the kernel (row metadata) is tiny; dynamic tiles must leave room under the
// 99 KB opt-in limit of sm_86 (RTX 3090 / A6000). d = 512 needs 80.5 KB, fp16 and fp32 caches alike.
constexpr int kMaxDynamicSmem = 96 * 1024;

struct RowRange {
  std::int64_t kv_start;
  std::int64_t lo, hi;  // visible keys lo..hi (inclusive) of the row's sequence; hi < 0: no key
};

// Row stride of the K tile in fp16 elements: d rounded to an odd number of 16-byte (8-element) chunks, so
// the 8 lanes of each quarter-warp phase of a 16-byte load hit 8 distinct 16-byte bank groups.
__host__ __device__ inline int k_tile_stride(int d) { return 8 * ((d / 8) | 1); }
// The same for an fp32 K tile, in floats: an odd number of 16-byte (4-float) chunks (d / 4 is even, so
// this is d + 4).
__host__ __device__ inline int k_tile_stride_f32(int d) { return 4 * ((d / 4) | 1); }

template <typename KV>
std::size_t dynamic_smem_bytes(int d) {
  if constexpr (std::is_same_v<KV, float>)
    return static_cast<std::size_t>(kTile) * k_tile_stride_f32(d) * 4  // K tile, fp32 (V: from global)
           + static_cast<std::size_t>(kWarps) * d * 4;                 // one fp32 q row per warp
  return static_cast<std::size_t>(kTile) * k_tile_stride(d) * 2  // K tile, fp16
         + static_cast<std::size_t>(kTile) * d * 2               // V tile, fp16
         + static_cast<std::size_t>(kWarps) * d * 4;             // one fp32 q row per warp
}

// The two fp16 values of a 32-bit word (element 2i in the low half, 2i+1 in the high half), exactly
// widened to fp32.
__device__ inline float f16_lo(std::uint32_t w) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(w & 0xffffu)));
}
__device__ inline float f16_hi(std::uint32_t w) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(w >> 16)));
}

__device__ inline float warp_max(float x) {
  // xor butterfly: every lane combines the same operands (max and + are commutative), so all lanes end
  // with the same bits.
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ inline float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// KV: cache element type (__half or float). kMaxD: compile-time bound on d (accumulator registers);
// kUnit: channels a lane owns contiguously in the P.V step (8 = one 16-byte fp16 V read, two for fp32, for
// d > 128; 2 = one fp16 pair / one float2 for small d, to keep lanes busy).
template <typename KV, int kMaxD, int kUnit>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(AttentionParams p, int rows_per_block, int heads_per_block, int head_chunks) {
  constexpr bool kF32 = std::is_same_v<KV, float>;
  static_assert(kF32 || std::is_same_v<KV, __half>, "K/V cache is fp16 or fp32");
  constexpr int kUnitsPerLane = kMaxD / (32 * kUnit);
  static_assert(kUnitsPerLane >= 1 && kMaxD % (32 * kUnit) == 0, "head-dim bucket");
  extern __shared__ uint4 smem[];
  __shared__ RowRange s_rows[kWarps];

  const int d = p.d;
  const int d_chunks = d / 8;  // 16-byte chunks of an fp16 row (8-channel groups of the score loop)
  // fp16: K and V tiles; fp32: K tile only (16-byte chunks of 4 floats), V is read from global memory.
  const int k_stride = kF32 ? k_tile_stride_f32(d) : k_tile_stride(d);
  const int k_stride_chunks = kF32 ? k_stride / 4 : k_stride / 8;       // in 16-byte chunks
  const int d_chunks_kv = kF32 ? d / 4 : d_chunks;                       // 16-byte chunks of a K/V row
  uint4* k_tile = smem;                                                 // [kTile][k_stride] fp16 / fp32
  uint4* v_tile = k_tile + kTile * k_stride_chunks;                     // fp16: [kTile][d] fp16
  float* q_rows = reinterpret_cast<float*>(kF32 ? v_tile : v_tile + kTile * d_chunks);  // [kWarps][d]

  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int group = p.n_heads / p.n_kv_heads;
  const int kv_head = static_cast<int>(blockIdx.y) / head_chunks;
  const int head_in_group =
      (static_cast<int>(blockIdx.y) % head_chunks) * heads_per_block + warp % heads_per_block;
  const int row_in_block = warp / heads_per_block;
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.x) * rows_per_block;
  const std::int64_t row = row0 + row_in_block;
  const int head = kv_head * group + head_in_group;
  const bool warp_has_pair = row_in_block < rows_per_block && head_in_group < group && row < p.rows;
  const std::int64_t kv_row_stride = static_cast<std::int64_t>(p.n_kv_heads) * d;

  if (threadIdx.x < static_cast<unsigned>(rows_per_block)) {
    const std::int64_t r = row0 + threadIdx.x;
    RowRange rr{0, 0, -1};
    if (r < p.rows && p.position[r] >= 0) {
      rr.kv_start = p.kv_start[r];
      rr.hi = p.position[r];
      rr.lo = p.window > 0 && rr.hi - p.window + 1 > 0 ? rr.hi - p.window + 1 : 0;
    }
    s_rows[threadIdx.x] = rr;
  }

  float* q_row = q_rows + warp * d;
  if (warp_has_pair) {
    const float* __restrict__ q_src = p.q + (row * p.n_heads + head) * static_cast<std::int64_t>(d);
    for (int c = lane; c < d; c += 32) q_row[c] = q_src[c];
  }
  __syncthreads();

  const RowRange mine = s_rows[row_in_block < rows_per_block ? row_in_block : 0];
  const bool warp_active = warp_has_pair && mine.hi >= 0;
  float m = -INFINITY, l = 0.0f;
  float acc[kUnitsPerLane * kUnit];
#pragma unroll
  for (int i = 0; i < kUnitsPerLane * kUnit; ++i) acc[i] = 0.0f;

  // Passes over the distinct kv_start values of the block's rows. Every thread evaluates the same
  // block-uniform control flow from s_rows, so the __syncthreads below are reached by all threads.
  unsigned pending = 0;
  for (int i = 0; i < rows_per_block; ++i)
    if (s_rows[i].hi >= 0) pending |= 1u << i;
  while (pending != 0) {
    const std::int64_t kv_start = s_rows[__ffs(static_cast<int>(pending)) - 1].kv_start;
    unsigned pass = 0;
    std::int64_t key_lo = INT64_MAX, key_hi = -1;
    for (int i = 0; i < rows_per_block; ++i)
      if ((pending >> i & 1u) && s_rows[i].kv_start == kv_start) {
        pass |= 1u << i;
        key_lo = min(key_lo, s_rows[i].lo);
        key_hi = max(key_hi, s_rows[i].hi);
      }
    pending &= ~pass;
    const bool in_pass = warp_active && (pass >> row_in_block & 1u);

    for (std::int64_t t = key_lo / kTile; t <= key_hi / kTile; ++t) {
      const std::int64_t t_first = t * kTile, t_last = t_first + kTile - 1;
      bool needed = false;  // does any row of this pass see a key of tile t?
      for (int i = 0; i < rows_per_block; ++i)
        needed |= (pass >> i & 1u) && s_rows[i].lo <= t_last && s_rows[i].hi >= t_first;
      if (!needed) continue;

      __syncthreads();  // the previous tile's readers are done
      // Stage keys [t_first, t_last] ∩ [key_lo, key_hi] of K and V; zeros elsewhere (never read as
      // contributions, but keep the tile finite and defined).
      if constexpr (kF32) {
        for (int idx = static_cast<int>(threadIdx.x); idx < kTile * d_chunks_kv; idx += kThreads) {
          const int key_in_tile = idx / d_chunks_kv, chunk = idx % d_chunks_kv;
          const std::int64_t key = t_first + key_in_tile;
          uint4 kc = make_uint4(0, 0, 0, 0);
          if (key >= key_lo && key <= key_hi) {
            const std::int64_t off =
                (kv_start + key) * kv_row_stride + static_cast<std::int64_t>(kv_head) * d;
            kc = reinterpret_cast<const uint4*>(p.k_f32 + off)[chunk];
          }
          k_tile[key_in_tile * k_stride_chunks + chunk] = kc;
        }
      } else {
        for (int idx = static_cast<int>(threadIdx.x); idx < kTile * d_chunks; idx += kThreads) {
          const int key_in_tile = idx / d_chunks, chunk = idx % d_chunks;
          const std::int64_t key = t_first + key_in_tile;
          uint4 kc = make_uint4(0, 0, 0, 0), vc = kc;
          if (key >= key_lo && key <= key_hi) {
            const std::int64_t off =
                (kv_start + key) * kv_row_stride + static_cast<std::int64_t>(kv_head) * d;
            kc = reinterpret_cast<const uint4*>(p.k + off)[chunk];
            vc = reinterpret_cast<const uint4*>(p.v + off)[chunk];
          }
          k_tile[key_in_tile * (k_stride / 8) + chunk] = kc;
          v_tile[key_in_tile * d_chunks + chunk] = vc;
        }
      }
      __syncthreads();

      if (!in_pass || mine.lo > t_last || mine.hi < t_first) continue;  // warp-uniform
      // Scores: lane j takes key t_first + j. Four partial sums for ILP, combined in a fixed order.
      const std::int64_t key = t_first + lane;
      const bool visible = key >= mine.lo && key <= mine.hi;
      float s = -INFINITY;
      if (visible && kF32) {
        // The fp16 loop below with the K values already fp32: same products, same partial sums, same order.
        const float4* kr = reinterpret_cast<const float4*>(k_tile + lane * k_stride_chunks);
        const float4* q4 = reinterpret_cast<const float4*>(q_row);
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma unroll 4
        for (int c = 0; c < d_chunks; ++c) {
          const float4 ka = kr[2 * c], kb = kr[2 * c + 1];
          const float4 qa = q4[2 * c], qb = q4[2 * c + 1];
          s0 = fmaf(qa.x, ka.x, s0);
          s1 = fmaf(qa.y, ka.y, s1);
          s2 = fmaf(qa.z, ka.z, s2);
          s3 = fmaf(qa.w, ka.w, s3);
          s0 = fmaf(qb.x, kb.x, s0);
          s1 = fmaf(qb.y, kb.y, s1);
          s2 = fmaf(qb.z, kb.z, s2);
          s3 = fmaf(qb.w, kb.w, s3);
        }
        s = (s0 + s1) + (s2 + s3);
      } else if (visible) {
        const uint4* kr = k_tile + lane * (k_stride / 8);
        const float4* q4 = reinterpret_cast<const float4*>(q_row);
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma unroll 4
        for (int c = 0; c < d_chunks; ++c) {
          const uint4 kc = kr[c];
          const float4 qa = q4[2 * c], qb = q4[2 * c + 1];
          s0 = fmaf(qa.x, f16_lo(kc.x), s0);
          s1 = fmaf(qa.y, f16_hi(kc.x), s1);
          s2 = fmaf(qa.z, f16_lo(kc.y), s2);
          s3 = fmaf(qa.w, f16_hi(kc.y), s3);
          s0 = fmaf(qb.x, f16_lo(kc.z), s0);
          s1 = fmaf(qb.y, f16_hi(kc.z), s1);
          s2 = fmaf(qb.z, f16_lo(kc.w), s2);
          s3 = fmaf(qb.w, f16_hi(kc.w), s3);
        }
        s = (s0 + s1) + (s2 + s3);
      }
      // Online softmax. The tile overlaps [lo, hi], so some lane is visible and m_new is finite; on the
      // first tile m = -inf gives alpha = 0 (acc and l are 0 anyway).
      const float m_new = fmaxf(m, warp_max(s));
      const float alpha = expf(m - m_new);
      const float prob = visible ? expf(s - m_new) : 0.0f;
      l = fmaf(l, alpha, warp_sum(prob));
      m = m_new;
#pragma unroll
      for (int i = 0; i < kUnitsPerLane * kUnit; ++i) acc[i] *= alpha;

      if constexpr (kF32) {
        // V row j of this tile in global memory (this warp's sequence is the pass's kv_start). Read only
        // for pj != 0, i.e. a key visible to this row: a real cache row of its sequence.
        const float* __restrict__ v_tile_g =
            p.v_f32 + (kv_start + t_first) * kv_row_stride + static_cast<std::int64_t>(kv_head) * d;
#pragma unroll 4
        for (int j = 0; j < kTile; ++j) {
          const float pj = __shfl_sync(0xffffffffu, prob, j);
          if (pj == 0.0f) continue;  // masked (or underflowed) key: warp-uniform skip
          const float* vrow = v_tile_g + j * kv_row_stride;
#pragma unroll
          for (int u = 0; u < kUnitsPerLane; ++u) {
            const int first_channel = (lane + 32 * u) * kUnit;
            if (first_channel >= d) continue;
            if constexpr (kUnit == 8) {
              const float4 va = __ldg(reinterpret_cast<const float4*>(vrow + first_channel));
              const float4 vb = __ldg(reinterpret_cast<const float4*>(vrow + first_channel + 4));
              float* a = acc + u * 8;
              a[0] = fmaf(pj, va.x, a[0]);
              a[1] = fmaf(pj, va.y, a[1]);
              a[2] = fmaf(pj, va.z, a[2]);
              a[3] = fmaf(pj, va.w, a[3]);
              a[4] = fmaf(pj, vb.x, a[4]);
              a[5] = fmaf(pj, vb.y, a[5]);
              a[6] = fmaf(pj, vb.z, a[6]);
              a[7] = fmaf(pj, vb.w, a[7]);
            } else {
              static_assert(kUnit == 2, "P.V unit is 8 or 2 channels");
              const float2 vw = __ldg(reinterpret_cast<const float2*>(vrow + first_channel));
              acc[u * 2] = fmaf(pj, vw.x, acc[u * 2]);
              acc[u * 2 + 1] = fmaf(pj, vw.y, acc[u * 2 + 1]);
            }
          }
        }
      } else {
#pragma unroll 4
        for (int j = 0; j < kTile; ++j) {
          const float pj = __shfl_sync(0xffffffffu, prob, j);
          if (pj == 0.0f) continue;  // masked (or underflowed) key: warp-uniform skip
#pragma unroll
          for (int u = 0; u < kUnitsPerLane; ++u) {
            const int first_channel = (lane + 32 * u) * kUnit;
            if (first_channel >= d) continue;
            const std::uint32_t* vr =
                reinterpret_cast<const std::uint32_t*>(v_tile + j * d_chunks) + first_channel / 2;
            if constexpr (kUnit == 8) {
              const uint4 vc = *reinterpret_cast<const uint4*>(vr);
              float* a = acc + u * 8;
              a[0] = fmaf(pj, f16_lo(vc.x), a[0]);
              a[1] = fmaf(pj, f16_hi(vc.x), a[1]);
              a[2] = fmaf(pj, f16_lo(vc.y), a[2]);
              a[3] = fmaf(pj, f16_hi(vc.y), a[3]);
              a[4] = fmaf(pj, f16_lo(vc.z), a[4]);
              a[5] = fmaf(pj, f16_hi(vc.z), a[5]);
              a[6] = fmaf(pj, f16_lo(vc.w), a[6]);
              a[7] = fmaf(pj, f16_hi(vc.w), a[7]);
            } else {
              static_assert(kUnit == 2, "P.V unit is 8 or 2 channels");
              const std::uint32_t vw = *vr;
              acc[u * 2] = fmaf(pj, f16_lo(vw), acc[u * 2]);
              acc[u * 2 + 1] = fmaf(pj, f16_hi(vw), acc[u * 2 + 1]);
            }
          }
        }
      }
    }
  }

  if (!warp_has_pair) return;
  // Rows without keys (position < 0) have l = 0 and write zeros.
  // The fp32 output is the value the bf16 output rounds (one rounding, in f32_to_bf16).
  const float inv_guard = l > 0.0f ? l : 1.0f;
  const std::int64_t out_offset = (row * p.n_heads + head) * static_cast<std::int64_t>(d);
  if (p.out_f32 != nullptr) {
    float* out = p.out_f32 + out_offset;
#pragma unroll
    for (int u = 0; u < kUnitsPerLane; ++u) {
      const int first_channel = (lane + 32 * u) * kUnit;
      if (first_channel >= d) continue;
#pragma unroll
      for (int e = 0; e < kUnit; ++e) out[first_channel + e] = __fdiv_rn(acc[u * kUnit + e], inv_guard);
    }
    return;
  }
  std::uint16_t* out = reinterpret_cast<std::uint16_t*>(p.out) + out_offset;
#pragma unroll
  for (int u = 0; u < kUnitsPerLane; ++u) {
    const int first_channel = (lane + 32 * u) * kUnit;
    if (first_channel >= d) continue;
#pragma unroll
    for (int e = 0; e < kUnit; ++e)
      out[first_channel + e] = f32_to_bf16(__fdiv_rn(acc[u * kUnit + e], inv_guard));
  }
}

template <typename KV, int kMaxD, int kUnit>
void launch(const AttentionParams& p, cudaStream_t stream) {
  const int group = p.n_heads / p.n_kv_heads;
  const int heads_per_block = group < kWarps ? group : kWarps;
  const int head_chunks = (group + heads_per_block - 1) / heads_per_block;
  const int rows_per_block = kWarps / heads_per_block;
  const std::int64_t row_tiles = (p.rows + rows_per_block - 1) / rows_per_block;
  const std::int64_t grid_y = static_cast<std::int64_t>(p.n_kv_heads) * head_chunks;
  if (row_tiles > 0x7fffffffLL || grid_y > 65535)
    throw Error(
        fmt::format("attention: launch too large ({} row tiles, {} kv-head blocks)", row_tiles, grid_y));
  const std::size_t smem = dynamic_smem_bytes<KV>(p.d);
  if (smem > static_cast<std::size_t>(kMaxDynamicSmem))
    throw Error(fmt::format("attention: {} bytes of shared memory for d = {}", smem, p.d));
  // Opt in above the 48 KB default (per function and device; cheap enough to repeat every launch).
  if (smem > 48 * 1024)
    QG_CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<KV, kMaxD, kUnit>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(grid_y));
  attention_kernel<KV, kMaxD, kUnit>
      <<<grid, kThreads, smem, stream>>>(p, rows_per_block, heads_per_block, head_chunks);
  check_launch("attention");
}

bool aligned16(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

template <typename KV>
void launch_bucket(const AttentionParams& p, cudaStream_t stream) {
  if (p.d <= 64) return launch<KV, 64, 2>(p, stream);
  if (p.d <= 128) return launch<KV, 128, 2>(p, stream);
  if (p.d <= 256) return launch<KV, 256, 8>(p, stream);
  return launch<KV, 512, 8>(p, stream);
}

}  // namespace

void attention(const AttentionParams& p, cudaStream_t stream) {
  if (p.rows < 0) throw Error(fmt::format("attention: negative row count {}", p.rows));
  if (p.d < 8 || p.d > kMaxHeadDim || p.d % 8 != 0)
    throw Error(fmt::format("attention: head dim {} is not a multiple of 8 in [8, {}]", p.d, kMaxHeadDim));
  if (p.n_kv_heads <= 0 || p.n_heads <= 0 || p.n_heads % p.n_kv_heads != 0)
    throw Error(
        fmt::format("attention: {} query heads are not a multiple of {} kv heads", p.n_heads, p.n_kv_heads));
  if (p.window < 0) throw Error(fmt::format("attention: negative window {}", p.window));
  // Exactly one output: both set is an error even for an empty launch; none set only with rows to write
  // (an empty launch allows null pointers).
  if (p.out != nullptr && p.out_f32 != nullptr)
    throw Error("attention: both out (bf16) and out_f32 (fp32) are set; exactly one must be");
  if (p.rows == 0) return;
  if (p.out == nullptr && p.out_f32 == nullptr)
    throw Error("attention: neither out (bf16) nor out_f32 (fp32) is set; exactly one must be");
  // Exactly one K/V pair: (k, v) fp16 or (k_f32, v_f32) fp32, each pair complete, never mixed.
  const bool any_f16 = p.k != nullptr || p.v != nullptr, any_f32 = p.k_f32 != nullptr || p.v_f32 != nullptr;
  if (any_f16 && any_f32)
    throw Error("attention: both an fp16 (k, v) and an fp32 (k_f32, v_f32) cache are set; exactly one must be");
  if (!any_f16 && !any_f32)
    throw Error("attention: no K/V cache is set; exactly one of (k, v) and (k_f32, v_f32) must be");
  if (p.q == nullptr || p.position == nullptr || p.kv_start == nullptr) throw Error("attention: null pointer");
  if (any_f32) {
    if (p.k_f32 == nullptr || p.v_f32 == nullptr)
      throw Error("attention: only one of k_f32 and v_f32 is set");
    // K rows are staged and V rows read as 16-byte vectors (d is a multiple of 8, so rows stay aligned).
    if (!aligned16(p.k_f32) || !aligned16(p.v_f32))
      throw Error("attention: k_f32 and v_f32 must be 16-byte aligned");
    return launch_bucket<float>(p, stream);
  }
  if (p.k == nullptr || p.v == nullptr) throw Error("attention: only one of k and v is set");
  // K/V rows are staged as 16-byte vectors (d is a multiple of 8 fp16).
  if (!aligned16(p.k) || !aligned16(p.v)) throw Error("attention: k and v must be 16-byte aligned");
  return launch_bucket<__half>(p, stream);
}

}  // namespace qg::cuda
