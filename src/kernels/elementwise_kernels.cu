// Elementwise launchers (elementwise_kernels.cuh). Every fp32 operation is an explicitly rounded intrinsic
// (__fmul_rn, __fadd_rn, __fdiv_rn) so nvcc cannot fuse a product and a sum into one FMA: the host
// references in kernels/ref/elementwise_ref.cpp round each step the same way, and the only GPU/host
// difference left is tanhf (CUDA: within 2 ulp; glibc: within 1), bounded in tests/kernels/elementwise_test.cpp.
#include "kernels/elementwise_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "common/error.h"
#include "common/float_formats.h"
#include "kernels/device_buffer.h"

#if defined(__USE_FAST_MATH__)
#error "built with --use_fast_math: cosf/sinf/tanhf would become approximations the tests do not allow"
#endif

namespace qg::cuda {

namespace {

constexpr int kThreads = 256;

unsigned grid_for(std::int64_t n) {  // grid-stride loops below cover any n
  return static_cast<unsigned>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65535LL * 8));
}

__device__ inline __nv_bfloat16 to_bf16(float v) {
  // qualified: qg::cuda::f32_to_bf16 (the launcher below) would otherwise hide qg::f32_to_bf16
  return __ushort_as_bfloat16(::qg::f32_to_bf16(v));
}

// gelu_tanh in fp32, the operation order of forward/cpu/mlp.cpp's gelu_tanh:
//   0.5 * z * (1 + tanh(sqrt(2/pi) * (z + 0.044715 * z * z * z)))   evaluated left to right.
// (The CPU evaluates it in double and rounds once; see elementwise_ref.h for the size of the difference.)
__device__ inline float gelu_tanh_f32(float z) {
  constexpr float kBeta = 0.7978845608028654f;  // fp32(sqrt(2 / pi))
  constexpr float kCubic = 0.044715f;
  const float cube = __fmul_rn(__fmul_rn(__fmul_rn(kCubic, z), z), z);
  const float t = tanhf(__fmul_rn(kBeta, __fadd_rn(z, cube)));
  return __fmul_rn(__fmul_rn(0.5f, z), __fadd_rn(1.0f, t));
}

__device__ inline void store(__nv_bfloat16* p, float v) { *p = to_bf16(v); }
__device__ inline void store(float* p, float v) { *p = v; }
__device__ inline void store(__half* p, float v) { *p = __ushort_as_half(::qg::f32_to_f16(v)); }

__device__ inline void store4(__nv_bfloat16* p, float a, float b, float c, float d) {
  const unsigned lo = static_cast<unsigned>(::qg::f32_to_bf16(a)) | static_cast<unsigned>(::qg::f32_to_bf16(b)) << 16;
  const unsigned hi = static_cast<unsigned>(::qg::f32_to_bf16(c)) | static_cast<unsigned>(::qg::f32_to_bf16(d)) << 16;
  *reinterpret_cast<uint2*>(p) = make_uint2(lo, hi);  // lower column in the lower bits (little endian)
}
__device__ inline void store4(float* p, float a, float b, float c, float d) {
  *reinterpret_cast<float4*>(p) = make_float4(a, b, c, d);
}

