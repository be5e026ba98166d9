// Quantized kernels. Their results match the CPU reference bit for bit: integer
// dot products are exact in any order, and every float step is written with an
// explicit rounding intrinsic (__fmul_rn, __fadd_rn, fmaf) in the reference's
// order, so nvcc cannot contract or reorder it.

#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cublas_loader.hpp"
#include "kernels/cuda/quant.cuh"

namespace kiln::cuda_kernels {

namespace {

// The q4_0 block as kiln/quant/format.hpp defines it (BlockQ4_0): a float scale,
// then 16 bytes holding value t in the low nibble and value t + 16 in the high one.
struct BlockQ4_0 {
  float scale;
  unsigned char qs[16];
};
static_assert(sizeof(BlockQ4_0) == kQ4BlockBytes, "q4_0 blocks are 20 bytes");
constexpr std::int64_t kQ4Group = kQ4BlockValues;

// --- activations -----------------------------------------------------------------

__device__ inline std::int8_t quantize_value(float x, float inv_scale) {
  float v = __fmul_rn(x, inv_scale);
  v = v > -127.0f ? v : -127.0f;
  v = v < 127.0f ? v : 127.0f;
  return static_cast<std::int8_t>(rintf(v));  // round half to even, as nearbyint
}

// One warp per row: max |x| (max is exact in any order), then the values.
__global__ void quantize_rows_kernel(std::int64_t rows, std::int64_t k, const float* x, std::int64_t ldx,
                                     float inv_static, std::int8_t* q, std::int64_t ldq, float* scale) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; r < rows;
       r += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const float* xr = x + r * ldx;
    float inv = inv_static;
    if (inv_static == 0.0f) {
      float amax = 0.0f;
      for (std::int64_t j = lane; j < k; j += 32) {
        const float a = fabsf(xr[j]);
        amax = amax > a ? amax : a;
      }
      amax = warp_max(amax);
      if (lane == 0) scale[r] = amax > 0.0f ? __fdiv_rn(amax, 127.0f) : 1.0f;
      inv = amax > 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    }
    for (std::int64_t j = lane; j < ldq; j += 32) q[r * ldq + j] = j < k ? quantize_value(xr[j], inv) : 0;
  }
}

__global__ void pad_rows_s8_kernel(std::int64_t rows, std::int64_t k, const std::int8_t* a, std::int64_t lda,
                                   std::int8_t* q, std::int64_t ldq, ReportSlot bad) {
  for (std::int64_t e = global_index(); e < rows * ldq; e += grid_stride()) {
    const std::int64_t r = e / ldq, j = e % ldq;
    const std::int8_t v = j < k ? a[r * lda + j] : std::int8_t{0};
    if (v == -128) report_bad_index(bad, r * k + j, v, 127);
    q[e] = v;
  }
}

// --- int8 x int8 -> int32 -------------------------------------------------------------

// A 64 x 64 tile of c per block of 256 threads, 4 x 4 outputs per thread; the k
// loop moves 64 bytes (16 words of four int8) of each operand through shared memory.
constexpr int kTile = 64, kWords = 16;

__global__ void gemm_dp4a_kernel(std::int64_t m, std::int64_t n, std::int64_t kw, const int* a, std::int64_t lda_w,
                                 const int* w, std::int64_t ldw_w, std::int32_t* c) {
  __shared__ int as[kTile][kWords + 1], ws[kTile][kWords + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.y) * kTile, col0 = static_cast<std::int64_t>(blockIdx.x) * kTile;
  int acc[4][4] = {};
  for (std::int64_t k0 = 0; k0 < kw; k0 += kWords) {
    for (int l = threadIdx.x; l < kTile * kWords; l += blockDim.x) {
      const int r = l / kWords, word = l % kWords;
      const std::int64_t kk = k0 + word;
      as[r][word] = row0 + r < m && kk < kw ? a[(row0 + r) * lda_w + kk] : 0;
      ws[r][word] = col0 + r < n && kk < kw ? w[(col0 + r) * ldw_w + kk] : 0;
    }
    __syncthreads();
#pragma unroll
    for (int word = 0; word < kWords; ++word) {
      int av[4], wv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = as[ty + 16 * i][word], wv[i] = ws[tx + 16 * i][word];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(av[i], wv[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const std::int64_t r = row0 + ty + 16 * i, col = col0 + tx + 16 * j;
      if (r < m && col < n) c[r * n + col] = acc[i][j];
    }
}

// cuBLASLt's int8 GEMM (tensor cores): c (m x n row-major) is the column-major
// n x m product W^T-as-stored times A, both operands k-contiguous ("TN").
// Returns false when cuBLASLt offers no algorithm for this shape and alignment.
bool gemm_lt(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
             const std::int8_t* w, std::int64_t ldw, std::int32_t* c) {
  const CublasLtApi* lt = cublas_lt();
  if (!lt) return false;  // not installed: the dp4a kernel serves
  static std::mutex mutex;
  static cublasLtHandle_t handle = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!handle && lt->create(&handle) != CUBLAS_STATUS_SUCCESS) return false;
  }
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  bool ok = false;
  const cublasOperation_t trans = CUBLAS_OP_T;
  const std::int32_t alpha = 1, beta = 0;
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  if (lt->desc_create(&op, CUBLAS_COMPUTE_32I, CUDA_R_32I) == CUBLAS_STATUS_SUCCESS &&
      lt->desc_set_attribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans)) == CUBLAS_STATUS_SUCCESS &&
      lt->layout_create(&la, CUDA_R_8I, k, n, ldw) == CUBLAS_STATUS_SUCCESS &&
      lt->layout_create(&lb, CUDA_R_8I, k, m, lda) == CUBLAS_STATUS_SUCCESS &&
      lt->layout_create(&lc, CUDA_R_32I, n, m, n) == CUBLAS_STATUS_SUCCESS &&
      lt->preference_create(&pref) == CUBLAS_STATUS_SUCCESS &&
      lt->algo_get_heuristic(handle, op, la, lb, lc, lc, pref, 1, &result, &found) == CUBLAS_STATUS_SUCCESS &&
      found > 0) {
    ok = lt->matmul(handle, op, &alpha, w, la, a, lb, &beta, c, lc, c, lc, &result.algo, nullptr, 0, 0) ==
         CUBLAS_STATUS_SUCCESS;
  }
  if (pref) lt->preference_destroy(pref);
  if (lc) lt->layout_destroy(lc);
  if (lb) lt->layout_destroy(lb);
  if (la) lt->layout_destroy(la);
  if (op) lt->desc_destroy(op);
  return ok;
}

