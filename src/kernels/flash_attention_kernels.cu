#include "kernels/flash_attention_kernels.cuh"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/cuda_check.cuh"
#include "kernels/device_buffer.h"

namespace qg::cuda {

namespace {

constexpr int kWarps = 4, kThreads = kWarps * 32;
constexpr int kBq = static_cast<int>(kFlashBlockRows);  // query rows per CTA (16 per warp)
constexpr int kBk = 64;                                   // keys per tile
constexpr int kPad = 8;  // halves of padding per shared row: rows 16 bytes apart mod 128, so ldmatrix is conflict-free
constexpr float kLog2e = 1.4426950408889634f;

// Output columns per CTA (DV): O lives in registers (16 rows x DV per warp: DV 256 = 128 registers a thread), so
// wider heads are split over CTAs, each recomputing S. The widest slice whose tiles fit the GPU's shared memory is
// used: fewer recomputations of S, at the cost of occupancy.
constexpr std::size_t smem_bytes_for(int d, int dv) {
  return static_cast<std::size_t>(kBq + kBk) * (d + kPad) * 2 + static_cast<std::size_t>(kBk) * (dv + kPad) * 2;
}

__device__ __forceinline__ unsigned smem_u32(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const __half* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const __half* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

// c[16x8] += a[16x16] · b[16x8], fp16 inputs, fp32 accumulators.
__device__ __forceinline__ void mma_16816(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);  // lo in the low 16 bits: the lower column
  return *reinterpret_cast<const unsigned*>(&h);
}

// 16 bytes global -> shared without staging in registers; bytes = 0 writes zeros (rows past the keys).
__device__ __forceinline__ void cp_async_16(__half* dst, const __half* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

template <int D, int DV>
__global__ void __launch_bounds__(kThreads) flash_attention_kernel(FlashAttentionArgs a) {
  constexpr int LQ = D + kPad, LV = DV + kPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __half* qs = reinterpret_cast<__half*>(smem_raw);
  __half* ks = qs + kBq * LQ;
  __half* vs = ks + kBk * LQ;

  const FlashBlock blk = a.blocks[blockIdx.x];
  const int h = static_cast<int>(blockIdx.y);
  const int dv0 = static_cast<int>(blockIdx.z) * DV;
  const int g_kv = h / (a.n_heads / a.n_kv_heads);
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  const int gid = lane >> 2, tig = lane & 3;  // mma fragment coordinates: row group, thread in group

  const std::int64_t p0 = blk.first_position;
  const int nq = blk.n_rows;
  const std::int64_t k_end = p0 + nq;  // keys [k_lo, k_end) of the sequence, relative to its key 0
  const std::int64_t k_lo = a.window > 0 ? (p0 - a.window + 1 > 0 ? p0 - a.window + 1 : 0) : 0;

  constexpr int kChunks = D / 8, kChunksV = DV / 8;  // 16-byte pieces per row
  for (int i = tid; i < kBq * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const bool valid = r < nq;
    const __half* src = a.q + ((blk.first_row + (valid ? r : 0)) * a.n_heads + h) * static_cast<std::int64_t>(D) + c * 8;
    cp_async_16(qs + r * LQ + c * 8, src, valid);
  }
  cp_async_commit();

  float o[DV / 8][4];
#pragma unroll
  for (int i = 0; i < DV / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY};  // running max (log2 domain) of rows gid and gid + 8
  float l_run[2] = {0.0f, 0.0f};            // this thread's part of the running sums
  const std::int64_t qpos = p0 + warp * 16 + gid;

  for (std::int64_t t0 = k_lo; t0 < k_end; t0 += kBk) {
    __syncthreads();  // every warp is done with the previous tile
    for (int i = tid; i < kBk * kChunks; i += kThreads) {
      const int r = i / kChunks, c = i % kChunks;
      const bool valid = t0 + r < k_end;
      const std::int64_t row = blk.kv_start + (valid ? t0 + r : 0);
      cp_async_16(ks + r * LQ + c * 8, a.k + (row * a.n_kv_heads + g_kv) * static_cast<std::int64_t>(D) + c * 8, valid);
    }
    cp_async_commit();
    for (int i = tid; i < kBk * kChunksV; i += kThreads) {
      const int r = i / kChunksV, c = i % kChunksV;
      const bool valid = t0 + r < k_end;
      const std::int64_t row = blk.kv_start + (valid ? t0 + r : 0);
      cp_async_16(vs + r * LV + c * 8,
                  a.v + (row * a.n_kv_heads + g_kv) * static_cast<std::int64_t>(D) + dv0 + c * 8, valid);
    }
    cp_async_commit();
    cp_async_wait<1>();  // Q and K landed; V may still be in flight while S is computed
    __syncthreads();

    float s[kBk / 8][4];
#pragma unroll
    for (int i = 0; i < kBk / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll 4
    for (int kk = 0; kk < D / 16; ++kk) {
      unsigned qa[4];
      ldmatrix_x4(qa, qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LQ + kk * 16 + (lane >> 4) * 8);
#pragma unroll
      for (int nt = 0; nt < kBk / 8; nt += 2) {
        unsigned kb[4];
        ldmatrix_x4(kb, ks + (nt * 8 + (lane & 7) + (lane >> 4) * 8) * LQ + kk * 16 + ((lane >> 3) & 1) * 8);
        mma_16816(s[nt], qa, kb[0], kb[1]);
        mma_16816(s[nt + 1], qa, kb[2], kb[3]);
      }
    }

    // Mask (causal + window), move to the log2 domain, running max per row. Most tiles of a long sequence are
    // visible to every row of the warp (keys at or before its first row and within the window of its last): those
    // skip the mask's per-element integer work (on an H200 the end-to-end difference was within noise).
    float mx[2] = {-INFINITY, -INFINITY};
    const std::int64_t warp_first = p0 + warp * 16;
    const bool interior = t0 + kBk - 1 <= warp_first && (a.window == 0 || warp_first + 15 - t0 < a.window) &&
                          t0 + kBk <= k_end;
    if (interior) {
#pragma unroll
      for (int nt = 0; nt < kBk / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[nt][e] *= kLog2e;
          mx[e >> 1] = fmaxf(mx[e >> 1], s[nt][e]);
        }
    } else {
      // Key minus query position, in 32 bits: |t0 - qpos| is below a tile plus the window or the sequence.
      const int rel0 = static_cast<int>(t0 - qpos) + tig * 2;
#pragma unroll
      for (int nt = 0; nt < kBk / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int rel = rel0 + nt * 8 + (e & 1) - (e >> 1) * 8;  // key position - query position
          const bool visible = rel <= 0 && (a.window == 0 || -rel < a.window);
          const float v = visible ? s[nt][e] * kLog2e : -INFINITY;  // a select: garbage never enters the sums
          s[nt][e] = v;
          mx[e >> 1] = fmaxf(mx[e >> 1], v);
        }
    }
    float scale[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m_run[r], mx[r]);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with no visible key yet: exp2(-inf) = 0
      scale[r] = exp2f(m_run[r] - m_use);
      m_run[r] = m_new;
      mx[r] = m_use;
    }
    float part[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nt = 0; nt < kBk / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(s[nt][e] - mx[e >> 1]);
        s[nt][e] = p;
        part[e >> 1] += p;
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) l_run[r] = l_run[r] * scale[r] + part[r];
#pragma unroll
    for (int i = 0; i < DV / 8; ++i) {
      o[i][0] *= scale[0];
      o[i][1] *= scale[0];
      o[i][2] *= scale[1];
      o[i][3] *= scale[1];
    }

    cp_async_wait<0>();
    __syncthreads();
    // O += P·V: P's accumulator registers are exactly the A operand of the next MMA (two 8-key tiles = k 16).
#pragma unroll
    for (int kk = 0; kk < kBk / 16; ++kk) {
      const unsigned pa[4] = {pack_half2(s[2 * kk][0], s[2 * kk][1]), pack_half2(s[2 * kk][2], s[2 * kk][3]),
                              pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dn = 0; dn < DV / 8; dn += 2) {
        unsigned vb[4];
        ldmatrix_x4_trans(vb, vs + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LV + dn * 8 + (lane >> 4) * 8);
        mma_16816(o[dn], pa, vb[0], vb[1]);
        mma_16816(o[dn + 1], pa, vb[2], vb[3]);
      }
    }
  }
  cp_async_wait<0>();  // a block with no key tile (impossible: a query sees itself) would leave Q in flight

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = warp * 16 + gid + r * 8;
    if (row >= nq) continue;
    const float inv = 1.0f / l_run[r];
    const std::int64_t at = ((blk.first_row + row) * a.n_heads + h) * static_cast<std::int64_t>(D) + dv0 + tig * 2;
    if (a.out_bf16 != nullptr) {  // RNE, as f32_to_bf16 would round the fp32 output
#pragma unroll
      for (int dn = 0; dn < DV / 8; ++dn)
        *reinterpret_cast<unsigned*>(a.out_bf16 + at + dn * 8) =
            static_cast<unsigned>(::qg::f32_to_bf16(o[dn][2 * r] * inv)) |
            static_cast<unsigned>(::qg::f32_to_bf16(o[dn][2 * r + 1] * inv)) << 16;
    } else {
#pragma unroll
      for (int dn = 0; dn < DV / 8; ++dn)
        *reinterpret_cast<float2*>(a.out + at + dn * 8) = make_float2(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
    }
  }
}

template <int D, int DV>
void launch(const FlashAttentionArgs& a, cudaStream_t stream) {
  constexpr std::size_t smem = smem_bytes_for(D, DV);
  // Above 48 KiB a kernel must opt in; setting it every launch is cheap and thread-safe.
  QG_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<D, DV>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>(a.n_blocks), static_cast<unsigned>(a.n_heads), static_cast<unsigned>(D / DV));
  flash_attention_kernel<D, DV><<<grid, kThreads, smem, stream>>>(a);
  check_launch("flash_attention");
}

// The slices compiled per head dim, widest first.
std::vector<int> slices(int d) {
  switch (d) {
    case 64: return {64};
    case 128: return {128};
    case 256: return {256, 128};
    case 512: return {256, 128};
    default: return {};
  }
}

int optin_smem(int device) {
  int major = 0, optin = 0;
  QG_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  QG_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return major >= 8 ? optin : 0;  // mma.sync f16 and ldmatrix need sm_80+
}

}  // namespace

std::size_t flash_attention_smem_bytes(int d, int dv) { return smem_bytes_for(d, dv); }

int flash_attention_slice(int d, int device) {
  const int optin = optin_smem(device);
  for (int dv : slices(d))
    if (static_cast<std::size_t>(optin) >= smem_bytes_for(d, dv)) return dv;
  return 0;
}

bool flash_attention_supported(int d, int device) { return flash_attention_slice(d, device) > 0; }

void flash_attention(const FlashAttentionArgs& a, cudaStream_t stream) {
  if (a.n_blocks == 0) return;
  if ((a.out == nullptr) == (a.out_bf16 == nullptr))
    throw Error("flash_attention: exactly one of the fp32 and bf16 outputs must be set");
  if (a.n_blocks < 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 || a.window < 0 || a.n_blocks > 0x7fffffffLL)
    throw Error(fmt::format("flash_attention: {} blocks, {} heads over {} kv heads, window {}", a.n_blocks, a.n_heads,
                            a.n_kv_heads, a.window));
  const int key = a.d * 1000 + a.dv;
  switch (key) {
    case 64 * 1000 + 64: return launch<64, 64>(a, stream);
    case 128 * 1000 + 128: return launch<128, 128>(a, stream);
    case 256 * 1000 + 256: return launch<256, 256>(a, stream);
    case 256 * 1000 + 128: return launch<256, 128>(a, stream);
    case 512 * 1000 + 256: return launch<512, 256>(a, stream);
    case 512 * 1000 + 128: return launch<512, 128>(a, stream);
    default:
      throw Error(fmt::format("flash_attention: head dim {} with output slice {} is not compiled (d 64/128/256/512)",
                              a.d, a.dv));
  }
}

}  // namespace qg::cuda
