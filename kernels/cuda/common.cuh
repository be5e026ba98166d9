// Shared pieces of the CUDA kernels: launch sizes, element-type dispatch, strided
// offsets, warp reductions and the device-side math each element type needs.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/index_math.hpp"  // loop_offsets and the im2col arithmetic
#include "kernels/cuda/wrapping.hpp"    // warp_sum of integers
#include "src/cuda/check.hpp"

namespace kiln::cuda_kernels {

inline constexpr int kThreads = 256;       // threads per block for elementwise kernels
inline constexpr int kRowsPerBlock = 8;    // row kernels: one warp per row, 8 warps per block

// Blocks for a grid-stride loop over n items (capped: each thread then loops).
inline unsigned blocks_for(std::int64_t n) {
  const std::int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 4 ? 65535 * 4 : b));
}

// Every launch goes through launch(): `kernel` on a grid of `block`-sized blocks with
// `shared_bytes` of dynamic shared memory (KILN_DYNAMIC_SHARED), on the default
// stream. Arguments convert to the kernel's parameter types, so untyped pointers
// (const void*) can be passed for the kernel's T pointers. The tests' CPU emulator
// of this device code (tests/cuda_emulator) brings its own launch().
#if defined(KILN_CUDA_EMULATOR)
using ::kiln_cuda_emulator::launch;
#define KILN_DYNAMIC_SHARED(type, name) \
  type* name = static_cast<type*>(::kiln_cuda_emulator::dynamic_shared())
#else
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, Args... args) {
  kernel<<<grid, block, shared_bytes>>>(static_cast<Params>(args)...);
}
#define KILN_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

// Launches a grid-stride `kernel` over n items (nothing when n is 0) and checks the launch.
template <class... Params, class... Args>
void launch_over(std::int64_t n, void (*kernel)(Params...), Args... args) {
  if (n <= 0) return;
  launch(kernel, blocks_for(n), kThreads, 0, args...);
  KILN_CUDA_CHECK_LAUNCH();
}

// Calls f(T{}) with T the C++ type of `t`.
template <class F>
void visit_scalar(Scalar t, F&& f) {
  switch (t) {
    case Scalar::f32: return f(float{});
    case Scalar::f64: return f(double{});
    case Scalar::i64: return f(std::int64_t{});
    case Scalar::i32: return f(std::int32_t{});
    case Scalar::u8: return f(std::uint8_t{});
    case Scalar::i8: return f(std::int8_t{});
  }
}
// Floating types only; anything else is an internal error (the ops check dtypes first).
template <class F>
void visit_floating(Scalar t, F&& f) {
  if (t == Scalar::f32) return f(float{});
  if (t == Scalar::f64) return f(double{});
  KILN_ASSERT(t == Scalar::f32 || t == Scalar::f64);
}

// A grid-stride loop's first index and step, in the index type I (int64 unless a
// kernel runs in 32 bits; blocks_for keeps both below 2^26 either way).
template <class I = std::int64_t>
__device__ inline I global_index() {
  return static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x);
}
template <class I = std::int64_t>
__device__ inline I grid_stride() {
  return static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
}

// Calls f(I{}) with I = int32 when `narrow` (index_math.hpp's fits_int32 said the
// sizes allow), else int64.
template <class F>
void visit_index(bool narrow, F&& f) {
  if (narrow) f(std::int32_t{});
  else f(std::int64_t{});
}

// Reports a bad index to `slot` (cuda_kernels.hpp): counts it, records it if no
// other thread has, then raises the host-visible flag. Writes only; never waits.
__device__ inline void report_bad_index(const ReportSlot& slot, long long position, long long value,
                                        long long bound) {
  IndexReport* r = slot.report;
  atomicAdd(&r->count, 1ull);
  if (atomicCAS(&r->claimed, 0u, 1u) == 0u) {
    r->position = position;
    r->value = value;
    r->bound = bound;
  }
  __threadfence_system();  // the record reaches memory before the host can see the flag
  *static_cast<volatile unsigned int*>(slot.raised) = 1u;
}

