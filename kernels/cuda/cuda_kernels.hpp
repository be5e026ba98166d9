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
#include "kernels/cuda/divider.hpp"

namespace kiln::cuda_kernels {

// The element types the kernels are instantiated for.
enum class Scalar : int { f32, f64, i64, i32, u8, i8 };

inline constexpr int kMaxDims = 8;

// An n-d loop over `shape` with up to four operands (operand 0 is the output),
// strides in elements, 0 along broadcast dimensions. `dense` says every operand
// is contiguous over the same shape, so element i sits at offset i in each.
// `narrow` says element numbers fit 32 bits (numel <= 2^30), so a kernel unravels
// them with `shape_div`, each dimension's size as a multiply-shift divider.
struct Loop {
  int ndim = 0;
  bool dense = false;
  bool narrow = false;
  std::int64_t numel = 0;
  std::int64_t shape[kMaxDims] = {};
  std::int64_t stride[4][kMaxDims] = {};
  Divider32 shape_div[kMaxDims] = {};
};

// The row structure of a CSR matrix on the device: row_ptr has rows + 1 entries,
// the last nnz; `longest` is the most entries any row has.
struct CsrRows {
  std::int64_t rows = 0, nnz = 0, longest = 0;
  const std::int64_t* row_ptr = nullptr;
};

enum class Compare : int { eq, ne, lt, le, gt, ge };

// Activations with one parameter: leaky_relu (the negative slope), elu (alpha).
enum class ParamActivation : int { leaky_relu, elu };

// A q4_0 block (kiln::quant::BlockQ4_0): 32 values in 20 bytes.
inline constexpr int kQ4BlockValues = 32, kQ4BlockBytes = 20;

// A 2-D convolution's sizes: input (n, c, h, w), kernel (kh, kw), output (oh, ow).
struct ConvShape {
  std::int64_t n, c, h, w, kh, kw, oh, ow;
  std::int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
};
// A 2-D pooling's sizes over `planes` = N * C planes of (h, w) -> (oh, ow).
struct PoolShape {
  std::int64_t planes, h, w, oh, ow, kh, kw, stride_h, stride_w, pad_h, pad_w;
  bool count_include_pad;  // avg_pool's divisor (index_math.hpp's pool_window_length)
};

// Bad input a kernel finds (an index out of range) is reported without making the
// host wait: the kernel counts it in an IndexReport in device memory, records one
// instance, and sets a flag in mapped host memory, which the host reads for free at
// its next copy to the host (src/cuda/device_reports.cpp turns it into an Error).
struct IndexReport {
  unsigned long long count;        // bad indices found since the last report
  unsigned int claimed;            // 1 once some thread has filled in the fields below
  long long position, value, bound;  // one of them: where, its value, the size it broke
};
struct ReportSlot {
  IndexReport* report;   // device memory
  unsigned int* raised;  // mapped host memory, one flag per device
};

// The parameters one Adam launch updates: tensor t has n[t] elements at p[t] with its
// gradient g[t], moments m[t], v[t] and its step's constants. The arrays travel in
// the launch's parameter space (about 2.6 KB of the 4 KB it may take).
inline constexpr int kAdamTensors = 32;
struct AdamTensors {
  int count = 0;
  float* p[kAdamTensors];
  const float* g[kAdamTensors];
  float* m[kAdamTensors];
  float* v[kAdamTensors];
  std::int64_t n[kAdamTensors];
  cpu::AdamStep step[kAdamTensors];
};

struct Table {
  // --- elementwise.cu ----------------------------------------------------------
  void (*fill)(Scalar t, const Loop& loop, void* dst, double value);
  // dst[i] = convert(src[i]) across element types (operand 0 dst, 1 src).
  void (*copy)(Scalar dst_t, Scalar src_t, const Loop& loop, void* dst, const void* src);
  void (*binary)(cpu::Binary op, Scalar t, const Loop& loop, void* out, const void* a, const void* b);
  void (*compare)(Compare op, Scalar t, const Loop& loop, std::uint8_t* out, const void* a, const void* b);
  // out = mask ? a : b (operands 0 out, 1 mask (uint8), 2 a, 3 b).
  void (*where)(Scalar t, const Loop& loop, void* out, const std::uint8_t* mask, const void* a, const void* b);
  // out[i] = uniform on [0, 1), a counter-based hash of (seed, i): the same seed
  // gives the same numbers whatever the launch shape. Floating types only.
  void (*random_uniform)(Scalar t, std::int64_t n, std::uint64_t seed, void* out);
  // out[i] = standard normal (Box-Muller on two such uniforms), same contract.
  void (*random_normal)(Scalar t, std::int64_t n, std::uint64_t seed, void* out);
  // y[i] = x[i] * (scale where dropout_keeps(seed, i, threshold) (counter_random.hpp),
  // else 0), over n contiguous elements: dropout forward (x the input) and backward
  // (x the gradient), the CPU's mask for the same seed. Floating types.
  void (*dropout)(Scalar t, std::int64_t n, const void* x, std::uint64_t seed, std::uint64_t threshold,
                  double scale, void* y);
  // Contiguous x -> y; floating types only.
  void (*unary)(cpu::Unary op, Scalar t, std::int64_t n, const void* x, void* y);
  void (*unary_grad)(cpu::UnaryGrad op, Scalar t, std::int64_t n, const void* saved, const void* g, void* gx);
  // y = f(x; param) and gx = g * f'(x; param) from the saved x, as the CPU's reference
  // kernels compute them (param rounded to T first); contiguous, floating types only.
  void (*param_activation)(ParamActivation op, Scalar t, std::int64_t n, const void* x, double param,
                           void* y);
  void (*param_activation_grad)(ParamActivation op, Scalar t, std::int64_t n, const void* x, double param,
                                const void* g, void* gx);

