// Functions of matrices built from the factorisations and products: logdet,
// matrix_power, matrix_exp, matrix_norm, cond, and the products kron, tensordot, cross,
// and the statistics cov and corrcoef. All composites, so they differentiate and run on
// either device through the ops they are made of.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/linalg_internal.hpp"

namespace kiln {

using detail::check_square;
using detail::identity_like;
using detail::transposed;

Tensor logdet(const Tensor& a) {
  check_square("logdet", a);
  const SignLogAbsDet s = slogdet(a);
  // NaN where det < 0, with no gradient there (torch.logdet's); -inf where singular.
  return where(lt(s.sign, 0.0), std::numeric_limits<double>::quiet_NaN(), s.logabsdet);
}

Tensor matrix_power(const Tensor& a, std::int64_t k) {
  check_square("matrix_power", a);
  if (k == 0) return identity_like(a).contiguous();
  Tensor base = k < 0 ? inv(a) : a;
  // Binary powers: A^13 = A A^4 A^8.
  Tensor result;
  for (std::uint64_t e = static_cast<std::uint64_t>(k < 0 ? -k : k);;) {
    if (e & 1) result = result.defined() ? matmul(result, base) : base;
    e >>= 1;
    if (e == 0) break;
    base = matmul(base, base);
  }
  return result;
}

Tensor matrix_exp(const Tensor& a) {
  check_square("matrix_exp", a);
  if (a.numel() == 0) return a.clone();
  // float32 runs in float64: each squaring doubles the relative error it inherits.
  if (a.dtype() == kFloat32) return matrix_exp(a.to(kFloat64)).to(kFloat32);
  // Scaling and squaring: X = A / 2^s with every |X|_1 <= 1/2 (s from the largest 1-norm
  // of the batch, read back once), then the Taylor series to X^18 / 18! (its remainder is
  // below 0.5^19 / 19!, about 2e-23, relative), by Horner's rule; then s squarings.
  const double largest = amax(sum(abs(a.detach()), {-2})).to(kFloat64).item();
  KILN_CHECK(std::isfinite(largest), "matrix_exp: the matrices of shape ", fmt(a.shape()),
             " hold an infinity or NaN");
  const int s = largest > 0.5 ? static_cast<int>(std::ceil(std::log2(largest / 0.5))) : 0;
  const Tensor x = a * std::ldexp(1.0, -s), id = identity_like(a);
  Tensor t = id;
  for (int k = 18; k >= 1; --k) t = id + matmul(x, t) / static_cast<double>(k);
  for (int i = 0; i < s; ++i) t = matmul(t, t);
  return t;
}

Tensor matrix_norm(const Tensor& a, const std::string& ord) {
  detail::check_floating("matrix_norm", a);
  KILN_CHECK(a.dim() >= 2, "matrix_norm: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  if (ord == "fro") return sqrt(sum(a * a, {-2, -1}));
  KILN_CHECK(ord == "nuc", "matrix_norm: ord \"", ord,
             "\" is not one of \"fro\", \"nuc\" (or a number: 1, -1, 2, ", "-2, inf, -inf)");
  return sum(svdvals(a), {-1});
}

Tensor matrix_norm(const Tensor& a, double ord) {
  detail::check_floating("matrix_norm", a);
  KILN_CHECK(a.dim() >= 2, "matrix_norm: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  const bool largest = ord > 0;
  if (std::abs(ord) == 2) {
    const Tensor sv = svdvals(a);
    return largest ? amax(sv, {-1}) : amin(sv, {-1});
  }
  KILN_CHECK(std::abs(ord) == 1 || std::isinf(ord), "matrix_norm: ord ", ord,
             " is not one of 1, -1, 2, -2, inf, -inf (or \"fro\", \"nuc\")");
  // 1: the largest column sum of |a|; inf: the largest row sum.
  const Tensor sums = sum(abs(a), {std::isinf(ord) ? -1 : -2});
  return largest ? amax(sums, {-1}) : amin(sums, {-1});
}

Tensor cond(const Tensor& a, double p) {
  detail::check_floating("cond", a);
  KILN_CHECK(a.dim() >= 2, "cond: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  if (std::abs(p) == 2) {
    const Tensor sv = svdvals(a);
    const Tensor ratio = amax(sv, {-1}) / amin(sv, {-1});
    return p > 0 ? ratio : reciprocal(ratio);
  }
  check_square("cond", a);
  return matrix_norm(a, p) * matrix_norm(inv(a), p);
}

Tensor cond(const Tensor& a, const std::string& p) {
  check_square("cond", a);
  return matrix_norm(a, p) * matrix_norm(inv(a), p);
}

Tensor kron(const Tensor& a_in, const Tensor& b_in) {
  detail::check_same_dtype_device("kron", {a_in, b_in});
  // Both with the larger number of dims (leading 1s), entries interleaved: a's dim i at
  // 2i, b's at 2i + 1, so the product reshapes to a_i b_i per dim.
  const std::int64_t d = std::max(a_in.dim(), b_in.dim());
  const auto padded = [d](const Tensor& t) {
    Shape s(static_cast<std::size_t>(d - t.dim()), 1);
    s.insert(s.end(), t.shape().begin(), t.shape().end());
    return t.reshape(s);
  };
  const Tensor a = padded(a_in), b = padded(b_in);
  Shape sa, sb, out;
  for (std::int64_t i = 0; i < d; ++i) {
    sa.insert(sa.end(), {a.size(i), 1});
    sb.insert(sb.end(), {1, b.size(i)});
    out.push_back(a.size(i) * b.size(i));
  }
  return (a.reshape(sa) * b.reshape(sb)).reshape(out);
}

Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<std::int64_t>& dims_a,
                 const std::vector<std::int64_t>& dims_b) {
  detail::check_same_dtype_device("tensordot", {a, b});
  KILN_CHECK(dims_a.size() == dims_b.size(), "tensordot: ", dims_a.size(), " dims of a to contract with ",
             dims_b.size(), " of b; give as many of each");
  std::vector<bool> used_a(static_cast<std::size_t>(a.dim())), used_b(static_cast<std::size_t>(b.dim()));
  std::vector<std::int64_t> order_a, order_b;  // a: free dims, then contracted; b: contracted, then free
  std::int64_t inner = 1;
  for (std::size_t i = 0; i < dims_a.size(); ++i) {
    const std::int64_t da = wrap_dim(dims_a[i], a.dim(), "tensordot"),
                       db = wrap_dim(dims_b[i], b.dim(), "tensordot");
    KILN_CHECK(!used_a[static_cast<std::size_t>(da)] && !used_b[static_cast<std::size_t>(db)],
               "tensordot: a dim is contracted twice");
    KILN_CHECK(a.size(da) == b.size(db), "tensordot: dim ", da, " of a (size ", a.size(da), ") and dim ", db,
               " of b (size ", b.size(db), ") differ; shapes ", fmt(a.shape()), " and ", fmt(b.shape()));
    used_a[static_cast<std::size_t>(da)] = used_b[static_cast<std::size_t>(db)] = true;
    order_b.push_back(db);
    inner *= a.size(da);
  }
  Shape out;
  std::int64_t rows = 1, cols = 1;
  for (std::int64_t d = 0; d < a.dim(); ++d)
    if (!used_a[static_cast<std::size_t>(d)])
      order_a.push_back(d), out.push_back(a.size(d)), rows *= a.size(d);
  for (std::size_t i = 0; i < dims_a.size(); ++i)
    order_a.push_back(wrap_dim(dims_a[i], a.dim(), "tensordot"));
  for (std::int64_t d = 0; d < b.dim(); ++d)
    if (!used_b[static_cast<std::size_t>(d)])
      order_b.push_back(d), out.push_back(b.size(d)), cols *= b.size(d);
  const Tensor product =
      matmul(a.permute(order_a).reshape({rows, inner}), b.permute(order_b).reshape({inner, cols}));
  return product.reshape(out);
}

Tensor tensordot(const Tensor& a, const Tensor& b, std::int64_t dims) {
  KILN_CHECK(dims >= 0 && dims <= std::min(a.dim(), b.dim()), "tensordot: cannot contract ", dims,
             " dims of tensors of shapes ", fmt(a.shape()), " and ", fmt(b.shape()));
  std::vector<std::int64_t> da(static_cast<std::size_t>(dims)), db(static_cast<std::size_t>(dims));
  std::iota(da.begin(), da.end(), a.dim() - dims);  // a's last dims with b's first
  std::iota(db.begin(), db.end(), 0);
  return tensordot(a, b, da, db);
}

Tensor cross(const Tensor& a, const Tensor& b, std::int64_t dim_in) {
  detail::check_same_dtype_device("cross", {a, b});
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "cross");
  const std::int64_t dim = wrap_dim(dim_in, static_cast<std::int64_t>(shape.size()), "cross");
  KILN_CHECK(shape[static_cast<std::size_t>(dim)] == 3, "cross: dim ", dim_in, " of the broadcast shape ",
             fmt(shape), " has size ", shape[static_cast<std::size_t>(dim)], ", not 3");
  const Tensor x = a.expand(shape), y = b.expand(shape);
  const auto at = [dim](const Tensor& t, std::int64_t i) { return t.narrow(dim, i, 1); };
  return cat({at(x, 1) * at(y, 2) - at(x, 2) * at(y, 1), at(x, 2) * at(y, 0) - at(x, 0) * at(y, 2),
              at(x, 0) * at(y, 1) - at(x, 1) * at(y, 0)},
             dim);
}

Tensor cov(const Tensor& x_in, std::int64_t correction) {
  detail::check_floating("cov", x_in);
  KILN_CHECK(x_in.dim() <= 2,
             "cov: needs a vector or a matrix of variables (rows) by observations (columns), got ", "shape ",
             fmt(x_in.shape()));
  const Tensor x = x_in.dim() < 2 ? x_in.reshape({1, -1}) : x_in;
  const Tensor centred = x - mean(x, {1}, true);
  const double denominator = std::max<double>(0.0, static_cast<double>(x.size(1) - correction));
  const Tensor c = matmul(centred, transposed(centred)) / denominator;
  return x.size(0) == 1 ? c.reshape({}) : c;  // one variable: a 0-d result, as torch's
}

Tensor corrcoef(const Tensor& x) {
  const Tensor c = cov(x, 1);
  if (c.dim() == 0) return c / c;
  const Tensor sd = sqrt(diagonal(c, 0, 0, 1));
  return clamp(c / sd.unsqueeze(1) / sd.unsqueeze(0), -1.0, 1.0);  // as torch's: rounding kept in [-1, 1]
}

// ---- Batched and scaled matrix products -------------------------------------------

Tensor bmm(const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0) && a.size(2) == b.size(1),
             "bmm: a of shape ", fmt(a.shape()), " and b of shape ", fmt(b.shape()),
             " must be (B, n, m) and (B, m, p) with the same B");
  return matmul(a, b);
}

