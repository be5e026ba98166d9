// The CPU emulator's runtime: the fiber scheduler that runs a grid's threads
// (see emulator.hpp), the CUDA runtime calls on host memory, cuBLAS's GEMMs as
// plain loops, and the cuBLAS loader's entry points for the emulated build.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cublasLt.h"
#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "kernels/cuda/cublas_loader.hpp"
#include "src/cuda/runtime.hpp"

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif

// Saves the callee-saved registers on the current stack, stores the stack pointer
// in *from, and continues on the stack `to` (saved the same way, or prepared by
// new_fiber): a fiber switch without the signal-mask system call of swapcontext.
extern "C" void kiln_emulator_switch(void** from, void* to);
asm(R"(
  .text
  .globl kiln_emulator_switch
  .type kiln_emulator_switch, @function
kiln_emulator_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kiln_emulator_switch, .-kiln_emulator_switch
)");

namespace kiln_cuda_emulator {

namespace {

constexpr unsigned kWarp = 32;
constexpr std::size_t kStackBytes = std::size_t(256) << 10;

struct Fiber;

// A barrier over the threads of a block or a warp that have not returned.
struct Barrier {
  unsigned arrived = 0, live = 0;
  std::vector<Fiber*> waiting;
};

// A fiber runs the block's threads one after another until one of them must wait.
struct Fiber {
  void* sp = nullptr;  // its saved stack pointer while it is not running
  void* stack = nullptr;
  ThreadContext thread{};
  unsigned linear = 0;    // the thread's number in its block
  unsigned shuffles = 0;  // shuffles this thread has made (they alternate exchange buffers)
  bool finished = false;
};

struct BlockRun {
  const std::function<void()>* body = nullptr;
  dim3 grid, block;
  uint3 block_index{};
  unsigned threads = 0, next_thread = 0;
  std::size_t fibers_used = 0;
  Barrier block_barrier;
  std::vector<Barrier> warps;
  std::vector<std::uint64_t> exchange;  // two slots per thread, for shuffles
  std::deque<Fiber*> ready;             // released from a barrier, to be resumed
  void* scheduler_sp = nullptr;
  std::exception_ptr error;
};

thread_local BlockRun* g_run = nullptr;
thread_local Fiber* g_fiber = nullptr;
thread_local std::vector<std::unique_ptr<Fiber>> g_fibers;  // reused by every block
thread_local std::vector<unsigned char> g_shared;          // dynamic shared memory

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "CUDA emulator: %s\n", what.c_str());
  std::abort();
}

void start_thread(Fiber& f, unsigned linear) {
  const BlockRun& run = *g_run;
  f.linear = linear;
  f.shuffles = 0;
  f.thread.thread = {linear % run.block.x, linear / run.block.x % run.block.y, linear / (run.block.x * run.block.y)};
  f.thread.block = run.block_index;
  f.thread.block_dim = run.block;
  f.thread.grid_dim = run.grid;
}

void release_if_complete(Barrier& b) {
  if (b.arrived > 0 && b.arrived == b.live) {
    b.arrived = 0;
    for (Fiber* f : b.waiting) g_run->ready.push_back(f);
    b.waiting.clear();
  }
}

void end_thread(Fiber& f) {
  BlockRun& run = *g_run;
  --run.block_barrier.live;
  release_if_complete(run.block_barrier);
  Barrier& warp = run.warps[f.linear / kWarp];
  --warp.live;
  release_if_complete(warp);
}

Fiber& new_fiber(std::size_t index);

// The next fiber to run: one released from a barrier, else a new one for a thread
// not yet started; none when every thread has finished or waits.
Fiber* next_fiber() {
  BlockRun& run = *g_run;
  if (!run.ready.empty()) {
    Fiber* f = run.ready.front();
    run.ready.pop_front();
    return f;
  }
  if (run.next_thread < run.threads && !run.error) return &new_fiber(run.fibers_used++);
  return nullptr;
}

// Leaves `from` (its place saved) for the next fiber, or for the scheduler when none can run.
void switch_away(Fiber& from) {
  Fiber* to = next_fiber();
  if (to) {
    g_fiber = to;
    kiln_emulator_switch(&from.sp, to->sp);
  } else {
    kiln_emulator_switch(&from.sp, g_run->scheduler_sp);
  }
  g_fiber = &from;
}