  // --- reduce.cu ---------------------------------------------------------------
  // out[o, i] = sum_k x[o, k, i] for a contiguous (outer, r, inner) x; floating
  // types accumulate in double, int64 in int64. `scratch` holds
  // sum_scratch_slots(outer, r, inner) 8-byte slots on the device (index_math.hpp;
  // null where that is 0). Each sum is rounded to T, then divided by T(divisor)
  // (a mean: the count; a sum: 1).
  void (*sum)(Scalar t, std::int64_t outer, std::int64_t r, std::int64_t inner, const void* x, void* out,
              void* scratch, double divisor);
  // y[row] = max (or min) of x[row, :] and index[row] its first position; the
  // first NaN wins. `index` may be null. x is contiguous (rows, len), len >= 1. A warp
  // per row, or, when the rows are few, slices of each as sum cuts them (a block per
  // slice, then a thread per row over its slices' picks); `scratch` holds
  // sum_scratch_slots(rows, len, 1) int64 on the device (null where that is 0).
  void (*extreme_rows)(Scalar t, bool minimum, std::int64_t rows, std::int64_t len, const void* x, void* y,
                       std::int64_t* index, std::int64_t* scratch);
  // y[r, :] = softmax(x[r, :]) or log_softmax; contiguous (rows, len); floating types.
  // Few long rows are cut into slices as sum's are: `scratch` holds
  // 3 * sum_scratch_slots(rows, len, 1) doubles on the device (null where that is 0).
  void (*softmax_rows)(Scalar t, bool log, std::int64_t rows, std::int64_t len, const void* x, void* y,
                       double* scratch);
  // index[r, :k] = the positions of row r's k largest (smallest) values of contiguous x
  // (rows, len), best first: a NaN counts as larger than any number, ties go to the
  // lower position. One warp per row, k passes over it; k <= len.
  void (*topk_rows)(Scalar t, bool largest, std::int64_t rows, std::int64_t len, std::int64_t k, const void* x,
                    std::int64_t* index);
  // index[r, :] = every position of row r of contiguous x (rows, len) in the order
  // topk_rows ranks them (largest: the largest first), a bitonic sort per row: a block
  // per row in shared memory up to kSortSpan positions, longer rows through scratch
  // (sort_scratch_slots(rows, len) int64, index_math.hpp; null where that is 0).
  void (*sort_rows)(Scalar t, bool largest, std::int64_t rows, std::int64_t len, const void* x, std::int64_t* index,
                    std::int64_t* scratch);
  // out[o, j, i] = the sum (product) of x[o, 0..j, i] (reverse: of x[o, j..n-1, i]; an
  // exclusive product leaves x[o, j, i] out) for contiguous x and out (outer, n, inner);
  // in double for floating types, int64 for integers. Each (o, i) line is walked in
  // order, by one thread or, when the lines are few, in slices (index_math.hpp's
  // scan_split); `scratch` holds scan_scratch_slots(outer, n, inner) 8-byte slots on
  // the device (null where that is 0).
  void (*scan)(Scalar t, cpu::Scan op, bool reverse, std::int64_t outer, std::int64_t n, std::int64_t inner,
               const void* x, void* out, void* scratch);
  // out[o, i] = the product of x[o, :, i] for a contiguous (outer, r, inner) x, as the
  // last step of scan's running product (the same slices and scratch, no running values).
  void (*product)(Scalar t, std::int64_t outer, std::int64_t r, std::int64_t inner, const void* x, void* out,
                  void* scratch);