namespace {
Tensor scaled_product(const char* op, const Tensor& input, const Tensor& product, double beta, double alpha) {
  const Shape& out = product.shape();
  KILN_CHECK(input.dim() <= product.dim(), op, ": input of shape ", fmt(input.shape()),
             " does not broadcast to the product's shape ", fmt(out));
  for (std::int64_t i = 1; i <= input.dim(); ++i)
    KILN_CHECK(input.size(-i) == 1 || input.size(-i) == product.size(-i), op, ": input of shape ",
               fmt(input.shape()), " does not broadcast to the product's shape ", fmt(out));
  const Tensor scaled = alpha == 1.0 ? product : product * alpha;
  if (beta != 0.0) return (beta == 1.0 ? input : input * beta) + scaled;
  if (!input.requires_grad()) return scaled;
  // beta = 0: the input's values are not read, but it still gets its (zero) gradient.
  return where(zeros(out, kUInt8, product.device()), input, 0.0) + scaled;
}
}  // namespace

Tensor addmm(const Tensor& input, const Tensor& m1, const Tensor& m2, double beta, double alpha) {
  KILN_CHECK(m1.dim() == 2 && m2.dim() == 2 && m1.size(1) == m2.size(0), "addmm: m1 of shape ",
             fmt(m1.shape()), " and m2 of shape ", fmt(m2.shape()), " must be (n, m) and (m, p)");
  return scaled_product("addmm", input, matmul(m1, m2), beta, alpha);
}