__global__ void finish_int8_kernel(std::int64_t m, std::int64_t n, const std::int32_t* c, const float* a_scale,
                                   const float* w_scale, const float* bias, bool relu, float* y) {
  for (std::int64_t e = global_index(); e < m * n; e += grid_stride()) {
    const std::int64_t i = e / n, j = e % n;
    const float s = __fmul_rn(a_scale[i], w_scale[j]);
    float v = __fmul_rn(static_cast<float>(c[e]), s);
    if (bias) v = __fadd_rn(v, bias[j]);
    y[e] = relu && !(v > 0.0f) ? 0.0f : v;
  }
}

// --- q4_0 weights x int8 activations ------------------------------------------------

constexpr int kQ4Rows = 4;    // activation rows one pass over a weight row serves
constexpr int kQ4Unroll = 4;  // blocks a lane loads before it uses any of them

// One warp per weight row j. Lanes take the row's blocks in turn, kQ4Unroll at a
// time: all their loads are issued first, so a warp keeps 32 * kQ4Unroll blocks
// (2.5 KB) in flight instead of one per lane, which a memory-bound GEMV needs to
// approach the card's bandwidth. Each block's 32 nibbles are unpacked in registers
// into four-byte words and dp4a'd with up to kQ4Rows activation rows; the exact
// block dots and the block scales go to shared memory, and one lane per activation
// row then folds them in block order: acc = fma(dot, scale, acc), exactly as the
// reference does.
__global__ void gemm_q4_kernel(std::int64_t m, std::int64_t n, std::int64_t nb, const std::int8_t* __restrict__ a,
                               std::int64_t lda, const BlockQ4_0* __restrict__ blocks,
                               const float* __restrict__ a_scale, const float* __restrict__ bias, bool relu,
                               float* __restrict__ y) {
  KILN_DYNAMIC_SHARED(unsigned char, smem);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, warps = blockDim.x / 32;
  float* scales = reinterpret_cast<float*>(smem) + warp * nb * (1 + kQ4Rows);
  int* dots = reinterpret_cast<int*>(scales + nb);  // kQ4Rows x nb
  for (std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * warps + warp; j < n;
       j += static_cast<std::int64_t>(gridDim.x) * warps) {
    const BlockQ4_0* row = blocks + j * nb;
    for (std::int64_t i0 = 0; i0 < m; i0 += kQ4Rows) {
      const int rows = static_cast<int>(m - i0 < kQ4Rows ? m - i0 : kQ4Rows);
      for (std::int64_t b0 = lane; b0 < nb; b0 += 32 * kQ4Unroll) {
        unsigned packed[kQ4Unroll][4] = {};
        float block_scale[kQ4Unroll] = {};
#pragma unroll
        for (int u = 0; u < kQ4Unroll; ++u) {
          const std::int64_t b = b0 + 32 * u;
          if (b < nb) {
            const unsigned* qw = reinterpret_cast<const unsigned*>(row[b].qs);
#pragma unroll
            for (int v = 0; v < 4; ++v) packed[u][v] = qw[v];
            block_scale[u] = row[b].scale;
          }
        }
#pragma unroll
        for (int u = 0; u < kQ4Unroll; ++u) {
          const std::int64_t b = b0 + 32 * u;
          if (b >= nb) break;
          int lo[4], hi[4];
#pragma unroll
          for (int v = 0; v < 4; ++v) {
            lo[v] = static_cast<int>(__vsub4(packed[u][v] & 0x0F0F0F0Fu, 0x08080808u));         // values 4v ..
            hi[v] = static_cast<int>(__vsub4((packed[u][v] >> 4) & 0x0F0F0F0Fu, 0x08080808u));  // 16+4v ..
          }
          if (i0 == 0) scales[b] = block_scale[u];
          for (int r = 0; r < rows; ++r) {
            const int* x = reinterpret_cast<const int*>(a + (i0 + r) * lda + b * kQ4Group);
            int dot = 0;
#pragma unroll
            for (int v = 0; v < 4; ++v) {
              dot = __dp4a(x[v], lo[v], dot);
              dot = __dp4a(x[4 + v], hi[v], dot);
            }
            dots[r * nb + b] = dot;
          }
        }
      }
      __syncwarp();
      if (lane < rows) {
        const std::int64_t i = i0 + lane;
        float acc = 0.0f;
        for (std::int64_t b = 0; b < nb; ++b) acc = fmaf(static_cast<float>(dots[lane * nb + b]), scales[b], acc);
        float v = __fmul_rn(acc, a_scale[i]);
        if (bias) v = __fadd_rn(v, bias[j]);
        y[i * n + j] = relu && !(v > 0.0f) ? 0.0f : v;
      }
      __syncwarp();
    }
  }
}

}  // namespace