// --- Math for float and double -----------------------------------------------
// d<fn>(x): CUDA's <fn>f for float, <fn> for double (drint: to nearest, halves to even).
#define KILN_DEVICE_MATH(fn)                                 \
  template <class T> __device__ inline T d##fn(T x) {        \
    if constexpr (std::is_same_v<T, float>) return fn##f(x); \
    else return fn(x);                                       \
  }
KILN_DEVICE_MATH(exp)
KILN_DEVICE_MATH(log)
KILN_DEVICE_MATH(sqrt)
KILN_DEVICE_MATH(tanh)
KILN_DEVICE_MATH(erfc)
KILN_DEVICE_MATH(log1p)
KILN_DEVICE_MATH(expm1)
KILN_DEVICE_MATH(sin)
KILN_DEVICE_MATH(cos)
KILN_DEVICE_MATH(floor)
KILN_DEVICE_MATH(ceil)
KILN_DEVICE_MATH(rint)
KILN_DEVICE_MATH(tan)
KILN_DEVICE_MATH(asin)
KILN_DEVICE_MATH(acos)
KILN_DEVICE_MATH(atan)
KILN_DEVICE_MATH(sinh)
KILN_DEVICE_MATH(cosh)
KILN_DEVICE_MATH(asinh)
KILN_DEVICE_MATH(acosh)
KILN_DEVICE_MATH(atanh)
KILN_DEVICE_MATH(erf)
KILN_DEVICE_MATH(trunc)
KILN_DEVICE_MATH(exp2)
KILN_DEVICE_MATH(log2)
KILN_DEVICE_MATH(log10)
KILN_DEVICE_MATH(lgamma)
#undef KILN_DEVICE_MATH
#define KILN_DEVICE_MATH2(fn)               \
  template <class T>                        \
  __device__ inline T d##fn(T x, T y) {     \
    if constexpr (std::is_same_v<T, float>) \
      return fn##f(x, y);                   \
    else                                    \
      return fn(x, y);                      \
  }
KILN_DEVICE_MATH2(pow)
KILN_DEVICE_MATH2(atan2)
KILN_DEVICE_MATH2(fmod)
KILN_DEVICE_MATH2(hypot)
#undef KILN_DEVICE_MATH2
template <class T> __device__ inline bool is_nan(T x) { return x != x; }

// --- Warp reductions -------------------------------------------------------------
template <class T> __device__ inline T warp_sum(T v) {
  for (int s = 16; s > 0; s >>= 1) v = wrapping_add(v, __shfl_xor_sync(0xffffffffu, v, s));
  return v;
}
template <class T> __device__ inline T warp_max(T v) {
  for (int s = 16; s > 0; s >>= 1) {
    const T o = __shfl_xor_sync(0xffffffffu, v, s);
    v = o > v ? o : v;
  }
  return v;
}

// --- Block reductions: one value per thread of a block of whole warps (at most
// kThreads threads), combined by a warp reduction, `identity` standing in for the
// warps the block lacks; every thread gets the result. A block may call them again
// at once (they sync before returning).
template <class T, class WarpOp>
__device__ T block_all(T v, T identity, WarpOp warp_op) {
  __shared__ T partial[kThreads / 32];
  __shared__ T total;
  v = warp_op(v);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = warp_op(threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : identity);
    if (threadIdx.x == 0) total = v;
  }
  __syncthreads();
  const T out = total;
  __syncthreads();  // `total` and `partial` are reused by the next call
  return out;
}
template <class T>
__device__ inline T block_sum(T v) {
  return block_all(v, T(0), [](T x) { return warp_sum(x); });
}
template <class T>
__device__ inline T block_max(T v) {
  return block_all(v, static_cast<T>(-INFINITY), [](T x) { return warp_max(x); });
}

// One warp's row of `len` values: its maximum m and the sum of exp(x - m) in double
// (the two reductions of a stable softmax), the same in every lane.
template <class T>
__device__ inline void row_max_sum_exp(const T* in, std::int64_t len, int lane, T& m, double& s) {
  m = -INFINITY;
  for (std::int64_t j = lane; j < len; j += 32) m = in[j] > m ? in[j] : m;
  m = warp_max(m);
  s = 0;
  for (std::int64_t j = lane; j < len; j += 32) s += exp(static_cast<double>(in[j] - m));
  s = warp_sum(s);
}

}  // namespace kiln::cuda_kernels
