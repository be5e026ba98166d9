#include "kiln/graph/csr.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cuda/counter_random.hpp"  // dropout_threshold
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/core/threads.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/graph/balanced_rows.hpp"

namespace kiln::graph {

namespace {

// The first fault of CSR arrays whose sizes and ends are right, or "" when there is none.
std::string csr_fault(const CsrMatrix& a) {
  const std::int64_t* ptr = a.row_ptr.data();
  for (std::int64_t r = 0; r < a.rows; ++r)
    if (ptr[r + 1] < ptr[r])
      return detail::concat("row pointer ", r + 1, " (", ptr[r + 1], ") is below row pointer ", r, " (", ptr[r],
                            "); they must rise from 0 to nnz");
  for (std::int64_t k = 0; k < a.nnz(); ++k)
    if (a.col_idx[k] < 0 || a.col_idx[k] >= a.cols)
      return detail::concat("column index ", a.col_idx[k], " (nonzero ", k, ") is outside [0, ", a.cols, ")");
  return "";
}

// Sizes first: the row pointers and the values must match the rows and column indices.
void check_csr_sizes(const CsrMatrix& a, const char* op) {
  KILN_CHECK(a.rows >= 0 && a.cols >= 0 && static_cast<std::int64_t>(a.row_ptr.size()) == a.rows + 1 &&
                 a.values.size() == a.col_idx.size(),
             op, ": the CSR arrays do not fit together (", a.row_ptr.size(), " row pointers for ", a.rows,
             " rows, ", a.col_idx.size(), " column indices, ", a.values.size(),
             " values); expected rows + 1 row pointers and one value per column index");
  KILN_CHECK(a.row_ptr.front() == 0 && a.row_ptr.back() == a.nnz(), op, ": the row pointers run from ",
             a.row_ptr.front(), " to ", a.row_ptr.back(), "; they must run from 0 to the ", a.nnz(), " nonzeros");
}

}  // namespace

void CsrMatrix::check(const char* op) const {
  check_csr_sizes(*this, op);
  const std::string fault = csr_fault(*this);
  KILN_CHECK(fault.empty(), op, ": malformed CSR matrix (", rows, " x ", cols, "): ", fault);
}

Tensor CsrMatrix::row_sums() const {
  check("CsrMatrix::row_sums");
  Tensor out = Tensor::empty({rows}, kFloat32);
  float* p = out.data_ptr<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) s += values[k];
    p[r] = static_cast<float>(s);
  }
  return out;
}

CsrMatrix CsrMatrix::from_dense(const Tensor& dense) {
  KILN_CHECK(dense.dim() == 2, "CsrMatrix::from_dense: expected a 2-D (rows, cols) tensor but got shape ",
             fmt(dense.shape()));
  detail::check_floating("CsrMatrix::from_dense", dense);
  const Tensor x = dense.detach().to(Device::cpu()).contiguous();
  CsrMatrix m;
  m.rows = x.size(0);
  m.cols = x.size(1);
  m.row_ptr.assign(static_cast<std::size_t>(m.rows) + 1, 0);
  visit_floating(x.dtype(), "CsrMatrix::from_dense", [&]<class T>() {
    const T* p = x.data_ptr<T>();
    for (std::int64_t r = 0; r < m.rows; ++r) {
      for (std::int64_t c = 0; c < m.cols; ++c) {
        const T v = p[r * m.cols + c];
        if (v == T(0)) continue;  // NaN compares unequal: kept
        m.col_idx.push_back(c);
        m.values.push_back(static_cast<float>(v));
      }
      m.row_ptr[r + 1] = m.nnz();
    }
  });
  return m;
}

Tensor CsrMatrix::to_dense() const {
  check("CsrMatrix::to_dense");
  Tensor out = zeros({rows, cols});
  float* p = out.data_ptr<float>();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) p[r * cols + col_idx[k]] += values[k];
  return out;
}