  // --- index.cu ----------------------------------------------------------------
  // out[o, j, :] = x[o, index[j], :] for x (outer, n, inner), out (outer, m, inner).
  // A negative index counts from the end (index + n); one outside [-n, n) is never
  // read through: its rows are 0 and it goes to `bad_index` (position = j, bound = n).
  void (*index_rows)(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                     const void* x, const std::int64_t* index, void* out, ReportSlot bad_index);
  // gx[o, index[j], :] += g[o, j, :] (atomic adds: repeated indices sum in any order);
  // indices as index_rows reads them, one out of range skipped and sent to `bad_index`
  // unless its `report` is null (indices known to be good).
  void (*index_add_rows)(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                         const void* g, const std::int64_t* index, void* gx, ReportSlot bad_index);
  // gather along one dimension of size n: an n-d loop over the index's shape with
  // operands 0 out, 1 x (stride 0 along the gathered dimension), 2 index (int64);
  // out[e] = x[base(e) + i_e * dim_stride], i_e the index entry, counted from the end
  // when negative if `wrap` is set. An entry outside [-n, n) (without wrap: [0, n))
  // is never read through: out reads 0 and it goes to `bad_index` (position = e,
  // the entry's row-major number in the index, bound = n).
  void (*gather)(Scalar t, const Loop& loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const void* x,
                 const std::int64_t* index, void* out, ReportSlot bad_index);
  // Its adjoint, gx[base(e) + i_e * dim_stride] += g[e] (atomic; operands 0 g, 1 gx,
  // 2 index); a bad entry is skipped.
  void (*gather_add)(Scalar t, const Loop& loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const void* g,
                     const std::int64_t* index, void* gx);
  // out[r, j] = sorted_position (index_math.hpp) of values[r, j] in row r of seq, rows of
  // m sorted entries (one row for all when `shared`); values (rows, n) contiguous.
  void (*searchsorted)(Scalar t, std::int64_t rows, std::int64_t m, std::int64_t n, bool shared,
                       const void* seq, const void* values, bool right, std::int64_t* out);

  // --- norm.cu -----------------------------------------------------------------
  // Batch norm over x viewed as (n, c, l), statistics per channel over n * l values,
  // accumulated in double as the CPU does. Training: mean and biased variance of x,
  // invstd = 1 / sqrt(var + eps); when running_mean / running_var (element type) are
  // given they move by `momentum` (the variance unbiased). Returns mean and invstd in
  // double (c each) for the output and the backward pass. `scratch` holds
  // batch_norm_scratch_doubles(c, n * l) doubles on the device (index_math.hpp).
  void (*batch_norm_stats)(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, double eps,
                           double momentum, void* running_mean, void* running_var, double* mean, double* invstd,
                           double* scratch);
  // y = x * (invstd w) + (b - mean invstd w); w, b may be null (1 and 0).
  void (*batch_norm_apply)(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x,
                           const double* mean, const double* invstd, const void* w, const void* b, void* y);
  // gw = sum g xhat, gb = sum g per channel (may be null); gx (may be null) =
  // w invstd (g - gb/M - xhat gw/M) in training, w invstd g in evaluation.
  // `scratch` as for batch_norm_stats.
  void (*batch_norm_backward)(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, const void* g,
                              const double* mean, const double* invstd, const void* w, bool training, void* gx,
                              void* gw, void* gb, double* scratch);

