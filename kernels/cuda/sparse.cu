// CSR kernels. SpMM: one thread per output element y[r, j]. Threads of a warp share
// the row r and read x[col[k], j..j+31] together, so each nonzero costs one coalesced
// load of a feature row. The sum runs over the row's nonzeros in order, in the
// element type, as the CPU reference does. Edge softmax: one thread per (row, column)
// walks the row's entries in order, as the CPU loop does (sums in double).
//
// A row of more than kCsrChunk entries (a hub of a power-law graph) would keep its
// threads walking long after the rest of the GPU has finished, so those rows are
// skipped by the per-row kernels and split into chunks instead (index_math.hpp):
// a thread per (chunk, column) combines the chunk's part of each long row into a
// slot of scratch, and a thread per (chunk, column) where a long row begins combines
// that row's slots in chunk order. Their sums are the same terms as the row walk's,
// grouped by chunk, so they can differ from the CPU's in the last bits.
#include <limits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/sparse.cuh"
#include "kernels/cuda/unary_math.cuh"

namespace kiln::cuda_kernels {

namespace {

// Rows of more entries than this are left to the chunk kernels.
std::int64_t walked_whole(const CsrRows& a) {
  return a.longest > kCsrChunk ? kCsrChunk : std::numeric_limits<std::int64_t>::max();
}

// Calls fn(slot, row, begin, end) for the part [begin, end) of each long row in chunk
// c: slot 0 for the row that began before the chunk, 1 for the row that begins in it.
template <class Fn>
__device__ void each_long_part(const CsrRows& a, std::int64_t c, Fn&& fn) {
  const CsrChunkRows parts = csr_chunk_rows(a.row_ptr, a.rows, a.nnz, c);
  const std::int64_t start = c * kCsrChunk, stop = start + kCsrChunk < a.nnz ? start + kCsrChunk : a.nnz;
  if (parts.continues >= 0) fn(0, parts.continues, start, parts.continues_end);
  if (parts.begins >= 0) fn(1, parts.begins, a.row_ptr[parts.begins], stop);
}

// Where chunk c's slot (0 or 1) for column j of `columns` sits in scratch.
__device__ inline std::int64_t slot_at(std::int64_t c, int slot, std::int64_t j, std::int64_t columns) {
  return (2 * c + slot) * columns + j;
}

// The chunks a row of entries [begin, end) spans.
__device__ inline std::int64_t first_chunk(std::int64_t begin) { return begin / kCsrChunk; }
__device__ inline std::int64_t last_chunk(std::int64_t end) { return (end - 1) / kCsrChunk; }

// Row r's total, which begins in chunk c: its slots added in chunk order.
template <class A>
__device__ A row_total(const CsrRows& a, const A* part, std::int64_t c, std::int64_t r, std::int64_t j,
                       std::int64_t columns) {
  A acc = part[slot_at(c, 1, j, columns)];
  for (std::int64_t d = c + 1; d <= last_chunk(a.row_ptr[r + 1]); ++d) acc += part[slot_at(d, 0, j, columns)];
  return acc;
}

template <class T>
__device__ T spmm_dot(std::int64_t begin, std::int64_t end, std::int64_t f, std::int64_t j,
                      const std::int64_t* col, const T* val, const T* x) {
  T acc = 0;
  for (std::int64_t k = begin; k < end; ++k) acc += val[k] * x[col[k] * f + j];
  return acc;
}

template <class T>
__global__ void spmm_kernel(std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr,
                            const std::int64_t* col, const T* val, const T* x, T* y,
                            std::int64_t longest_walked) {
  for (std::int64_t e = global_index(); e < rows * f; e += grid_stride()) {
    const std::int64_t r = e / f, j = e % f, begin = row_ptr[r], end = row_ptr[r + 1];
    if (end - begin <= longest_walked) y[e] = spmm_dot(begin, end, f, j, col, val, x);
  }
}

template <class T>
__global__ void spmm_chunk_parts(CsrRows a, std::int64_t f, const std::int64_t* col, const T* val, const T* x,
                                 T* part) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * f; e += grid_stride()) {
    const std::int64_t c = e / f, j = e % f;
    each_long_part(a, c, [&](int slot, std::int64_t, std::int64_t begin, std::int64_t end) {
      part[slot_at(c, slot, j, f)] = spmm_dot(begin, end, f, j, col, val, x);
    });
  }
}

template <class T>
__global__ void spmm_chunk_rows(CsrRows a, std::int64_t f, const T* part, T* y) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * f; e += grid_stride()) {
    const std::int64_t c = e / f, j = e % f;
    const std::int64_t r = csr_chunk_rows(a.row_ptr, a.rows, a.nnz, c).begins;
    if (r >= 0) y[r * f + j] = row_total(a, part, c, r, j, f);
  }
}