// Rows over blockIdx.y, columns over x: no per-element 64-bit division (the old flat loop spent most of its time
// in the emulated int64 divide, not in tanhf: 143 us per E4B layer at 2048 rows on an H200, 1.5 TB/s). With
// `vec4` (width and strides multiples of 4, 16-byte aligned rows) each thread moves four columns per access.
// Same arithmetic per element either way, so the values are bit-identical to the scalar path.
__device__ inline float load1(const float* p) { return *p; }
__device__ inline float load1(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ inline float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ inline float4 load4(const __nv_bfloat16* p) {  // 8 bytes: four bf16, the lower column in the low bits
  const uint2 v = *reinterpret_cast<const uint2*>(p);
  return make_float4(__uint_as_float(v.x << 16), __uint_as_float(v.x & 0xffff0000u), __uint_as_float(v.y << 16),
                     __uint_as_float(v.y & 0xffff0000u));
}

template <typename In, typename Out>
__global__ void gelu_tanh_mul_kernel(const In* __restrict__ gate, std::int64_t gate_stride,
                                     const In* __restrict__ up, std::int64_t up_stride, std::int64_t rows,
                                     std::int64_t width, Out* __restrict__ out, std::int64_t out_stride, bool vec4) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const In* g = gate + r * gate_stride;
    const In* u = up + r * up_stride;
    Out* o = out + r * out_stride;
    if (vec4) {
      for (std::int64_t j = first; j < width / 4; j += step) {
        const float4 a = load4(g + 4 * j);
        const float4 b = load4(u + 4 * j);
        store4(o + 4 * j, __fmul_rn(gelu_tanh_f32(a.x), b.x), __fmul_rn(gelu_tanh_f32(a.y), b.y),
               __fmul_rn(gelu_tanh_f32(a.z), b.z), __fmul_rn(gelu_tanh_f32(a.w), b.w));
      }
    } else {
      for (std::int64_t j = first; j < width; j += step) store(o + j, __fmul_rn(gelu_tanh_f32(load1(g + j)), load1(u + j)));
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// Grid of a row-wise kernel: enough 256-thread blocks in x to cover `per_row` items once, rows in y (the
// kernels loop over rows past 65535).
dim3 row_grid(std::int64_t rows, std::int64_t per_row) {
  const std::int64_t x = std::clamp<std::int64_t>((per_row + kThreads - 1) / kThreads, 1, 65535);
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(std::min<std::int64_t>(rows, 65535)));
}

template <typename In, typename Out>
void launch_gelu_tanh_mul(const In* gate, std::int64_t gate_stride, const In* up, std::int64_t up_stride,
                          std::int64_t rows, std::int64_t width, Out* out, std::int64_t out_stride,
                          cudaStream_t stream) {
  auto aligned4 = [](const void* p, std::size_t element) { return reinterpret_cast<std::uintptr_t>(p) % (4 * element) == 0; };
  const bool vec4 = width % 4 == 0 && gate_stride % 4 == 0 && up_stride % 4 == 0 && out_stride % 4 == 0 &&
                    aligned4(gate, sizeof(In)) && aligned4(up, sizeof(In)) && aligned4(out, sizeof(Out));
  gelu_tanh_mul_kernel<<<row_grid(rows, vec4 ? width / 4 : width), kThreads, 0, stream>>>(
      gate, gate_stride, up, up_stride, rows, width, out, out_stride, vec4);
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ x, std::int64_t n, __nv_bfloat16* __restrict__ y) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] = to_bf16(x[i]);
}

template <typename Out>
__global__ void scatter_rows_kernel(const float* __restrict__ src, std::int64_t rows, std::int64_t width,
                                    const std::int64_t* __restrict__ dest_row, Out* __restrict__ dst) {
  const std::int64_t n = rows * width;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / width, j = i - r * width;
    const std::int64_t dest = dest_row[r];
    if (dest < 0) continue;  // defensive: a negative slot would write before the cache; such rows are dropped
    store(dst + dest * width + j, src[i]);
  }
}

// hi = bf16(x), lo = bf16(x - hi): x - hi is exact in fp32 (hi is within 2^-9 |x| of x), so hi + lo carries
// x to within 2^-17 |x|.
__global__ void split_kernel(const float* __restrict__ x, std::int64_t n, __nv_bfloat16* __restrict__ hi,
                             __nv_bfloat16* __restrict__ lo) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    const std::uint16_t h = ::qg::f32_to_bf16(v);
    hi[i] = __ushort_as_bfloat16(h);
    lo[i] = to_bf16(__fsub_rn(v, ::qg::bf16_to_f32(h)));
  }
}

// Four values per thread where the buffer allows (16-byte aligned; the last n % 4 values one by one): the
// head's logits are 2 GB per 2048-row step of E4B, so the pass is worth keeping at memory speed.
__device__ inline float softcap_one(float x, float cap) { return __fmul_rn(cap, tanhf(__fdiv_rn(x, cap))); }