namespace {

// Whether every row's columns strictly rise, as from_coo leaves them.
bool rows_strictly_sorted(const CsrMatrix& a) {
  for (std::int64_t r = 0; r < a.rows; ++r)
    for (std::int64_t k = a.row_ptr[r] + 1; k < a.row_ptr[r + 1]; ++k)
      if (a.col_idx[k - 1] >= a.col_idx[k]) return false;
  return true;
}

// add_self_loops for rows already sorted without repeats: one pass, each missing
// diagonal entry put in its place. The same matrix from_coo would build.
CsrMatrix add_self_loops_sorted(const CsrMatrix& a) {
  CsrMatrix m;
  m.rows = a.rows;
  m.cols = a.cols;
  m.symmetric = a.symmetric;
  m.row_ptr.assign(a.rows + 1, 0);
  m.col_idx.reserve(a.col_idx.size() + a.rows);
  m.values.reserve(a.col_idx.size() + a.rows);
  for (std::int64_t r = 0; r < a.rows; ++r) {
    const std::int64_t k1 = a.row_ptr[r + 1];
    std::int64_t k = a.row_ptr[r];
    for (; k < k1 && a.col_idx[k] < r; ++k) {
      m.col_idx.push_back(a.col_idx[k]);
      m.values.push_back(a.values[k]);
    }
    if (k == k1 || a.col_idx[k] != r) {
      m.col_idx.push_back(r);
      m.values.push_back(1.0f);
    }
    m.col_idx.insert(m.col_idx.end(), a.col_idx.begin() + k, a.col_idx.begin() + k1);
    m.values.insert(m.values.end(), a.values.begin() + k, a.values.begin() + k1);
    m.row_ptr[r + 1] = static_cast<std::int64_t>(m.col_idx.size());
  }
  return m;
}

}  // namespace

CsrMatrix add_self_loops(const CsrMatrix& a) {
  KILN_CHECK(a.rows == a.cols, "add_self_loops: the matrix is ", a.rows, " x ", a.cols, "; it must be square");
  a.check("add_self_loops");
  if (rows_strictly_sorted(a)) return add_self_loops_sorted(a);
  // Otherwise through from_coo, which sorts each row and sums repeated entries.
  std::vector<Edge> entries;
  std::vector<float> values;
  for (std::int64_t r = 0; r < a.rows; ++r) {
    bool has_loop = false;
    for (std::int64_t k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) {
      entries.emplace_back(r, a.col_idx[k]);
      values.push_back(a.values[k]);
      has_loop |= a.col_idx[k] == r;
    }
    if (!has_loop) {
      entries.emplace_back(r, r);
      values.push_back(1.0f);
    }
  }
  CsrMatrix m = CsrMatrix::from_coo(a.rows, a.cols, entries, values);
  m.symmetric = a.symmetric;
  return m;
}

CsrMatrix normalize_symmetric(const CsrMatrix& a) {
  CsrMatrix m = add_self_loops(a);
  // Â[i][j] = (A + I)[i][j] / sqrt(d_i d_j)
  std::vector<double> inv_sqrt(m.rows);
  for (std::int64_t r = 0; r < m.rows; ++r) {
    double d = 0;
    for (std::int64_t k = m.row_ptr[r]; k < m.row_ptr[r + 1]; ++k) d += m.values[k];
    inv_sqrt[r] = d > 0 ? 1.0 / std::sqrt(d) : 0.0;
  }
  for (std::int64_t r = 0; r < m.rows; ++r)
    for (std::int64_t k = m.row_ptr[r]; k < m.row_ptr[r + 1]; ++k)
      m.values[k] = static_cast<float>(m.values[k] * inv_sqrt[r] * inv_sqrt[m.col_idx[k]]);
  return m;
}

CsrMatrix normalize_rows(const CsrMatrix& a) {
  a.check("normalize_rows");
  CsrMatrix m = a;
  for (std::int64_t r = 0; r < m.rows; ++r) {
    double d = 0;
    for (std::int64_t k = m.row_ptr[r]; k < m.row_ptr[r + 1]; ++k) d += m.values[k];
    for (std::int64_t k = m.row_ptr[r]; k < m.row_ptr[r + 1]; ++k)
      m.values[k] = d != 0 ? static_cast<float>(m.values[k] / d) : 0.0f;
  }
  m.symmetric = false;
  return m;
}

