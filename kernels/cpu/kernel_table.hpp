// The CPU kernel table: one function pointer per kernel, filled once at
// start-up for the instruction set chosen (see dispatch.hpp).
//
// Kernels know nothing of tensors or autograd: raw pointers, sizes, strides.
// To find a kernel's variants, grep its name: ref/ (the definition),
// simd/simd_kernels.inl (AVX2 and AVX-512, one source for both widths).
#pragma once

#include <cstdint>

namespace kiln::cpu {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };
inline constexpr int kIsaCount = 3;
const char* isa_name(Isa isa);

// y[i] = f(x[i]) over contiguous arrays. The row from tan on has the reference only
// (<cmath>, or kernels/cuda/special_functions.hpp for erfinv, digamma, trigamma and the
// Bessel functions i0 to i1e; kernels/cuda/float_parts.hpp for signbit and frexp's two
// parts, each in the input's type), but for erf and erfc (simd/) and, for float32,
// lgamma and digamma (special/).
// clang-format off
enum class Unary : int {
  neg, exp, log, sqrt, abs, relu, sigmoid, tanh, gelu, softplus,
  silu, sin, cos, log1p, expm1, sign, floor, ceil, round,
  tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, erf, erfc, erfinv,
  rsqrt, reciprocal, trunc, exp2, log2, log10, lgamma, digamma, trigamma, i0, i0e, i1, i1e,
  signbit, frexp_mantissa, frexp_exponent,
  count
};
// y[i] = f(a[i*sa], b[i*sb]); y contiguous, strides in elements (0 = broadcast).
// From atan2 on, the reference only, floating types only; from bitwise_and on, integer
// types only (kernels/cuda/bitwise.hpp; the floating tables leave them empty).
enum class Binary : int {
  add, sub, mul, div, maximum, minimum, pow,
  atan2, fmod, remainder, hypot, logaddexp, zeta, nextafter, floor_divide,
  bitwise_and, bitwise_or, bitwise_xor, shift_left, shift_right, gcd, lcm,
  count
};
// clang-format on
// gx[i] = g[i] * f'(...) where `saved` is the op's input x (relu, gelu, softplus, silu)
// or its output y (sigmoid, tanh): whichever makes the derivative cheapest.
enum class UnaryGrad : int { relu, sigmoid, tanh, gelu, softplus, silu, count };
// Running combinations along a line (cumsum, cumprod, prod, cummax, cummin,
// logcumsumexp): sums, products, largest / smallest entries (a NaN wins from there on),
// or log(sum(exp)) of the elements up to each one; exclusive_product leaves the element
// itself out (1 for the first). kernels/cuda/scan_combine.hpp says how each combines.
enum class Scan : int { sum, product, exclusive_product, max, min, logaddexp };

// One Adam/AdamW step's constants (see optim::Adam):
//   g' = g + l2 p;  p *= decay;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
//   p -= step_size * m / (sqrt(v) * inv_sqrt_c2 + eps)
struct AdamStep {
  float beta1, beta2, eps, step_size, inv_sqrt_c2, l2, decay;
};

template <class T>
struct KernelTable {
  using UnaryFn = void (*)(std::int64_t n, const T* x, T* y);
  using BinaryFn = void (*)(std::int64_t n, const T* a, std::int64_t sa, const T* b,
                            std::int64_t sb, T* y);
  using UnaryGradFn = void (*)(std::int64_t n, const T* saved, const T* g, T* gx);
  using RowsFn = void (*)(std::int64_t rows, std::int64_t len, const T* x, T* y);
  using ArgRowsFn = void (*)(std::int64_t rows, std::int64_t len, const T* x, T* out,
                             std::int64_t* index);