// A fiber's first frame: it never returns, but hands over to another fiber for good.
void fiber_main() {
  BlockRun& run = *g_run;
  Fiber& f = *g_fiber;
  while (run.next_thread < run.threads && !run.error) {
    start_thread(f, run.next_thread++);
    try {
      (*run.body)();
    } catch (...) {
      if (!run.error) run.error = std::current_exception();
    }
    end_thread(f);
  }
  f.finished = true;
  switch_away(f);
  fail("a finished fiber was resumed");
}

void resume(Fiber& f) {
  g_fiber = &f;
  kiln_emulator_switch(&g_run->scheduler_sp, f.sp);
}

Fiber& new_fiber(std::size_t index) {
  if (index == g_fibers.size()) {
    auto f = std::make_unique<Fiber>();
    f->stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (f->stack == MAP_FAILED) fail("no memory for a thread's stack");
    g_fibers.push_back(std::move(f));
  }
  Fiber& f = *g_fibers[index];
  f.finished = false;
  // The first switch to it pops six zero registers and "returns" into fiber_main,
  // with the stack aligned as after a call (16-byte boundary + 8).
  auto** sp = reinterpret_cast<void**>(static_cast<char*>(f.stack) + kStackBytes);
  *--sp = nullptr;  // fiber_main's own return address: none
  *--sp = reinterpret_cast<void*>(&fiber_main);
  for (int r = 0; r < 6; ++r) *--sp = nullptr;
  f.sp = sp;
  return f;
}

// Waits at `b` until every thread it counts has arrived.
void arrive(Barrier& b) {
  Fiber& f = *g_fiber;
  ++b.arrived;
  if (b.arrived == b.live) {  // the last to arrive releases the others and goes on
    release_if_complete(b);
    return;
  }
  b.waiting.push_back(&f);
  switch_away(f);
}

void run_block(BlockRun& run) {
  run.next_thread = 0;
  run.block_barrier = Barrier{};
  run.block_barrier.live = run.threads;
  for (unsigned w = 0; w < run.warps.size(); ++w) {
    run.warps[w] = Barrier{};
    run.warps[w].live = std::min(kWarp, run.threads - w * kWarp);
  }
  run.ready.clear();
  run.fibers_used = 0;
  // Fibers hand over to each other; control comes back here only when none can run.
  while (Fiber* f = next_fiber()) resume(*f);
  for (std::size_t i = 0; i < run.fibers_used; ++i)
    if (!g_fibers[i]->finished && !run.error)
      fail("deadlock: threads wait at a barrier (__syncthreads, __syncwarp or a shuffle) that others of their "
           "block or warp never reach");
}

cudaError_t g_last_error = cudaSuccess;

}  // namespace

const ThreadContext& context() {
  if (!g_fiber) fail("threadIdx or blockIdx read outside a kernel");
  return g_fiber->thread;
}

void sync_block() { arrive(g_run->block_barrier); }
void sync_warp() { arrive(g_run->warps[g_fiber->linear / kWarp]); }

std::uint64_t exchange_xor(std::uint64_t bits, int lane_mask) {
  BlockRun& run = *g_run;
  Fiber& f = *g_fiber;
  const unsigned me = f.linear, base = me / kWarp * kWarp;
  const unsigned from = base + ((me % kWarp) ^ static_cast<unsigned>(lane_mask));
  if (from >= run.threads) fail("a shuffle reads a lane beyond the block");
  // Shuffles alternate between two buffers: a lane can publish shuffle k + 2 only
  // after the barrier of shuffle k + 1, which every lane reaches after reading k.
  const std::size_t buffer = (f.shuffles++ & 1u) * run.threads;
  run.exchange[buffer + me] = bits;
  sync_warp();  // every lane has published
  return run.exchange[buffer + from];
}

void* dynamic_shared() { return g_shared.data(); }

