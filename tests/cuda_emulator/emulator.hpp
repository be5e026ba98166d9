// A CPU emulator of the CUDA device code in kernels/cuda, so that every kernel runs
// in the tests on machines without a GPU (tests/CMakeLists.txt builds
// kiln_cuda_emulated_tests with it). A launch runs the grid's blocks one after
// another; the threads of a block are fibers on one OS thread, and a thread that
// reaches __syncthreads(), __syncwarp() or a shuffle waits there until every
// thread of its block (or warp) that has not returned has arrived, as on the GPU.
// So barriers, warp shuffles, shared memory and atomics behave as the kernels
// expect, and a barrier some threads never reach is reported as a deadlock.
//
// What it cannot show: timing, memory-ordering races between threads (each runs
// until it blocks), and device-only rounding (expf, logf, ... are the host's).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace kiln_cuda_emulator {

// What an emulated thread reads as threadIdx, blockIdx, blockDim and gridDim.
struct ThreadContext {
  uint3 thread, block;
  dim3 block_dim, grid_dim;
};

const ThreadContext& context();
void sync_block();
void sync_warp();
// Publishes `bits` for this lane, waits for the warp, returns lane (this ^ lane_mask)'s.
std::uint64_t exchange_xor(std::uint64_t bits, int lane_mask);
void* dynamic_shared();
// Runs `thread_body` once per thread of the grid (emulator.cpp); a bad configuration
// becomes the next cudaGetLastError(), as on the GPU.
void run_grid(dim3 grid, dim3 block, std::size_t shared_bytes, const std::function<void()>& thread_body);

// What the program asked of the "GPU" since the last reset_counters(): a test can
// check that a training step stays on the device (no copies to the host, no waits)
// and reuses its memory (no cudaMalloc once warm).
struct Counters {
  std::int64_t launches = 0;          // kernels (invalid configurations included)
  std::int64_t gemms = 0;             // cuBLAS calls
  std::int64_t copies_to_device = 0;  // cudaMemcpy(Async) host -> device
  std::int64_t copies_to_host = 0;    // device -> host
  std::int64_t copies_on_device = 0;  // device -> device
  std::int64_t synchronizes = 0;      // cudaDeviceSynchronize, cudaStreamSynchronize
  std::int64_t mallocs = 0;           // cudaMalloc
};
Counters& counters();
inline void reset_counters() { counters() = Counters{}; }

template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, Args... args) {
  const std::tuple<Params...> params(static_cast<Params>(args)...);
  run_grid(grid, block, shared_bytes, [&] { std::apply(kernel, params); });
}

}  // namespace kiln_cuda_emulator

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static  // one block runs at a time, so one copy serves every block
#define threadIdx (::kiln_cuda_emulator::context().thread)
#define blockIdx (::kiln_cuda_emulator::context().block)
#define blockDim (::kiln_cuda_emulator::context().block_dim)
#define gridDim (::kiln_cuda_emulator::context().grid_dim)

inline void __syncthreads() { ::kiln_cuda_emulator::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::kiln_cuda_emulator::sync_warp(); }
inline void __threadfence() {}
inline void __threadfence_system() {}

template <class T>
T __shfl_xor_sync(unsigned, T value, int lane_mask, int = 32) {
  static_assert(sizeof(T) <= sizeof(std::uint64_t) && std::is_trivially_copyable_v<T>, "shuffles move 32 or 64 bits");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = ::kiln_cuda_emulator::exchange_xor(bits, lane_mask);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// Threads never run at the same time, so plain read-modify-writes are atomic.
template <class T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = static_cast<T>(old + value);
  return old;
}
template <class T>
T atomicCAS(T* address, T compare, T value) {
  const T old = *address;
  if (old == compare) *address = value;
  return old;
}

// Four signed bytes of a times those of b, plus c.
inline int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; ++i)
    c += static_cast<std::int8_t>(static_cast<unsigned>(a) >> (8 * i)) *
         static_cast<std::int8_t>(static_cast<unsigned>(b) >> (8 * i));
  return c;
}
// Bytewise a - b, each byte modulo 256.
inline unsigned __vsub4(unsigned a, unsigned b) {
  unsigned out = 0;
  for (int i = 0; i < 4; ++i) out |= (((a >> (8 * i)) - (b >> (8 * i))) & 0xFFu) << (8 * i);
  return out;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<std::uint64_t>(a) * b) >> 32);
}
// The emulated kernels compile with -ffp-contract=off: each of these rounds once.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double cospi(double x) { return std::cos(M_PI * x); }