// The largest of x[k * h + j] over [begin, end), a nonempty range.
template <class T>
__device__ T column_max(std::int64_t begin, std::int64_t end, std::int64_t h, std::int64_t j, const T* x) {
  T m = x[begin * h + j];
  for (std::int64_t k = begin + 1; k < end; ++k) m = x[k * h + j] > m ? x[k * h + j] : m;
  return m;
}

// y[k, j] = exp(x[k, j] - m) / s over row r's entries k, m their maximum, s the sum of the exps.
template <class T>
__global__ void edge_softmax_kernel(std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr,
                                    const T* x, T* y, std::int64_t longest_walked) {
  for (std::int64_t e = global_index(); e < rows * h; e += grid_stride()) {
    const std::int64_t r = e / h, j = e % h, begin = row_ptr[r], end = row_ptr[r + 1];
    if (begin == end || end - begin > longest_walked) continue;
    const T m = column_max(begin, end, h, j, x);
    double s = 0;
    for (std::int64_t k = begin; k < end; ++k) {
      const T p = Exp{}(x[k * h + j] - m);
      y[k * h + j] = p;
      s += p;
    }
    const T inv = static_cast<T>(1.0 / s);
    for (std::int64_t k = begin; k < end; ++k) y[k * h + j] *= inv;
  }
}

// Long rows: each part's maximum m and sum of exp(x - m), as a pair of doubles per slot.
template <class T>
__global__ void edge_softmax_chunk_parts(CsrRows a, std::int64_t h, const T* x, double* part) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * h; e += grid_stride()) {
    const std::int64_t c = e / h, j = e % h;
    each_long_part(a, c, [&](int slot, std::int64_t, std::int64_t begin, std::int64_t end) {
      const T m = column_max(begin, end, h, j, x);
      double s = 0;
      for (std::int64_t k = begin; k < end; ++k) s += Exp{}(x[k * h + j] - m);
      part[2 * slot_at(c, slot, j, h)] = m;
      part[2 * slot_at(c, slot, j, h) + 1] = s;
    });
  }
}

// The row's maximum and 1 / (its sum of exps), from its parts in chunk order, into
// the slot of the chunk where it begins.
__global__ void edge_softmax_chunk_rows(CsrRows a, std::int64_t h, double* part) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * h; e += grid_stride()) {
    const std::int64_t c = e / h, j = e % h;
    const std::int64_t r = csr_chunk_rows(a.row_ptr, a.rows, a.nnz, c).begins;
    if (r < 0) continue;
    const std::int64_t last = last_chunk(a.row_ptr[r + 1]);
    double m = part[2 * slot_at(c, 1, j, h)];
    for (std::int64_t d = c + 1; d <= last; ++d) m = fmax(m, part[2 * slot_at(d, 0, j, h)]);
    double s = 0;
    for (std::int64_t d = c; d <= last; ++d) {
      const std::int64_t at = 2 * slot_at(d, d == c ? 1 : 0, j, h);
      s += part[at + 1] * exp(part[at] - m);
    }
    part[2 * slot_at(c, 1, j, h)] = m;
    part[2 * slot_at(c, 1, j, h) + 1] = 1.0 / s;
  }
}

template <class T>
__global__ void edge_softmax_chunk_apply(CsrRows a, std::int64_t h, const double* part, const T* x, T* y) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * h; e += grid_stride()) {
    const std::int64_t c = e / h, j = e % h;
    each_long_part(a, c, [&](int, std::int64_t r, std::int64_t begin, std::int64_t end) {
      const std::int64_t at = 2 * slot_at(first_chunk(a.row_ptr[r]), 1, j, h);
      const T m = static_cast<T>(part[at]), inv = static_cast<T>(part[at + 1]);
      for (std::int64_t k = begin; k < end; ++k) y[k * h + j] = Exp{}(x[k * h + j] - m) * inv;
    });
  }
}

// sum over [begin, end) of y g, in double
template <class T>
__device__ double column_dot(std::int64_t begin, std::int64_t end, std::int64_t h, std::int64_t j, const T* y,
                             const T* g) {
  double dot = 0;
  for (std::int64_t k = begin; k < end; ++k) dot += static_cast<double>(y[k * h + j]) * g[k * h + j];
  return dot;
}