namespace {

// With KILN_CUDA_EMULATOR_STATS set, the counters since the last reset go to stderr at exit.
struct StatsAtExit {
  ~StatsAtExit() {
    if (!std::getenv("KILN_CUDA_EMULATOR_STATS")) return;
    const Counters& c = counters();
    std::fprintf(stderr,
                 "kiln CUDA emulator: %lld kernels, %lld cuBLAS calls, %lld copies to the device, %lld to the host, "
                 "%lld on the device, %lld synchronizations, %lld cudaMalloc calls\n",
                 static_cast<long long>(c.launches), static_cast<long long>(c.gemms),
                 static_cast<long long>(c.copies_to_device), static_cast<long long>(c.copies_to_host),
                 static_cast<long long>(c.copies_on_device), static_cast<long long>(c.synchronizes),
                 static_cast<long long>(c.mallocs));
  }
};

}  // namespace

Counters& counters() {
  static Counters c;
  static StatsAtExit report;  // made after `c`, so destroyed before it
  return c;
}

void run_grid(dim3 grid, dim3 block, std::size_t shared_bytes, const std::function<void()>& thread_body) {
  ++counters().launches;
  const std::uint64_t threads = std::uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x == 0 ||
      grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 ||
      shared_bytes > (48u << 10)) {
    g_last_error = cudaErrorInvalidConfiguration;
    return;
  }
  if (g_run) fail("a kernel launched from inside a kernel");
  BlockRun run;
  run.body = &thread_body;
  run.grid = grid;
  run.block = block;
  run.threads = static_cast<unsigned>(threads);
  run.warps.resize((run.threads + kWarp - 1) / kWarp);
  run.exchange.assign(2 * std::size_t(run.threads), 0);
  g_shared.assign(std::max<std::size_t>(shared_bytes, 16), 0xA5);  // not zero: the GPU does not clear it
  g_run = &run;
  for (unsigned z = 0; z < grid.z && !run.error; ++z)
    for (unsigned y = 0; y < grid.y && !run.error; ++y)
      for (unsigned x = 0; x < grid.x && !run.error; ++x) {
        run.block_index = {x, y, z};
        run_block(run);
      }
  g_run = nullptr;
  g_fiber = nullptr;
  if (run.error) std::rethrow_exception(run.error);
}

}  // namespace kiln_cuda_emulator

// ---- The CUDA runtime on host memory ------------------------------------------------