Tensor baddbmm(const Tensor& input, const Tensor& b1, const Tensor& b2, double beta, double alpha) {
  KILN_CHECK(b1.dim() == 3 && b2.dim() == 3 && b1.size(0) == b2.size(0) && b1.size(2) == b2.size(1),
             "baddbmm: b1 of shape ", fmt(b1.shape()), " and b2 of shape ", fmt(b2.shape()),
             " must be (B, n, m) and (B, m, p) with the same B");
  return scaled_product("baddbmm", input, matmul(b1, b2), beta, alpha);
}

Tensor pdist(const Tensor& x, double p) {
  detail::check_floating("pdist", x);
  KILN_CHECK(x.dim() == 2, "pdist: x must be (N, M), got shape ", fmt(x.shape()));
  KILN_CHECK(p >= 0, "pdist: p = ", p, " must be >= 0");
  const std::int64_t n = x.size(0);
  if (n < 2) return zeros({0}, x.dtype(), x.device());
  const Tensor pairs = triu_indices(n, n, 1).to(x.device());
  const Tensor gap = index_select(x, 0, pairs.select(0, 0)) - index_select(x, 0, pairs.select(0, 1));
  if (p >= 1) return norm(gap, p, {1});
  if (p == 0) return sum(ne(gap.detach(), 0.0).to(x.dtype()), {1});  // the entries that differ
  // 0 < p < 1: (sum |d|^p)^(1/p), not a norm but torch's definition.
  return pow(sum(pow(abs(gap), p), {1}), 1.0 / p);
}

Tensor vander(const Tensor& x, std::optional<std::int64_t> n, bool increasing) {
  KILN_CHECK(x.dim() == 1, "vander: x must be 1-D, got shape ", fmt(x.shape()));
  const std::int64_t columns = n.value_or(x.size(0));
  KILN_CHECK(columns >= 0, "vander: N = ", columns, " must be >= 0");
  if (columns == 0) return zeros({x.size(0), 0}, x.dtype(), x.device());
  // 1, x, x, .. multiplied along: 1, x, x^2, ..
  const Tensor factors =
      cat({ones({x.size(0), 1}, x.dtype(), x.device()), x.unsqueeze(1).expand({x.size(0), columns - 1})}, 1);
  const Tensor powers = cumprod(factors, 1);
  return increasing ? powers : flip(powers, {1});
}

}  // namespace kiln