// gx[k, j] = y[k, j] (g[k, j] - sum over the row of y g)
template <class T>
__global__ void edge_softmax_backward_kernel(std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr,
                                             const T* y, const T* g, T* gx, std::int64_t longest_walked) {
  for (std::int64_t e = global_index(); e < rows * h; e += grid_stride()) {
    const std::int64_t r = e / h, j = e % h, begin = row_ptr[r], end = row_ptr[r + 1];
    if (end - begin > longest_walked) continue;
    const T d = static_cast<T>(column_dot(begin, end, h, j, y, g));
    for (std::int64_t k = begin; k < end; ++k) gx[k * h + j] = y[k * h + j] * (g[k * h + j] - d);
  }
}

template <class T>
__global__ void edge_softmax_backward_chunk_parts(CsrRows a, std::int64_t h, const T* y, const T* g,
                                                  double* part) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * h; e += grid_stride()) {
    const std::int64_t c = e / h, j = e % h;
    each_long_part(a, c, [&](int slot, std::int64_t, std::int64_t begin, std::int64_t end) {
      part[slot_at(c, slot, j, h)] = column_dot(begin, end, h, j, y, g);
    });
  }
}

// The row's sum of y g, from its parts in chunk order, into the slot of the chunk where it begins.
__global__ void edge_softmax_backward_chunk_rows(CsrRows a, std::int64_t h, double* part) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * h; e += grid_stride()) {
    const std::int64_t c = e / h, j = e % h;
    const std::int64_t r = csr_chunk_rows(a.row_ptr, a.rows, a.nnz, c).begins;
    if (r >= 0) part[slot_at(c, 1, j, h)] = row_total(a, part, c, r, j, h);
  }
}

template <class T>
__global__ void edge_softmax_backward_chunk_apply(CsrRows a, std::int64_t h, const double* part, const T* y,
                                                  const T* g, T* gx) {
  for (std::int64_t e = global_index(); e < csr_chunks(a.nnz) * h; e += grid_stride()) {
    const std::int64_t c = e / h, j = e % h;
    each_long_part(a, c, [&](int, std::int64_t r, std::int64_t begin, std::int64_t end) {
      const T d = static_cast<T>(part[slot_at(first_chunk(a.row_ptr[r]), 1, j, h)]);
      for (std::int64_t k = begin; k < end; ++k) gx[k * h + j] = y[k * h + j] * (g[k * h + j] - d);
    });
  }
}

// A thread per entry finds its row, so a long row is as quick as many short ones.
__global__ void csr_row_indices_kernel(CsrRows a, std::int64_t* out) {
  for (std::int64_t k = global_index(); k < a.nnz; k += grid_stride())
    out[k] = csr_row_of(a.row_ptr, a.rows, k);
}

}  // namespace

void spmm(Scalar t, const CsrRows& a, const std::int64_t* col, std::int64_t f, const void* val, const void* x,
          void* y, void* scratch) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(a.rows * f, spmm_kernel<T>, a.rows, f, a.row_ptr, col, val, x, y, walked_whole(a));
    if (a.longest <= kCsrChunk) return;
    launch_over(csr_chunks(a.nnz) * f, spmm_chunk_parts<T>, a, f, col, val, x, scratch);
    launch_over(csr_chunks(a.nnz) * f, spmm_chunk_rows<T>, a, f, scratch, y);
  });
}

void edge_softmax(Scalar t, const CsrRows& a, std::int64_t h, const void* x, void* y, double* scratch) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(a.rows * h, edge_softmax_kernel<T>, a.rows, h, a.row_ptr, x, y, walked_whole(a));
    if (a.longest <= kCsrChunk) return;
    launch_over(csr_chunks(a.nnz) * h, edge_softmax_chunk_parts<T>, a, h, x, scratch);
    launch_over(csr_chunks(a.nnz) * h, edge_softmax_chunk_rows, a, h, scratch);
    launch_over(csr_chunks(a.nnz) * h, edge_softmax_chunk_apply<T>, a, h, scratch, x, y);
  });
}

void edge_softmax_backward(Scalar t, const CsrRows& a, std::int64_t h, const void* y, const void* g, void* gx,
                           double* scratch) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(a.rows * h, edge_softmax_backward_kernel<T>, a.rows, h, a.row_ptr, y, g, gx, walked_whole(a));
    if (a.longest <= kCsrChunk) return;
    launch_over(csr_chunks(a.nnz) * h, edge_softmax_backward_chunk_parts<T>, a, h, y, g, scratch);
    launch_over(csr_chunks(a.nnz) * h, edge_softmax_backward_chunk_rows, a, h, scratch);
    launch_over(csr_chunks(a.nnz) * h, edge_softmax_backward_chunk_apply<T>, a, h, scratch, y, g, gx);
  });
}

void csr_row_indices(const CsrRows& a, std::int64_t* out) {
  launch_over(a.nnz, csr_row_indices_kernel, a, out);
}

}  // namespace kiln::cuda_kernels
