// Sparse matrices in CSR form, for graphs: row r's nonzeros are
// col_idx[row_ptr[r] .. row_ptr[r+1]) with values in the same positions.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::graph {

using Edge = std::pair<std::int64_t, std::int64_t>;

struct CsrMatrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::int64_t> row_ptr{0};  // rows + 1 entries
  std::vector<std::int64_t> col_idx;     // sorted within each row
  std::vector<float> values;
  bool symmetric = false;  // set by the builders that guarantee A = A^T (spmm's backward uses it)

  std::int64_t nnz() const { return static_cast<std::int64_t>(col_idx.size()); }

  // From (row, col) pairs with values (default 1). Repeated entries are summed, in rising
  // order of value, so the matrix does not depend on the order of the list (nor on the
  // number of threads, which share the work). An entry outside rows x cols is an Error.
  static CsrMatrix from_coo(std::int64_t rows, std::int64_t cols, const std::vector<Edge>& entries,
                            const std::vector<float>& values = {});
  // The nonzeros of a dense 2-D floating tensor (on any device), row by row, as float32:
  // for sparse input features such as bag-of-words rows (NaN counts as nonzero).
  static CsrMatrix from_dense(const Tensor& dense);
  // The adjacency matrix of an undirected graph: each edge {u, v} sets A[u][v] = A[v][u] = 1.
  // Duplicate edges and self loops in the input are dropped; an edge naming a node outside
  // [0, nodes) is an Error.
  static CsrMatrix undirected(std::int64_t nodes, const std::vector<Edge>& edges);

  // Throws a kiln::Error naming `op` and the first fault unless the arrays form a CSR
  // matrix: rows + 1 row pointers rising from 0 to nnz(), one value per column index,
  // every column index in [0, cols). The builders above always do; the functions
  // here check a matrix before they read it (spmm chunk by chunk as it goes), so a
  // hand-assembled one with a fault is an Error, never a stray read.
  void check(const char* op) const;
  CsrMatrix transpose() const;
  // Row sums (for a 0/1 adjacency: the degree of each node), as a float32 tensor (rows).
  Tensor row_sums() const;
  // The dense (rows, cols) float32 matrix, for tests and small graphs.
  Tensor to_dense() const;
};

// A + I (the diagonal set to 1 where A has no self loop; kept where it has one).
CsrMatrix add_self_loops(const CsrMatrix& a);
// D^-1/2 (A + I) D^-1/2, D the degree matrix of A + I (Kipf & Welling's propagation matrix).
CsrMatrix normalize_symmetric(const CsrMatrix& a);
// D^-1 A: each row sums to 1 (rows without entries stay empty). For mean aggregation.
CsrMatrix normalize_rows(const CsrMatrix& a);

// A CSR matrix held as tensors on a device, for a graph that many products reuse.
// spmm(CsrMatrix, X) with X on a GPU makes one for each call (uploading the arrays
// every time), and on the CPU keeps a copy of the matrix (or of its transpose) for
// the backward; a DeviceCsr is checked, transposed (unless symmetric) and uploaded
// once, its arrays are shared by copies of it, and spmm(DeviceCsr, X) needs X on its
// device. Works on the CPU too. Immutable.
class DeviceCsr {
public:
  explicit DeviceCsr(const CsrMatrix& a, Device device = Device::cpu());
  std::int64_t rows() const { return a_->pattern->rows; }
  std::int64_t cols() const { return a_->pattern->cols; }
  std::int64_t nnz() const { return a_->pattern->col_idx.numel(); }
  Device device() const { return a_->values.device(); }
  bool symmetric() const { return a_ == t_; }
  const Tensor& row_ptr() const { return a_->pattern->row_ptr; }         // int64, rows + 1
  const Tensor& col_idx() const { return a_->pattern->col_idx; }         // int64, nnz
  const Tensor& values() const { return a_->values; }                    // float32, nnz
  std::int64_t longest_row() const { return a_->pattern->longest_row; }  // the most nonzeros in one row
  // int64, nnz: each nonzero's row (COO form, for per-edge ops such as attention).
  // Made on the device on first use, then kept and shared by copies.
  const Tensor& row_idx() const;
  DeviceCsr transpose() const { return DeviceCsr(t_, a_); }  // shares the arrays made with this one
  // The same sparsity pattern with other values: float32 (nnz) in this matrix's CSR
  // order, on its device (copied; no gradient flows into them). The row pointers and
  // column indices are shared, not uploaded again, and the transpose's values follow
  // on the device (a map from this matrix's entries to the transpose's is made on
  // first use and shared too; repeated entries of a row add up there). The result is
  // not marked symmetric. Dropout of sparse features is built on it.
  DeviceCsr with_values(const Tensor& values) const;

private:
  // Rows, columns and where the nonzeros are: shared by matrices that differ in values only.
  struct Pattern {
    std::int64_t rows, cols, longest_row;
    Tensor row_ptr, col_idx;
    mutable std::once_flag row_idx_made, to_transpose_made;
    mutable Tensor row_idx;
    mutable Tensor to_transpose;  // int64, nnz: where each entry lies in the transpose's arrays
  };
  struct Arrays {
    std::shared_ptr<const Pattern> pattern;
    Tensor values;
  };
  DeviceCsr(std::shared_ptr<const Arrays> a, std::shared_ptr<const Arrays> t)
      : a_(std::move(a)), t_(std::move(t)) {}
  const Tensor& to_transpose() const;
  std::shared_ptr<const Arrays> a_, t_;  // the matrix and its transpose (the same when symmetric)
};

}  // namespace kiln::graph

namespace kiln {

// Y = A X for sparse A (rows, cols) and dense X (cols, F) float32, parallel over rows.
// Differentiable in X: dX = A^T dY (A itself is a constant).
Tensor spmm(const graph::CsrMatrix& a, const Tensor& x);
// The same with A's arrays already on X's device (see DeviceCsr).
Tensor spmm(const graph::DeviceCsr& a, const Tensor& x);

// Dropout on a sparse matrix's stored values (sparse input features, as Kipf & Welling's
// code drops its bag-of-words inputs): each value kept with probability 1 - p and
// scaled by 1 / (1 - p), else 0, from one draw of the default generator, as
// dropout(Tensor) draws. Only stored values are drawn for, so the zeros cost nothing;
// the structure is kept (a dropped value stays as an explicit 0). Returns `a` itself
// when !training or p == 0. A constant: no gradient flows into the values.
graph::CsrMatrix dropout(const graph::CsrMatrix& a, double p, bool training);
// The same on a matrix held on a device: the values are drawn for there (the mask
// dropout(CsrMatrix) draws for the same seed), the pattern is shared
// (DeviceCsr::with_values), and the transpose, which spmm's backward reads, carries
// the same dropped values. Returns `a` itself when !training or p == 0.
graph::DeviceCsr dropout(const graph::DeviceCsr& a, double p, bool training);

// Softmax over each row's entries of A (attention over a node's neighbours): scores
// (nnz) or (nnz, H...) hold one score per nonzero in A's CSR order, H independent
// columns (e.g. attention heads); out[k] = exp(scores[k]) / sum of exp(scores[k'])
// over the k' of k's row. A's values are not read. Sums in double; an empty row has
// no entries to fill. Differentiable in scores: g_k = out_k (g_k - sum_row out g).
Tensor edge_softmax(const graph::DeviceCsr& a, const Tensor& scores);
// The same for a host matrix: made into a DeviceCsr on the scores' device for the call.
Tensor edge_softmax(const graph::CsrMatrix& a, const Tensor& scores);

}  // namespace kiln