  // --- sparse.cu ---------------------------------------------------------------
  // CSR x dense: y[r, :] = sum_k val[k] x[col[k], :], k in [row_ptr[r], row_ptr[r+1]);
  // all arrays on the device, val of the element type, x (*, f) and y (rows, f)
  // contiguous. Rows of more than kCsrChunk entries are split (index_math.hpp):
  // then `scratch` holds csr_chunk_scratch_slots(nnz, f) values of the element type
  // (null when a.longest <= kCsrChunk).
  void (*spmm)(Scalar t, const CsrRows& a, const std::int64_t* col, std::int64_t f, const void* val,
               const void* x, void* y, void* scratch);
  // Softmax over each row's entries, per column: x, y contiguous (nnz, h) in CSR order,
  // y[k, j] = exp(x[k, j] - max) / sum over row r's k (sums in double); and its
  // gradient gx[k, j] = y[k, j] (g[k, j] - sum over the row of y g). Floating types.
  // Long rows split as spmm's: `scratch` holds csr_chunk_scratch_slots(nnz, h, 2)
  // doubles for the forward, csr_chunk_scratch_slots(nnz, h) for the backward (null
  // when a.longest <= kCsrChunk).
  void (*edge_softmax)(Scalar t, const CsrRows& a, std::int64_t h, const void* x, void* y, double* scratch);
  void (*edge_softmax_backward)(Scalar t, const CsrRows& a, std::int64_t h, const void* y, const void* g,
                                void* gx, double* scratch);
  // out[k] = r for every entry k of row r (COO row indices from row pointers).
  void (*csr_row_indices)(const CsrRows& a, std::int64_t* out);

  // --- loss.cu -----------------------------------------------------------------
  // logp = log_softmax(logits); loss[i] = -(1-eps) logp[i, t_i] - eps/c sum_j logp[i, j].
  // A target outside [0, c) is never read through: its loss is NaN and it goes to
  // `bad_targets` (position = sample, bound = c). The host does not wait for it.
  // Few rows of many classes are cut into slices as softmax_rows cuts them, with the
  // same scratch (null where it needs none).
  void (*cross_entropy)(Scalar t, std::int64_t n, std::int64_t c, const void* logits,
                        const std::int64_t* target, double eps, void* logp, void* loss,
                        ReportSlot bad_targets, double* scratch);
  // gx[i, j] = coef_i (exp(logp[i, j]) - q_ij), q = (1-eps) onehot(t_i) + eps/c, where
  // coef_i = g[i] * scale when per_sample, else g[0] * scale (g on the device).
  void (*cross_entropy_backward)(Scalar t, std::int64_t n, std::int64_t c, const void* logp,
                                 const std::int64_t* target, double eps, const void* g, bool per_sample,
                                 double scale, void* gx);
  // Binary cross-entropy with logits over n contiguous elements:
  // loss = (1 - y) x + (1 + (w - 1) y) softplus(-x), with pos_weight w read at
  // e * w_stride (0: one value), or w = 1 where w is null; and its gradient
  // gx = g (1 - y) - g (1 + (w - 1) y) sigmoid(-x), g read at e * g_stride.
  void (*bce_with_logits)(Scalar t, std::int64_t n, const void* x, const void* y, const void* w,
                          std::int64_t w_stride, void* loss);
  void (*bce_with_logits_backward)(Scalar t, std::int64_t n, const void* x, const void* y, const void* w,
                                   std::int64_t w_stride, const void* g, std::int64_t g_stride, void* gx);