namespace {

enum class Kind { device, host };
std::map<const char*, std::pair<std::size_t, Kind>>& allocations() {  // start -> (bytes, kind)
  static auto* m = new std::map<const char*, std::pair<std::size_t, Kind>>;
  return *m;
}
int g_device = 0;

// The emulated device count: 1, or KILN_CUDA_EMULATOR_DEVICES (0 hides the device).
int emulated_devices() {
  const char* env = std::getenv("KILN_CUDA_EMULATOR_DEVICES");
  return env ? std::atoi(env) : 1;
}

}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  *count = emulated_devices();
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= emulated_devices()) return cudaErrorInvalidDevice;
  g_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = g_device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device < 0 || device >= emulated_devices()) return cudaErrorInvalidDevice;
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "kiln CUDA emulator (CPU)");
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 4;
  prop->totalGlobalMem = std::size_t(8) << 30;
  prop->l2CacheSize = 4 << 20;
  return cudaSuccess;
}
// Every launch has finished when it returns: there is nothing to wait for.
cudaError_t cudaDeviceSynchronize() {
  ++kiln_cuda_emulator::counters().synchronizes;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  ++kiln_cuda_emulator::counters().synchronizes;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = kiln_cuda_emulator::g_last_error;
  kiln_cuda_emulator::g_last_error = cudaSuccess;
  return e;
}
const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t error) { return cudaGetErrorName(error); }

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  ++kiln_cuda_emulator::counters().mallocs;
  *p = std::aligned_alloc(256, (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256);
  if (!*p) return cudaErrorMemoryAllocation;
  allocations()[static_cast<const char*>(*p)] = {bytes, Kind::device};
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  if (allocations().erase(static_cast<const char*>(p)) == 0) return cudaErrorInvalidValue;
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  auto& c = kiln_cuda_emulator::counters();
  if (kind == cudaMemcpyHostToDevice) ++c.copies_to_device;
  if (kind == cudaMemcpyDeviceToHost) ++c.copies_to_host;
  if (kind == cudaMemcpyDeviceToDevice) ++c.copies_on_device;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* p, int value, std::size_t bytes) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* p) {
  *attributes = cudaPointerAttributes{cudaMemoryTypeUnregistered, -1, nullptr, const_cast<void*>(p)};
  const auto& all = allocations();
  auto it = all.upper_bound(static_cast<const char*>(p));
  if (it != all.begin()) {
    --it;
    if (static_cast<const char*>(p) < it->first + std::max<std::size_t>(it->second.first, 1)) {
      attributes->type = it->second.second == Kind::device ? cudaMemoryTypeDevice : cudaMemoryTypeHost;
      attributes->device = 0;
      attributes->devicePointer = const_cast<void*>(p);
    }
  }
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned int) {
  *p = std::aligned_alloc(256, (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256);
  if (!*p) return cudaErrorMemoryAllocation;
  allocations()[static_cast<const char*>(*p)] = {bytes, Kind::host};
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
cudaError_t cudaHostGetDevicePointer(void** device_pointer, void* host_pointer, unsigned int) {
  *device_pointer = host_pointer;  // one address space, as with unified addressing
  return cudaSuccess;
}
cudaError_t cudaHostRegister(void* p, std::size_t bytes, unsigned int) {
  allocations()[static_cast<const char*>(p)] = {bytes, Kind::host};
  return cudaSuccess;
}
cudaError_t cudaHostUnregister(void* p) {
  return allocations().erase(static_cast<const char*>(p)) ? cudaSuccess : cudaErrorInvalidValue;
}

// ---- cuBLAS: column-major GEMM as plain loops --------------------------------------------

namespace {

// C = alpha op(A) op(B) + beta C, each C(i, j) summed over p in order. op(A) is first
// copied to a column-major m x k block, so the inner loop runs down contiguous columns
// of it and of C (a column of C at a time, accumulated in `acc`).
template <class T>
cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T* alpha, const T* a,
                    int lda, const T* b, int ldb, const T* beta, T* c, int ldc) {
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  // cuBLAS's rule for column-major operands: each leading dimension at least the rows
  // its matrix is stored with, and at least 1 (so an empty inner dimension k is refused
  // wherever A or B is stored k rows high).
  const int a_rows = ta == CUBLAS_OP_N ? m : k, b_rows = tb == CUBLAS_OP_N ? k : n;
  if (lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  const std::int64_t rows = m;
  std::vector<T> op_a(static_cast<std::size_t>(rows * k)), acc(static_cast<std::size_t>(rows));
  for (std::int64_t p = 0; p < k; ++p)
    for (std::int64_t i = 0; i < rows; ++i) op_a[p * rows + i] = ta == CUBLAS_OP_N ? a[i + p * lda] : a[p + i * lda];
  for (std::int64_t j = 0; j < n; ++j) {
    std::fill(acc.begin(), acc.end(), T(0));
    for (std::int64_t p = 0; p < k; ++p) {
      const T bv = tb == CUBLAS_OP_N ? b[p + j * ldb] : b[j + p * ldb];
      const T* column = op_a.data() + p * rows;
      for (std::int64_t i = 0; i < rows; ++i) acc[i] += column[i] * bv;
    }
    T* out = c + j * ldc;
    for (std::int64_t i = 0; i < rows; ++i)
      out[i] = *beta == T(0) ? *alpha * acc[i] : *alpha * acc[i] + *beta * out[i];  // beta 0: C is not read
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  static int token;
  *handle = reinterpret_cast<cublasHandle_t>(&token);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                              float* c, int ldc) {
  ++kiln_cuda_emulator::counters().gemms;
  return gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t cublasDgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const double* alpha, const double* a, int lda, const double* b, int ldb,
                              const double* beta, double* c, int ldc) {
  ++kiln_cuda_emulator::counters().gemms;
  return gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
const char* cublasGetStatusName(cublasStatus_t status) {
  return status == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}
const char* cublasGetStatusString(cublasStatus_t status) { return cublasGetStatusName(status); }

// ---- The cuBLAS loader's entry points (kernels/cuda/cublas_loader.cpp in a real build) --

namespace kiln::cuda_kernels {

const CublasApi& cublas() {
  static const CublasApi api{cublasCreate_v2, cublasSgemm_v2, cublasDgemm_v2, cublasGetStatusName,
                             cublasGetStatusString};
  return api;
}
const CublasLtApi* cublas_lt() { return nullptr; }  // int8 products take the dp4a kernel

}  // namespace kiln::cuda_kernels

namespace kiln::detail {
std::string cublas_load_problem() { return ""; }
}  // namespace kiln::detail