void quantize_rows(std::int64_t rows, std::int64_t k, const float* x, std::int64_t ldx, float inv_scale,
                   std::int8_t* q, std::int64_t ldq, float* scale) {
  if (rows == 0) return;
  const std::int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  launch(quantize_rows_kernel, static_cast<unsigned>(blocks < 262140 ? blocks : 262140), kRowsPerBlock * 32,
         0, rows, k, x, ldx, inv_scale, q, ldq, scale);
  KILN_CUDA_CHECK_LAUNCH();
}

void pad_rows_s8(std::int64_t rows, std::int64_t k, const std::int8_t* a, std::int64_t lda, std::int8_t* q,
                 std::int64_t ldq, ReportSlot bad_value) {
  launch_over(rows * ldq, pad_rows_s8_kernel, rows, k, a, lda, q, ldq, bad_value);
}

void gemm_s8_s32(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
                 const std::int8_t* w, std::int64_t ldw, std::int32_t* c, bool force_dp4a) {
  if (m == 0 || n == 0) return;
  KILN_ASSERT(k % 4 == 0 && lda % 4 == 0 && ldw % 4 == 0);
  if (!force_dp4a && gemm_lt(m, n, k, a, lda, w, ldw, c)) return;
  const dim3 grid(static_cast<unsigned>((n + kTile - 1) / kTile), static_cast<unsigned>((m + kTile - 1) / kTile));
  KILN_CHECK(grid.y <= 65535, "quant GEMM on cuda: ", m, " rows exceed one launch; split the batch");
  launch(gemm_dp4a_kernel, grid, 256, 0, m, n, k / 4, reinterpret_cast<const int*>(a), lda / 4,
         reinterpret_cast<const int*>(w), ldw / 4, c);
  KILN_CUDA_CHECK_LAUNCH();
}

void finish_int8(std::int64_t m, std::int64_t n, const std::int32_t* c, const float* a_scale, const float* w_scale,
                 const float* bias, bool relu, float* y) {
  launch_over(m * n, finish_int8_kernel, m, n, c, a_scale, w_scale, bias, relu, y);
}

void gemm_q4(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
             const void* blocks, const float* a_scale, const float* bias, bool relu, float* y) {
  if (m == 0 || n == 0) return;
  KILN_ASSERT(k % kQ4Group == 0 && lda % 16 == 0);
  const std::int64_t nb = k / kQ4Group;
  const std::int64_t per_warp = nb * (1 + kQ4Rows) * 4;  // scales + dots, bytes
  constexpr std::int64_t kShared = 48 * 1024;
  KILN_CHECK(per_warp <= kShared, "quant::linear on cuda: q4_0 rows of ", k,
             " values exceed what one warp folds in shared memory; split the input dimension");
  const int warps = static_cast<int>(kShared / per_warp < 8 ? kShared / per_warp : 8);
  const std::int64_t grid = (n + warps - 1) / warps;
  launch(gemm_q4_kernel, static_cast<unsigned>(grid < 262140 ? grid : 262140), warps * 32,
         static_cast<std::size_t>(warps * per_warp), m, n, nb, a, lda, static_cast<const BlockQ4_0*>(blocks),
         a_scale, bias, relu, y);
  KILN_CUDA_CHECK_LAUNCH();
}

}  // namespace kiln::cuda_kernels