__global__ void softcap_kernel(float* __restrict__ x, std::int64_t n, float cap, bool vec4) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  std::int64_t tail = 0;
  if (vec4) {
    auto* x4 = reinterpret_cast<float4*>(x);
    for (std::int64_t i = first; i < n / 4; i += step) {
      float4 v = x4[i];
      v.x = softcap_one(v.x, cap);
      v.y = softcap_one(v.y, cap);
      v.z = softcap_one(v.z, cap);
      v.w = softcap_one(v.w, cap);
      x4[i] = v;
    }
    tail = n / 4 * 4;
  }
  for (std::int64_t i = tail + first; i < n; i += step) x[i] = softcap_one(x[i], cap);
}

__global__ void gather_rows_bytes_kernel(const std::uint32_t* __restrict__ src, std::int64_t words,
                                         const std::int32_t* __restrict__ index, std::int64_t n,
                                         std::uint32_t* __restrict__ dst) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  for (std::int64_t r = blockIdx.y; r < n; r += gridDim.y) {
    const std::uint32_t* from = src + static_cast<std::int64_t>(index[r]) * words;
    for (std::int64_t j = first; j < words; j += step) dst[r * words + j] = from[j];
  }
}

void check_count(const char* what, std::int64_t n) {
  if (n < 0) throw Error(fmt::format("{}: negative size {}", what, n));
}

}  // namespace

void gelu_tanh_mul_to_bf16(const float* gate, std::int64_t gate_stride, const float* up, std::int64_t up_stride,
                           std::int64_t rows, std::int64_t width, __nv_bfloat16* out, std::int64_t out_stride,
                           cudaStream_t stream) {
  if (rows < 0 || width < 0 || gate_stride < width || up_stride < width || out_stride < width)
    throw Error(fmt::format("gelu_tanh_mul_to_bf16: bad shape rows={} width={} strides gate={} up={} out={}", rows,
                            width, gate_stride, up_stride, out_stride));
  if (rows == 0 || width == 0) return;
  if (gate == nullptr || up == nullptr || out == nullptr) throw Error("gelu_tanh_mul_to_bf16: null pointer");
  launch_gelu_tanh_mul(gate, gate_stride, up, up_stride, rows, width, out, out_stride, stream);
  check_launch("gelu_tanh_mul_to_bf16");
}

void gelu_tanh_mul_bf16_to_bf16(const __nv_bfloat16* gate, std::int64_t gate_stride, const __nv_bfloat16* up,
                                std::int64_t up_stride, std::int64_t rows, std::int64_t width, __nv_bfloat16* out,
                                std::int64_t out_stride, cudaStream_t stream) {
  if (rows < 0 || width < 0 || gate_stride < width || up_stride < width || out_stride < width)
    throw Error(fmt::format("gelu_tanh_mul_bf16_to_bf16: bad shape rows={} width={} strides gate={} up={} out={}",
                            rows, width, gate_stride, up_stride, out_stride));
  if (rows == 0 || width == 0) return;
  launch_gelu_tanh_mul(gate, gate_stride, up, up_stride, rows, width, out, out_stride, stream);
  check_launch("gelu_tanh_mul_bf16_to_bf16");
}

void gelu_tanh_mul_to_f32(const float* gate, std::int64_t gate_stride, const float* up, std::int64_t up_stride,
                          std::int64_t rows, std::int64_t width, float* out, std::int64_t out_stride,
                          cudaStream_t stream) {
  if (rows < 0 || width < 0 || gate_stride < width || up_stride < width || out_stride < width)
    throw Error(fmt::format("gelu_tanh_mul_to_f32: bad shape rows={} width={} strides gate={} up={} out={}", rows,
                            width, gate_stride, up_stride, out_stride));
  if (rows == 0 || width == 0) return;
  if (gate == nullptr || up == nullptr || out == nullptr) throw Error("gelu_tanh_mul_to_f32: null pointer");
  launch_gelu_tanh_mul(gate, gate_stride, up, up_stride, rows, width, out, out_stride, stream);
  check_launch("gelu_tanh_mul_to_f32");
}