  UnaryFn unary[static_cast<int>(Unary::count)];
  BinaryFn binary[static_cast<int>(Binary::count)];
  UnaryGradFn unary_grad[static_cast<int>(UnaryGrad::count)];
  void (*leaky_relu)(std::int64_t n, const T* x, T slope, T* y);
  void (*leaky_relu_grad)(std::int64_t n, const T* x, T slope, const T* g, T* gx);
  // y = x above 0, else alpha (e^x - 1); gx = g above 0, else g alpha e^x.
  void (*elu)(std::int64_t n, const T* x, T alpha, T* y);
  void (*elu_grad)(std::int64_t n, const T* x, T alpha, const T* g, T* gx);
  void (*clamp)(std::int64_t n, const T* x, T lo, T hi, T* y);
  // Dropout over n contiguous elements, forward (x the input) and backward (x the
  // gradient): y[i] = x[i] * (kept if element first + i of the counter-based stream
  // `seed` is kept, else 0), the keep rule of cuda_kernels::dropout_keeps<T>.
  void (*dropout)(std::int64_t n, const T* x, std::uint64_t seed, std::uint64_t first, std::uint64_t threshold,
                  T kept, T* y);
  RowsFn sum_rows;          // y[r] = sum_j x[r, j]         (x is rows x len, contiguous)
  RowsFn sumsq_rows;        // y[r] = sum_j x[r, j]^2       (norm's p = 2, one pass)
  ArgRowsFn max_rows;       // y[r] = max_j x[r, j], index = first argmax; NaN wins
  ArgRowsFn min_rows;
  RowsFn softmax_rows;      // y[r, :] = softmax(x[r, :])
  RowsFn log_softmax_rows;  // y[r, :] = log_softmax(x[r, :])
  // Sparse (CSR) x dense: y[r, :] = sum_k val[k] x[col[k], :] for k in [row_ptr[r], row_ptr[r+1]),
  // r = 0 .. rows-1; x is (cols, f) and y (rows, f), both contiguous. The caller vouches
  // for row_ptr[0] >= 0 and for col / val holding row_ptr[rows] entries; the kernel
  // checks the rest as it reads (row pointers rising up to row_ptr[rows], columns in
  // [0, cols)) and returns false at the first fault, never reading through it (y is
  // then partly written).
  bool (*spmm)(std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col,
               std::int64_t cols, const T* val, const T* x, T* y);
  // 2x2 / stride-2 max pooling of one (h, w) plane without padding into (h/2, w/2);
  // argmax (may be null) gets each winner's offset in the plane. The first maximum of
  // the window (read row by row) wins; the first NaN beats any number.
  void (*max_pool2x2)(std::int64_t h, std::int64_t w, const T* plane, T* out, std::int32_t* argmax);
  // Fused optimizer update over n contiguous parameters (float32 only; null for others).
  void (*adam)(std::int64_t n, T* p, const T* g, T* m, T* v, const AdamStep& s);
  // The normalisation ops (batch_norm, layer_norm, group_norm), in double whatever T is;
  // their sums in a fixed order that every variant follows (norm/norm_ref.hpp), so all
  // variants give the same bits. xhat = (x - mean) rstd, gw = g w (g where w is null).
  //  norm_moments: mean and biased variance of `runs` runs of len values, run i at x + i stride;
  //  norm_apply: y = xhat w + b, w and b read at k * ws (ws 1: per element, 0: one value), or null;
  //  norm_grad_sums: sums = {sum gw, sum gw xhat}; if given, share_gxhat += g xhat, share_g += g;
  //  norm_grad_apply: gx = rstd (gw - a - xhat b), w read at k * ws or null.
  void (*norm_moments)(std::int64_t runs, std::int64_t stride, std::int64_t len, const T* x, double* mean,
                       double* var);
  void (*norm_apply)(std::int64_t len, const T* x, double mean, double rstd, const T* w, const T* b,
                     std::int64_t ws, T* y);
  void (*norm_grad_sums)(std::int64_t len, const T* x, const T* g, const T* w, double mean, double rstd,
                         double* share_gxhat, double* share_g, double* sums);
  void (*norm_grad_apply)(std::int64_t len, const T* x, const T* g, const T* w, std::int64_t ws, double mean,
                          double rstd, double a, double b, T* gx);
};

// Fillers, one per variant. Each overwrites the entries it implements.
void fill_scalar(KernelTable<float>& table);
void fill_scalar(KernelTable<double>& table);
void fill_avx2(KernelTable<float>& table);
void fill_avx512(KernelTable<float>& table);
void fill_norm_scalar(KernelTable<float>& table);  // kernels/cpu/norm/
void fill_norm_scalar(KernelTable<double>& table);
void fill_norm_avx2(KernelTable<float>& table);
void fill_norm_avx512(KernelTable<float>& table);
void fill_special_avx2(KernelTable<float>& table);  // kernels/cpu/special/: lgamma, digamma
void fill_special_avx512(KernelTable<float>& table);

}  // namespace kiln::cpu
