// Elementwise launchers (elementwise_kernels.cuh). Every fp32 operation is an explicitly rounded intrinsic
// (__fmul_rn, __fadd_rn, __fdiv_rn) so nvcc cannot fuse a product and a sum into one FMA: the host
// references in kernels/ref/elementwise_ref.cpp round each step the same way, and the only GPU/host
// difference left is tanhf (CUDA: within 2 ulp; glibc: within 1), bounded in tests/kernels/elementwise_test.cpp.
#include "kernels/elementwise_kernels.cuh"

#include <fmt/format.h>

#include <algorithm>

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

template <typename Out>
__global__ void gelu_tanh_mul_kernel(const float* __restrict__ gate, std::int64_t gate_stride,
                                     const float* __restrict__ up, std::int64_t up_stride, std::int64_t rows,
                                     std::int64_t width, Out* __restrict__ out, std::int64_t out_stride) {
  const std::int64_t n = rows * width;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / width, j = i - r * width;
    const float g = gelu_tanh_f32(gate[r * gate_stride + j]);
    store(out + r * out_stride + j, __fmul_rn(g, up[r * up_stride + j]));
  }
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

__global__ void softcap_kernel(float* __restrict__ x, std::int64_t n, float cap) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] = __fmul_rn(cap, tanhf(__fdiv_rn(x[i], cap)));
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
  gelu_tanh_mul_kernel<<<grid_for(rows * width), kThreads, 0, stream>>>(gate, gate_stride, up, up_stride, rows,
                                                                         width, out, out_stride);
  check_launch("gelu_tanh_mul_to_bf16");
}

void gelu_tanh_mul_to_f32(const float* gate, std::int64_t gate_stride, const float* up, std::int64_t up_stride,
                          std::int64_t rows, std::int64_t width, float* out, std::int64_t out_stride,
                          cudaStream_t stream) {
  if (rows < 0 || width < 0 || gate_stride < width || up_stride < width || out_stride < width)
    throw Error(fmt::format("gelu_tanh_mul_to_f32: bad shape rows={} width={} strides gate={} up={} out={}", rows,
                            width, gate_stride, up_stride, out_stride));
  if (rows == 0 || width == 0) return;
  if (gate == nullptr || up == nullptr || out == nullptr) throw Error("gelu_tanh_mul_to_f32: null pointer");
  gelu_tanh_mul_kernel<<<grid_for(rows * width), kThreads, 0, stream>>>(gate, gate_stride, up, up_stride, rows,
                                                                         width, out, out_stride);
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

void softcap_in_place(float* x, std::int64_t n, float cap, cudaStream_t stream) {
  check_count("softcap_in_place", n);
  if (!(cap > 0.0f)) throw Error(fmt::format("softcap_in_place: cap must be positive, got {}", cap));
  if (n == 0) return;
  if (x == nullptr) throw Error("softcap_in_place: null pointer");
  softcap_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, n, cap);
  check_launch("softcap_in_place");
}

}  // namespace qg::cuda