  // --- vae.cu ------------------------------------------------------------------
  // Over n contiguous elements, m = mu, s = logstd: the Gaussian KL term's values
  // out = scale (1 + 2 s - m^2 - exp(2 s)) and their gradients
  // g_mu = -2 scale g m, g_logstd = 2 scale g (1 - exp(2 s)), g read at e * g_stride.
  void (*gaussian_kl_terms)(Scalar t, std::int64_t n, const void* mu, const void* logstd, double scale, void* out);
  void (*gaussian_kl_terms_backward)(Scalar t, std::int64_t n, const void* mu, const void* logstd, double scale,
                                     const void* g, std::int64_t g_stride, void* g_mu, void* g_logstd);
  // z = mu + eps exp(logstd), and g_logstd = g eps exp(logstd) (g read at e * g_stride).
  void (*reparameterize)(Scalar t, std::int64_t n, const void* mu, const void* logstd, const void* eps, void* z);
  void (*reparameterize_backward)(Scalar t, std::int64_t n, const void* logstd, const void* eps, const void* g,
                                  std::int64_t g_stride, void* g_logstd);
  // The inner-product decoder over `pairs` pairs of rows of z (n rows of d values):
  // out[k] = z[src[k]] . z[dst[k]], an entry counted from the end when negative; a pair
  // with an entry outside [-n, n) scores 0 and is reported (position k for src, -1 - k
  // for dst). Backward, into dz (zeroed): dz[src[k]] += g_k z[dst[k]] and dz[dst[k]] +=
  // g_k z[src[k]], g_k read at k * g_stride; atomic, so repeats add in any order.
  void (*inner_product_pairs)(Scalar t, std::int64_t pairs, std::int64_t n, std::int64_t d, const void* z,
                              const std::int64_t* src, const std::int64_t* dst, void* out,
                              ReportSlot bad_index);
  void (*inner_product_pairs_backward)(Scalar t, std::int64_t pairs, std::int64_t n, std::int64_t d,
                                       const void* z, const std::int64_t* src, const std::int64_t* dst,
                                       const void* g, std::int64_t g_stride, void* dz);

  // --- conv.cu -----------------------------------------------------------------
  // The whole batch's columns, channels-major: col has C*kh*kw rows and N*OH*OW
  // columns, col[(ci*kh + i)*kw + j][img*OH*OW + y*OW + x] = image[img][ci][y*sh - ph + i*dh][x*sw - pw + j*dw]
  // (0 outside), so one GEMM W (O, C*kh*kw) @ col convolves every image at once.
  // Any element type (int8 for quantized convolution).
  void (*im2col)(Scalar t, const ConvShape& s, const void* image, void* col);
  // Its adjoint: every image element is the sum of the col entries it was copied to.
  void (*col2im)(Scalar t, const ConvShape& s, const void* col, void* image);
  // Max over each window (padding excluded; the first NaN, else the first maximum,
  // wins); argmax holds the winner's offset in its input plane.
  void (*max_pool)(Scalar t, const PoolShape& s, const void* x, void* y, std::int32_t* argmax);
  // gx[p][k] = sum of g over the outputs of plane p whose winner is k.
  void (*max_pool_backward)(Scalar t, const PoolShape& s, const void* g, const std::int32_t* argmax, void* gx);
  // Mean over each window, dividing by kh*kw (padding counts as zeros).
  void (*avg_pool)(Scalar t, const PoolShape& s, const void* x, void* y);
  void (*avg_pool_backward)(Scalar t, const PoolShape& s, const void* g, void* gx);