DeviceCsr::DeviceCsr(const CsrMatrix& a, Device device) {
  a.check("DeviceCsr");
  const auto upload = [device](const CsrMatrix& m) {
    auto pattern = std::make_shared<Pattern>();
    pattern->rows = m.rows;
    pattern->cols = m.cols;
    pattern->longest_row = 0;
    for (std::int64_t r = 0; r < m.rows; ++r)
      pattern->longest_row = std::max(pattern->longest_row, m.row_ptr[r + 1] - m.row_ptr[r]);
    pattern->row_ptr = from_vector(m.row_ptr).to(device);
    pattern->col_idx = from_vector(m.col_idx).to(device);
    return std::make_shared<const Arrays>(Arrays{std::move(pattern), from_vector(m.values).to(device)});
  };
  a_ = upload(a);
  t_ = a.symmetric ? a_ : upload(a.transpose());
}

// For entry k = (r, c) of this matrix, the entry (c, r) of the transpose's arrays:
// found on the host, once per pattern, by a search in row c of the transpose (whose
// rows transpose() sorts; a symmetric matrix's own rows may come in any order when
// assembled by hand, and are then scanned).
const Tensor& DeviceCsr::to_transpose() const {
  const Pattern& mine = *a_->pattern;
  std::call_once(mine.to_transpose_made, [&mine, &theirs = *t_->pattern] {
    const auto host = [](const Tensor& t) { return t.to(Device::cpu()).to_vector<std::int64_t>(); };
    const std::vector<std::int64_t> ptr = host(mine.row_ptr), col = host(mine.col_idx);
    const std::vector<std::int64_t> t_ptr = host(theirs.row_ptr), t_col = host(theirs.col_idx);
    std::vector<char> sorted(theirs.rows);
    for (std::int64_t c = 0; c < theirs.rows; ++c)
      sorted[c] = std::is_sorted(t_col.begin() + t_ptr[c], t_col.begin() + t_ptr[c + 1]);
    std::vector<std::int64_t> where(col.size());
    for (std::int64_t r = 0; r < mine.rows; ++r) {
      for (std::int64_t k = ptr[r]; k < ptr[r + 1]; ++k) {
        const auto first = t_col.begin() + t_ptr[col[k]], last = t_col.begin() + t_ptr[col[k] + 1];
        auto at = sorted[col[k]] ? std::lower_bound(first, last, r) : std::find(first, last, r);
        KILN_CHECK(at != last && *at == r,
                   "DeviceCsr::with_values: the matrix is marked symmetric but entry (", r, ", ", col[k],
                   ") has no mirror (", col[k], ", ", r,
                   "); build it with CsrMatrix::undirected or leave symmetric false");
        where[k] = at - t_col.begin();
      }
    }
    mine.to_transpose = from_vector(where).to(mine.row_ptr.device());
  });
  return mine.to_transpose;
}

DeviceCsr DeviceCsr::with_values(const Tensor& values) const {
  KILN_CHECK(values.dtype() == kFloat32 && values.dim() == 1 && values.numel() == nnz(),
             "DeviceCsr::with_values: values of shape ", fmt(values.shape()), " and dtype ", values.dtype(),
             " for a sparse matrix with ", nnz(), " nonzeros; expected float32 (", nnz(), ")");
  KILN_CHECK(values.device() == device(), "DeviceCsr::with_values: the matrix is on ", device(),
             " but the values on ", values.device(), "; move them with .to(device)");
  const Tensor v = values.detach().clone();
  // The transpose's values: each entry's value added into its place there (once each,
  // unless this matrix repeats an entry, which the transpose merged).
  const Tensor& where = to_transpose();
  const std::int64_t t_nnz = t_->pattern->col_idx.numel();
  Tensor tv = zeros({t_nnz}, kFloat32, device());
  if (device().is_cuda()) {
    detail::cuda_for(v).index_add_rows(detail::cuda_scalar(kFloat32, "DeviceCsr::with_values"), 1, t_nnz,
                                       nnz(), 1, detail::dptr(v), detail::dptr<std::int64_t>(where),
                                       detail::dptr(tv),
                                       cuda_kernels::ReportSlot{});  // made above, all in range
  } else {
    const float* pv = v.data_ptr<float>();
    const std::int64_t* pw = where.data_ptr<std::int64_t>();
    float* pt = tv.data_ptr<float>();
    for (std::int64_t k = 0; k < nnz(); ++k) pt[pw[k]] += pv[k];
  }
  return DeviceCsr(std::make_shared<const Arrays>(Arrays{a_->pattern, v}),
                   std::make_shared<const Arrays>(Arrays{t_->pattern, std::move(tv)}));
}

}  // namespace kiln::graph

