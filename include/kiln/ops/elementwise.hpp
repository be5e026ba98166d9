// Elementwise arithmetic with NumPy broadcasting, and comparisons.
// Inputs of one op must share a dtype and a device; scalars take the tensor's dtype, but
// for PyTorch's promotions: an integer tensor meets a number that is not a whole one in
// float32 (labels * 0.5), and division of integers is true division in float32 (7 / 2 is
// 3.5; div(a, b, Rounding::floor / trunc) in kiln/ops/math.hpp keeps integers).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln {

// --- Binary arithmetic (differentiable; broadcasting) -----------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);            // integers: in float32
Tensor pow(const Tensor& base, const Tensor& exponent);  // base > 0 where exponent varies
// Integer tensors: whole powers by repeated squaring (wrapping past the dtype's range, as
// products do; a negative exponent tensor gives 1 / base^|e| truncated, as torch.pow); a
// negative number exponent is an Error, a fractional one promotes to float32.
Tensor pow(const Tensor& base, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient goes to the larger (a on ties)
Tensor minimum(const Tensor& a, const Tensor& b);

// --- Unary (differentiable) ---------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);  // d/dx |x| = sign(x), 0 at 0; integers too (|lowest| wraps to itself)
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor log1p(const Tensor& x);  // log(1 + x), accurate for small x
Tensor expm1(const Tensor& x);  // e^x - 1, accurate for small x
// Piecewise constant: their gradient is 0 (passed on, as PyTorch does, so a graph
// through them still reaches its leaves). Floating dtypes only, but for sign.
Tensor sign(const Tensor& x);  // 1, -1, or 0 (keeping a zero's sign); NaN stays NaN; integers too
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);  // to the nearest integer, halves to the even one (as NumPy and PyTorch)
// Gradient 1 inside [lo, hi]. An integer x keeps its dtype for whole bounds (clamping
// indices: clamp(i, 0, n - 1)) and takes -INFINITY / INFINITY as an open side; other
// bounds clamp it in float32, as PyTorch promotes.
Tensor clamp(const Tensor& x, double lo, double hi);

// --- Comparisons: uint8 masks (1 where true), not differentiable -------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// Against a number (x > 0.5, labels == 3): floating x compares with the number rounded to
// x's dtype (as PyTorch does); integer x with the number's exact value (x > 1.5 holds
// from 2 on; a number beyond the dtype's range, or NaN, gives a constant mask).
Tensor eq(const Tensor& x, double s);
Tensor ne(const Tensor& x, double s);
Tensor lt(const Tensor& x, double s);
Tensor le(const Tensor& x, double s);
Tensor gt(const Tensor& x, double s);
Tensor ge(const Tensor& x, double s);

// Logical ops (torch.logical_and ...): uint8 masks of the inputs' truth, any dtypes in
// (nonzero is true, NaN too; -0 is false), broadcasting. The operators a & b, a | b,
// a ^ b and !a / ~a below stand for them: on kiln's 0/1 masks they are what PyTorch's
// operators are on bool masks.
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// uint8 masks of NaN, of ±inf, and of neither (any dtype; integers are always finite).
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);
// where(mask, a, b): a where mask != 0, else b. Differentiable in a and b.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);
// The same with a number for one side (where(x > 0, x, 0.0)), taken in the tensor's
// dtype (an integer tensor goes to float32 for a number that is not a whole one, as in
// PyTorch); differentiable in the tensor.
Tensor where(const Tensor& mask, const Tensor& a, double b);
Tensor where(const Tensor& mask, double a, const Tensor& b);
// x with `value` where mask != 0 (torch.masked_fill); the mask broadcasts to x's shape,
// and the result keeps that shape (a mask that would enlarge it, which torch's
// out-of-place form allows, is an Error, as in torch's masked_fill_).
// Differentiable in x (0 where filled).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// The lower / upper triangle of a matrix, or of each matrix in a batch (the last two
// dimensions), the rest 0 (torch.tril / torch.triu): tril keeps x[.., i, j] where
// j - i <= diagonal, triu where j - i >= diagonal; diagonal 0 is the main diagonal, 1 the
// one above it, -1 the one below. Any dtype; differentiable in x (0 outside the triangle).
Tensor tril(const Tensor& x, std::int64_t diagonal = 0);
Tensor triu(const Tensor& x, std::int64_t diagonal = 0);

// Reduces a broadcast gradient back to `shape` by summing the expanded dimensions.
Tensor sum_to(const Tensor& t, const Shape& shape);

// --- Operators -----------------------------------------------------------------
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
// Comparisons as operators: uint8 masks, as eq / ne / lt / le / gt / ge (never a bool:
// a == b compares values, not handles).
inline Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
inline Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
inline Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
inline Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
inline Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
inline Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
inline Tensor operator==(const Tensor& x, double s) { return eq(x, s); }
inline Tensor operator!=(const Tensor& x, double s) { return ne(x, s); }
inline Tensor operator<(const Tensor& x, double s) { return lt(x, s); }
inline Tensor operator<=(const Tensor& x, double s) { return le(x, s); }
inline Tensor operator>(const Tensor& x, double s) { return gt(x, s); }
inline Tensor operator>=(const Tensor& x, double s) { return ge(x, s); }
inline Tensor operator==(double s, const Tensor& x) { return eq(x, s); }
inline Tensor operator!=(double s, const Tensor& x) { return ne(x, s); }
inline Tensor operator<(double s, const Tensor& x) { return gt(x, s); }
inline Tensor operator<=(double s, const Tensor& x) { return ge(x, s); }
inline Tensor operator>(double s, const Tensor& x) { return lt(x, s); }
inline Tensor operator>=(double s, const Tensor& x) { return le(x, s); }
// Logical, on masks (see logical_and): (x > 0) & (x < 1), !mask.
inline Tensor operator&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
inline Tensor operator|(const Tensor& a, const Tensor& b) { return logical_or(a, b); }
inline Tensor operator^(const Tensor& a, const Tensor& b) { return logical_xor(a, b); }
inline Tensor operator!(const Tensor& x) { return logical_not(x); }
inline Tensor operator~(const Tensor& x) { return logical_not(x); }

// A 0-d tensor of `value` in t's dtype, on t's device.
Tensor scalar_like(const Tensor& t, double value);
// Tensor-scalar forms: the scalar is a 0-d operand of the tensor's dtype. On a GPU
// it comes from a cache of constants, so `x * 0.5` in a training loop is one kernel.
// An integer tensor is taken in float32 for a number that is not a whole one, and for
// any division (as PyTorch: labels * 0.5 and labels / 2 are float32, labels * 2 int64).
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& b);
Tensor operator-(double s, const Tensor& b);
Tensor operator*(double s, const Tensor& b);
Tensor operator/(double s, const Tensor& b);

}  // namespace kiln