void split_to_bf16(const float* x, std::int64_t n, __nv_bfloat16* hi, __nv_bfloat16* lo, cudaStream_t stream) {
  check_count("split_to_bf16", n);
  if (n == 0) return;
  if (x == nullptr || hi == nullptr || lo == nullptr) throw Error("split_to_bf16: null pointer");
  split_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, n, hi, lo);
  check_launch("split_to_bf16");
}

void scatter_rows_to_f16(const float* src, std::int64_t rows, std::int64_t width, const std::int64_t* dest_row,
                         __half* dst, cudaStream_t stream) {
  if (rows < 0 || width < 0)
    throw Error(fmt::format("scatter_rows_to_f16: bad shape rows={} width={}", rows, width));
  if (rows == 0 || width == 0) return;
  if (src == nullptr || dest_row == nullptr || dst == nullptr) throw Error("scatter_rows_to_f16: null pointer");
  scatter_rows_kernel<<<grid_for(rows * width), kThreads, 0, stream>>>(src, rows, width, dest_row, dst);
  check_launch("scatter_rows_to_f16");
}

void scatter_rows_to_f32(const float* src, std::int64_t rows, std::int64_t width, const std::int64_t* dest_row,
                         float* dst, cudaStream_t stream) {
  if (rows < 0 || width < 0)
    throw Error(fmt::format("scatter_rows_to_f32: bad shape rows={} width={}", rows, width));
  if (rows == 0 || width == 0) return;
  if (src == nullptr || dest_row == nullptr || dst == nullptr) throw Error("scatter_rows_to_f32: null pointer");
  scatter_rows_kernel<<<grid_for(rows * width), kThreads, 0, stream>>>(src, rows, width, dest_row, dst);
  check_launch("scatter_rows_to_f32");
}

void f32_to_bf16(const float* x, std::int64_t n, __nv_bfloat16* y, cudaStream_t stream) {
  check_count("f32_to_bf16", n);
  if (n == 0) return;
  if (x == nullptr || y == nullptr) throw Error("f32_to_bf16: null pointer");
  f32_to_bf16_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, n, y);
  check_launch("f32_to_bf16");
}

void scatter_rows_to_bf16(const float* src, std::int64_t rows, std::int64_t width, const std::int64_t* dest_row,
                          __nv_bfloat16* dst, cudaStream_t stream) {
  if (rows < 0 || width < 0)
    throw Error(fmt::format("scatter_rows_to_bf16: bad shape rows={} width={}", rows, width));
  if (rows == 0 || width == 0) return;
  if (src == nullptr || dest_row == nullptr || dst == nullptr) throw Error("scatter_rows_to_bf16: null pointer");
  scatter_rows_kernel<<<grid_for(rows * width), kThreads, 0, stream>>>(src, rows, width, dest_row, dst);
  check_launch("scatter_rows_to_bf16");
}

void gather_rows_bytes(const void* src, std::int64_t row_bytes, const std::int32_t* index, std::int64_t n, void* dst,
                       cudaStream_t stream) {
  if (n < 0 || row_bytes <= 0 || row_bytes % 4 != 0)
    throw Error(fmt::format("gather_rows_bytes: bad shape n={} row_bytes={} (a positive multiple of 4)", n, row_bytes));
  if (n == 0) return;
  if (src == nullptr || index == nullptr || dst == nullptr) throw Error("gather_rows_bytes: null pointer");
  const std::int64_t words = row_bytes / 4;
  gather_rows_bytes_kernel<<<row_grid(n, words), kThreads, 0, stream>>>(
      static_cast<const std::uint32_t*>(src), words, index, n, static_cast<std::uint32_t*>(dst));
  check_launch("gather_rows_bytes");
}

void softcap_in_place(float* x, std::int64_t n, float cap, cudaStream_t stream) {
  check_count("softcap_in_place", n);
  if (!(cap > 0.0f)) throw Error(fmt::format("softcap_in_place: cap must be positive, got {}", cap));
  if (n == 0) return;
  if (x == nullptr) throw Error("softcap_in_place: null pointer");
  const bool vec4 = aligned16(x);
  softcap_kernel<<<grid_for(vec4 ? (n + 3) / 4 : n), kThreads, 0, stream>>>(x, n, cap, vec4);
  check_launch("softcap_in_place");
}

}  // namespace qg::cuda