namespace kiln {

namespace {

// Y = A X on the CPU for A (rows, cols) in CSR arrays of nnz entries, rows split
// across threads in chunks of similar nonzero counts (balanced_rows.hpp). The kernel
// checks the structure as it reads (each task vouches for its ends); false if it met a
// fault.
bool spmm_cpu(std::int64_t rows, std::int64_t cols, std::int64_t nnz, const std::int64_t* row_ptr,
              const std::int64_t* col, const float* values, const Tensor& xc, Tensor& y) {
  const std::int64_t f = xc.size(1);
  std::atomic<bool> malformed{false};
  visit_floating(xc.dtype(), "spmm", [&]<class T>() {
    const auto fn = cpu::kernels<T>().spmm;
    std::vector<T> converted;  // float64 runs need the values as double
    const T* val;
    if constexpr (std::is_same_v<T, float>) {
      val = values;
    } else {
      converted.assign(values, values + nnz);
      val = converted.data();
    }
    const T* px = detail::ptr<T>(xc);
    T* py = detail::ptr<T>(y);
    // Tasks of at least ~256K multiply-adds: small graphs (Cora) run on one thread.
    detail::parallel_rows_by_work(rows, row_ptr, nnz, f, 262144, [&](std::int64_t b, std::int64_t e) {
      const bool ends_inside = row_ptr[b] >= 0 && row_ptr[e] <= nnz;
      if (!ends_inside || !fn(e - b, f, row_ptr + b, col, cols, val, px, py + b * f)) malformed = true;
    });
  });
  return !malformed;
}

// Y = A X on a GPU, the CSR arrays on x's device (values float32).
void spmm_cuda(const graph::DeviceCsr& a, const Tensor& xc, Tensor& y) {
  const Tensor val = a.values().to(xc.dtype());  // the kernel reads values of X's element type
  const std::int64_t f = xc.size(1);
  const Tensor scratch = detail::cuda_csr_scratch(a, f, 1, xc.dtype());
  detail::cuda_for(xc).spmm(detail::cuda_scalar(xc.dtype(), "spmm"), detail::cuda_csr_rows(a),
                            detail::dptr<std::int64_t>(a.col_idx()), f, detail::dptr(val), detail::dptr(xc),
                            detail::dptr(y), detail::dptr_or_null(scratch));
}

// On the CPU, straight from the CsrMatrix's vectors.
Tensor spmm_forward(const graph::CsrMatrix& a, const Tensor& x) {
  const Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty({a.rows, x.size(1)}, x.dtype(), x.device());
  if (!spmm_cpu(a.rows, a.cols, a.nnz(), a.row_ptr.data(), a.col_idx.data(), a.values.data(), xc, y))
    a.check("spmm");  // throws, naming the first fault
  return y;
}

Tensor spmm_forward(const graph::DeviceCsr& a, const Tensor& x) {
  const Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty({a.rows(), x.size(1)}, x.dtype(), x.device());
  if (x.device().is_cuda()) {
    spmm_cuda(a, xc, y);
  } else {
    const bool sound = spmm_cpu(a.rows(), a.cols(), a.nnz(), a.row_ptr().data_ptr<std::int64_t>(),
                                a.col_idx().data_ptr<std::int64_t>(), a.values().data_ptr<float>(), xc, y);
    KILN_ASSERT(sound);  // checked when it was made, and immutable since
  }
  return y;
}

// dropout(Tensor)'s keep rule and scale over float32 values on any device, from one
// draw of the default generator: each kept with probability 1 - p and scaled by
// 1 / (1 - p), else 0.
Tensor drop_values(const Tensor& values, double p) {
  const std::uint64_t seed = default_generator().next_u64();
  const std::uint64_t threshold = cuda_kernels::dropout_threshold(static_cast<float>(p));
  const double scale = p == 1 ? 1.0 : 1.0 / (1.0 - p);
  Tensor out = Tensor::empty(values.shape(), kFloat32, values.device());
  if (values.device().is_cuda()) {
    detail::cuda_for(values).dropout(detail::cuda_scalar(kFloat32, "dropout"), values.numel(),
                                     detail::dptr(values), seed, threshold, scale, detail::dptr(out));
    return out;
  }
  const float* in = values.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const auto kernel = cpu::kernels<float>().dropout;
  parallel_for(0, values.numel(), std::int64_t(1) << 14, [&](std::int64_t b, std::int64_t e) {
    kernel(e - b, in + b, seed, static_cast<std::uint64_t>(b), threshold, static_cast<float>(scale), o + b);
  });
  return out;
}

void check_dense_operand(std::int64_t rows, std::int64_t cols, const Tensor& x) {
  detail::check_floating("spmm", x);
  KILN_CHECK(x.dim() == 2 && x.size(0) == cols, "spmm: sparse matrix of shape (", rows, ", ", cols,
             ") cannot multiply dense shape ", fmt(x.shape()), "; expected (", cols, ", F)");
}

}  // namespace

Tensor spmm(const graph::CsrMatrix& a, const Tensor& x) {
  check_dense_operand(a.rows, a.cols, x);
  // On a GPU the matrix goes up with each call: hold a DeviceCsr to upload it once.
  if (x.device().is_cuda()) return spmm(graph::DeviceCsr(a, x.device()), x);
  graph::check_csr_sizes(a, "spmm");  // the entries are checked as the kernel reaches them
  Tensor y = spmm_forward(a, x);
  if (should_record({x})) {
    // d(A X)/dX: dX = A^T dY. A symmetric matrix is its own transpose.
    auto at = std::make_shared<const graph::CsrMatrix>(a.symmetric ? a : a.transpose());
    // While recording (create_graph), the recorded product: the rule is linear in g.
    attach_grad_fn(y, "spmm", {x}, [at](const Tensor& g) {
      return Grads{is_grad_enabled() ? spmm(*at, g) : spmm_forward(*at, g)};
    });
    mark_differentiable_backward(y);
  }
  return y;
}

graph::CsrMatrix dropout(const graph::CsrMatrix& a, double p, bool training) {
  KILN_CHECK(p >= 0 && p <= 1, "dropout: probability p = ", p, " must be in [0, 1]");
  if (!training || p == 0) return a;
  graph::check_csr_sizes(a, "dropout");
  graph::CsrMatrix out = a;
  out.symmetric = false;  // the values no longer mirror each other
  out.values = drop_values(from_vector(a.values), p).to_vector<float>();
  return out;
}

graph::DeviceCsr dropout(const graph::DeviceCsr& a, double p, bool training) {
  KILN_CHECK(p >= 0 && p <= 1, "dropout: probability p = ", p, " must be in [0, 1]");
  if (!training || p == 0) return a;
  return a.with_values(drop_values(a.values(), p));
}

Tensor spmm(const graph::DeviceCsr& a, const Tensor& x) {
  check_dense_operand(a.rows(), a.cols(), x);
  KILN_CHECK(x.device() == a.device(), "spmm: the sparse matrix is on ", a.device(), " but X on ", x.device(),
             "; make the DeviceCsr on X's device (or move X with .to(device))");
  Tensor y = spmm_forward(a, x);
  if (should_record({x})) {
    // d(A X)/dX: dX = A^T dY; the transpose was made with A (A itself when symmetric).
    attach_grad_fn(y, "spmm", {x}, [at = a.transpose()](const Tensor& g) {
      return Grads{is_grad_enabled() ? spmm(at, g) : spmm_forward(at, g)};
    });
    mark_differentiable_backward(y);
  }
  return y;
}

}  // namespace kiln