  // --- quant.cu ----------------------------------------------------------------
  // Integer parts equal the CPU reference (kernels/cpu/quant) bit for bit, and so
  // do the float outputs: the same operations in the same order, no contraction.
  // Dynamic activations: scale[r] = max|x[r, :]| / 127 (1 for a zero row) and
  // q[r, j] = rint(clamp(x[r, j] * (127 / max|x|), -127, 127)); static: x * inv_scale.
  // Columns k .. ldq of q are zeroed (the padding the products read).
  void (*quantize_rows)(std::int64_t rows, std::int64_t k, const float* x, std::int64_t ldx, float inv_scale,
                        std::int8_t* q, std::int64_t ldq, float* scale);
  // q[r, :] = a[r, :] (rows of k values, a row every lda) zero-padded to ldq columns.
  // A value of -128, outside the symmetric range, is copied and goes to `bad_value`
  // (position = r * k + j, value -128, bound 127).
  void (*pad_rows_s8)(std::int64_t rows, std::int64_t k, const std::int8_t* a, std::int64_t lda, std::int8_t* q,
                      std::int64_t ldq, ReportSlot bad_value);
  // c[i, j] = sum_k a[i, k] w[j, k] in int32; a (m, lda), w (n, ldw), k a multiple of 4,
  // both 4-byte aligned rows (cuBLASLt's int8 tensor-core GEMM when it takes the
  // shape, else kiln's dp4a kernel; `force_dp4a` picks the latter).
  void (*gemm_s8_s32)(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
                      const std::int8_t* w, std::int64_t ldw, std::int32_t* c, bool force_dp4a);
  // y[i, j] = c[i, j] * (a_scale[i] * w_scale[j]) + bias[j], then ReLU; bias may be null.
  void (*finish_int8)(std::int64_t m, std::int64_t n, const std::int32_t* c, const float* a_scale,
                      const float* w_scale, const float* bias, bool relu, float* y);
  // q4_0 weights (n rows of k/32 BlockQ4_0) times int8 a (m, lda): per block the
  // exact int32 dot, acc = fma(dot, block scale, acc) over the blocks in order,
  // y = acc * a_scale[i] + bias[j], ReLU. The weights are unpacked in registers.
  void (*gemm_q4)(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
                  const void* blocks, const float* a_scale, const float* bias, bool relu, float* y);

  // --- blas.cu (cuBLAS) --------------------------------------------------------
  // Row-major C = op(A) op(B) + beta C, as cblas_?gemm with CblasRowMajor; f32 / f64.
  void (*gemm)(Scalar t, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const void* a,
               std::int64_t lda, const void* b, std::int64_t ldb, double beta, void* c, std::int64_t ldc);

  // --- linalg.cu ---------------------------------------------------------------
  // A thread per matrix of `batch` contiguous n x n float64 matrices (matrix_factor.hpp).
  // lu_factor: a = P L U in place, pivots (batch, n), and, where `dets` is not null,
  // (det, sign, log|det|) per matrix; a singular matrix goes to `singular` (position: the
  // matrix, value: the first zero pivot, bound: n) unless its report is null.
  void (*lu_factor)(std::int64_t batch, std::int64_t n, double* a, std::int64_t* pivots, double* dets,
                    ReportSlot singular);
  // b (batch, n, m) = A^-1 b from lu_factor's lu and pivots.
  void (*lu_solve)(std::int64_t batch, std::int64_t n, std::int64_t m, const double* lu,
                   const std::int64_t* pivots, double* b);
  // b (batch, n, m) = T^-1 b, T the lower (upper) triangle of t, unit diagonal when told.
  void (*triangular_solve)(std::int64_t batch, std::int64_t n, std::int64_t m, const double* t, double* b,
                           bool upper, bool unit);
  // a = L (lower, upper part zeroed) with L L^T = a's lower triangle mirrored; a matrix
  // that is not positive definite goes to the slot (value: the failing order - 1).
  void (*cholesky)(std::int64_t batch, std::int64_t n, double* a, ReportSlot not_positive_definite);
  // Householder QR of a (batch, m, n) (overwritten), tau (batch, min(m, n)) scratch:
  // q (batch, m, k) and r (batch, k, n), k = min(m, n).
  void (*qr)(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* tau, double* q,
             double* r);
  // Eigenvalues w (batch, n), ascending, and eigenvectors v (batch, n, n), as columns, of
  // the symmetric matrices whose lower triangles a holds (overwritten).
  void (*eigh)(std::int64_t batch, std::int64_t n, double* a, double* w, double* v);
  // The thin SVD of a (batch, m, n), m >= n: a becomes U, s (batch, n) descending, v
  // (batch, n, n) V; signs as matrix_factor.hpp's jacobi_svd_one.
  void (*svd)(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* s, double* v,
              bool sign_by_v);

  // --- optim.cu ----------------------------------------------------------------
  // One fused Adam / AdamW step over up to kAdamTensors contiguous float32
  // parameters, in one launch (AdamTensors below).
  void (*adam)(const AdamTensors& batch);
};


// The table of this build (throws a kiln::Error in a build without CUDA).
const Table& table();

}  // namespace kiln::cuda_kernels
