// The CUDA kernel table: what the ops call when their tensors live on a GPU.
//
// Like the CPU table (kernels/cpu/kernel_table.hpp), the kernels know nothing
// of tensors or autograd: device pointers, sizes, strides and an element type.
// Every launch goes to the current device's default stream and is checked; no
// entry waits for the GPU unless it must return a host value (noted below).
// Each op family has its .cu / .cuh pair in this folder; table.cu fills the table.
// A build without CUDA defines table() to throw (src/cuda/no_cuda.cpp).
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_table.hpp"  // the op enums (Unary, Binary, UnaryGrad) and AdamStep

namespace kiln::cuda_kernels {

// The element types the kernels are instantiated for.
enum class Scalar : int { f32, f64, i64, i32, u8, i8 };

inline constexpr int kMaxDims = 8;

// An n-d loop over `shape` with up to three operands (operand 0 is the output),
// strides in elements, 0 along broadcast dimensions. `dense` says every operand
// is contiguous over the same shape, so element i sits at offset i in each.
struct Loop {
  int ndim = 0;
  bool dense = false;
  std::int64_t numel = 0;
  std::int64_t shape[kMaxDims] = {};
  std::int64_t stride[3][kMaxDims] = {};
};

enum class Compare : int { eq, ne, lt, le, gt, ge };

struct Table {
  // --- elementwise.cu ----------------------------------------------------------
  void (*fill)(Scalar t, const Loop& loop, void* dst, double value);
  // dst[i] = convert(src[i]) across element types (operand 0 dst, 1 src).
  void (*copy)(Scalar dst_t, Scalar src_t, const Loop& loop, void* dst, const void* src);
  void (*binary)(cpu::Binary op, Scalar t, const Loop& loop, void* out, const void* a, const void* b);
  void (*compare)(Compare op, Scalar t, const Loop& loop, std::uint8_t* out, const void* a, const void* b);
  // Contiguous x -> y; floating types only.
  void (*unary)(cpu::Unary op, Scalar t, std::int64_t n, const void* x, void* y);
  void (*unary_grad)(cpu::UnaryGrad op, Scalar t, std::int64_t n, const void* saved, const void* g, void* gx);

  // --- reduce.cu ---------------------------------------------------------------
  // out[o, i] = sum_k x[o, k, i] for a contiguous (outer, r, inner) x; floating
  // types accumulate in double, int64 in int64.
  void (*sum)(Scalar t, std::int64_t outer, std::int64_t r, std::int64_t inner, const void* x, void* out);
  // y[row] = max (or min) of x[row, :] and index[row] its first position; the
  // first NaN wins. `index` may be null. x is contiguous (rows, len), len >= 1.
  void (*extreme_rows)(Scalar t, bool minimum, std::int64_t rows, std::int64_t len, const void* x, void* y,
                       std::int64_t* index);
  // y[r, :] = softmax(x[r, :]) or log_softmax; contiguous (rows, len); floating types.
  void (*softmax_rows)(Scalar t, bool log, std::int64_t rows, std::int64_t len, const void* x, void* y);

  // --- loss.cu -----------------------------------------------------------------
  // Counts targets outside [0, c) (waits for the GPU to return the count).
  std::int64_t (*count_bad_targets)(std::int64_t n, std::int64_t c, const std::int64_t* target);
  // logp = log_softmax(logits); loss[i] = -(1-eps) logp[i, t_i] - eps/c sum_j logp[i, j].
  void (*cross_entropy)(Scalar t, std::int64_t n, std::int64_t c, const void* logits, const std::int64_t* target,
                        double eps, void* logp, void* loss);
  // gx[i, j] = coef_i (exp(logp[i, j]) - q_ij), q = (1-eps) onehot(t_i) + eps/c, where
  // coef_i = g[i] * scale when per_sample, else g[0] * scale (g on the device).
  void (*cross_entropy_backward)(Scalar t, std::int64_t n, std::int64_t c, const void* logp,
                                 const std::int64_t* target, double eps, const void* g, bool per_sample,
                                 double scale, void* gx);

  // --- blas.cu (cuBLAS) --------------------------------------------------------
  // Row-major C = op(A) op(B) + beta C, as cblas_?gemm with CblasRowMajor; f32 / f64.
  void (*gemm)(Scalar t, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const void* a,
               std::int64_t lda, const void* b, std::int64_t ldb, double beta, void* c, std::int64_t ldc);

  // --- optim.cu ----------------------------------------------------------------
  // One fused Adam / AdamW step over n contiguous float32 parameters.
  void (*adam)(std::int64_t n, float* p, const float* g, float* m, float* v, const cpu::AdamStep& s);
};

// The table of this build (throws a kiln::Error in a build without CUDA).
const Table& table();

}  // namespace kiln::cuda_kernels
