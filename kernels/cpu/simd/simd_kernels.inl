// SIMD float32 kernels, written once over a vector type `V` (VecAvx2 or
// VecAvx512) and included by each ISA's translation unit inside an anonymous
// namespace, so every instruction set gets its own private copy.
//
// Each kernel computes what its scalar reference in ref/ref_kernels.hpp
// defines; tests/test_kernel_parity.cpp holds them to it.

using R = V::R;

// ---- Vector math -------------------------------------------------------------

// e^x = 2^n * e^r with n = round(x / ln 2), |r| <= ln2 / 2, e^r by its Taylor
// series to r^7 (error < 1e-8). 2^n is applied in two halves so that results
// down to the denormals and up to +inf come out right.
inline R exp_v(R x) {
  x = V::max(V::set1(-104.0f), x);  // operand order keeps NaN
  x = V::min(V::set1(89.0f), x);
  const R n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  R r = V::fma(n, V::set1(-0.693359375f), x);
  r = V::fma(n, V::set1(2.12194440e-4f), r);
  R p = V::set1(1.0f / 5040);
  p = V::fma(p, r, V::set1(1.0f / 720));
  p = V::fma(p, r, V::set1(1.0f / 120));
  p = V::fma(p, r, V::set1(1.0f / 24));
  p = V::fma(p, r, V::set1(1.0f / 6));
  p = V::fma(p, r, V::set1(0.5f));
  p = V::fma(p, r, V::set1(1.0f));
  p = V::fma(p, r, V::set1(1.0f));
  const R n1 = V::round(V::sub(V::mul(n, V::set1(0.5f)), V::set1(0.25f)));  // floor(n / 2)
  const R n2 = V::sub(n, n1);
  return V::mul(V::mul(p, V::exp2i(n1)), V::exp2i(n2));
}

// log x = e ln 2 + log m, x = m 2^e with m in [sqrt(1/2), sqrt 2);
// log m = 2 atanh(s), s = (m - 1) / (m + 1), by its odd series to s^11.
inline R log_v(R x) {
  const R tiny = V::set1(1.17549435e-38f);
  const auto denormal = V::lt(x, tiny);
  const R xs = V::select(denormal, V::mul(x, V::set1(8388608.0f)), x);  // * 2^23
  R e, m;
  V::frexp1(xs, e, m);
  e = V::select(denormal, V::sub(e, V::set1(23.0f)), e);
  const auto big = V::gt(m, V::set1(1.41421356f));
  m = V::select(big, V::mul(m, V::set1(0.5f)), m);
  e = V::select(big, V::add(e, V::set1(1.0f)), e);
  const R f = V::sub(m, V::set1(1.0f));
  const R s = V::div(f, V::add(f, V::set1(2.0f)));
  const R z = V::mul(s, s);
  R q = V::set1(1.0f / 11);
  q = V::fma(q, z, V::set1(1.0f / 9));
  q = V::fma(q, z, V::set1(1.0f / 7));
  q = V::fma(q, z, V::set1(1.0f / 5));
  q = V::fma(q, z, V::set1(1.0f / 3));
  q = V::fma(q, z, V::set1(1.0f));
  const R logm = V::mul(V::add(s, s), q);
  R res = V::fma(e, V::set1(0.693359375f), V::fma(e, V::set1(-2.12194440e-4f), logm));
  const float inf = __builtin_inff();
  res = V::select(V::eq(x, V::set1(0.0f)), V::set1(-inf), res);
  res = V::select(V::mask_or(V::lt(x, V::set1(0.0f)), V::is_nan(x)), V::set1(__builtin_nanf("")), res);
  return V::select(V::eq(x, V::set1(inf)), V::set1(inf), res);
}

// log(1 + u), exact for tiny u: log(w) * u / (w - 1) with w = 1 + u rounded, the
// factor u / (w - 1) undoing that rounding; log(w) where w - 1 is u exactly (large u,
// +inf). -1 gives -inf; below -1 and NaN give NaN (log's).
inline R log1p_v(R u) {
  const R w = V::add(V::set1(1.0f), u);
  const R d = V::sub(w, V::set1(1.0f));
  const R lw = log_v(w);
  const R r = V::select(V::eq(d, u), lw, V::div(V::mul(lw, u), d));
  return V::select(V::eq(d, V::set1(0.0f)), u, r);
}

// e^x - 1, exact for small x: its Taylor series to x^8 below |x| = 1/2 (truncation
// under 1e-8 relative), else e^x - 1 from exp_v, which cancels nothing there
// (|e^x - 1| > 0.39).
inline R expm1_v(R x) {
  R p = V::set1(1.0f / 40320);
  p = V::fma(p, x, V::set1(1.0f / 5040));
  p = V::fma(p, x, V::set1(1.0f / 720));
  p = V::fma(p, x, V::set1(1.0f / 120));
  p = V::fma(p, x, V::set1(1.0f / 24));
  p = V::fma(p, x, V::set1(1.0f / 6));
  p = V::fma(p, x, V::set1(0.5f));
  p = V::fma(p, x, V::set1(1.0f));
  return V::select(V::lt(V::abs(x), V::set1(0.5f)), V::mul(x, p), V::sub(exp_v(x), V::set1(1.0f)));
}

// Beyond this |x| the vector sin / cos hand the lane to the scalar reference, whose
// range reduction stays exact for any float; up to it the three-part pi/2 below does.
constexpr float kTrigVectorLimit = 8192.0f;

// sin x (cosine: false) or cos x (true) for |x| <= kTrigVectorLimit: x = n pi/2 + r with
// |r| <= pi/4, r by subtracting pi/2 in three float parts (each product exact in the
// fma), then sin r or cos r by their Taylor series (to r^9 and r^10: error < 2e-9 at
// pi/4), picked and signed by the quadrant n mod 4 (cos x = sin(x + pi/2): quadrant + 1).
inline R sin_cos_v(R x, bool cosine) {
  const R n = V::round(V::mul(x, V::set1(0.636619747f)));
  R r = V::fma(n, V::set1(-1.57079637f), x);
  r = V::fma(n, V::set1(4.37113883e-8f), r);
  r = V::fma(n, V::set1(1.71512451e-15f), r);
  const R z = V::mul(r, r);
  R s = V::set1(1.0f / 362880);
  s = V::fma(s, z, V::set1(-1.0f / 5040));
  s = V::fma(s, z, V::set1(1.0f / 120));
  s = V::fma(s, z, V::set1(-1.0f / 6));
  const R sin_r = V::fma(V::mul(s, z), r, r);
  R c = V::set1(-1.0f / 3628800);
  c = V::fma(c, z, V::set1(1.0f / 40320));
  c = V::fma(c, z, V::set1(-1.0f / 720));
  c = V::fma(c, z, V::set1(1.0f / 24));
  c = V::fma(c, z, V::set1(-0.5f));
  const R cos_r = V::fma(c, z, V::set1(1.0f));
  const R quadrant = cosine ? V::add(n, V::set1(1.0f)) : n;
  const R q = V::sub(quadrant, V::mul(V::floor(V::mul(quadrant, V::set1(0.25f))), V::set1(4.0f)));  // 0 .. 3
  const R odd = V::sub(q, V::mul(V::floor(V::mul(q, V::set1(0.5f))), V::set1(2.0f)));              // q mod 2
  const R v = V::select(V::eq(odd, V::set1(1.0f)), cos_r, sin_r);
  const R signed_v = V::select(V::gt(q, V::set1(1.5f)), V::neg(v), v);
  return cosine ? signed_v : V::select(V::eq(x, V::set1(0.0f)), x, signed_v);  // sin(-0) = -0
}

inline R sigmoid_v(R x) { return V::div(V::set1(1.0f), V::add(V::set1(1.0f), exp_v(V::neg(x)))); }
// d/dx x sigmoid(x) = s (1 + x (1 - s))
inline R silu_grad_v(R x) {
  const R s = sigmoid_v(x);
  return V::mul(s, V::fma(x, V::sub(V::set1(1.0f), s), V::set1(1.0f)));
}

// tanh: odd Taylor series below |x| = 0.25, else 1 - 2 / (e^(2|x|) + 1); sign restored.
inline R tanh_v(R x) {
  const R a = V::abs(x);
  const R z = V::mul(a, a);
  R p = V::set1(-1382.0f / 155925);
  p = V::fma(p, z, V::set1(62.0f / 2835));
  p = V::fma(p, z, V::set1(-17.0f / 315));
  p = V::fma(p, z, V::set1(2.0f / 15));
  p = V::fma(p, z, V::set1(-1.0f / 3));
  p = V::fma(p, z, V::set1(1.0f));
  const R small = V::mul(a, p);
  const R large = V::sub(V::set1(1.0f),
                         V::div(V::set1(2.0f), V::add(exp_v(V::add(a, a)), V::set1(1.0f))));
  const R t = V::select(V::lt(a, V::set1(0.25f)), small, large);
  return V::select(V::lt(x, V::set1(0.0f)), V::neg(t), t);
}

// erfc(z) for z >= 0: t exp(-z^2 + P(t)), t = 1 / (1 + z/2), a Chebyshev fit
// with relative error below 1.2e-7 for all z >= 0 (Numerical Recipes, erfcc).
inline R erfc_pos_v(R z) {
  const R t = V::div(V::set1(1.0f), V::fma(V::set1(0.5f), z, V::set1(1.0f)));
  R p = V::set1(0.17087277f);
  p = V::fma(p, t, V::set1(-0.82215223f));
  p = V::fma(p, t, V::set1(1.48851587f));
  p = V::fma(p, t, V::set1(-1.13520398f));
  p = V::fma(p, t, V::set1(0.27886807f));
  p = V::fma(p, t, V::set1(-0.18628806f));
  p = V::fma(p, t, V::set1(0.09678418f));
  p = V::fma(p, t, V::set1(0.37409196f));
  p = V::fma(p, t, V::set1(1.00002368f));
  p = V::fma(p, t, V::set1(-1.26551223f));
  return V::mul(t, exp_v(V::sub(p, V::mul(z, z))));
}

// Phi(x), the standard normal CDF, without cancellation in either tail.
inline R normal_cdf_v(R x) {
  const R half_erfc = V::mul(V::set1(0.5f), erfc_pos_v(V::mul(V::abs(x), V::set1(0.70710678f))));
  return V::select(V::lt(x, V::set1(0.0f)), half_erfc, V::sub(V::set1(1.0f), half_erfc));
}

// erf(x): for |x| < 0.5 its Taylor series, 2/sqrt(pi) x (1 - x^2/3 + x^4/10 - ... + x^12/9360)
// (the first term left out is below 2e-9 of the sum), where 1 - erfc(x) would cancel;
// beyond, sign(x) (1 - erfc(|x|)).
inline R erf_v(R x) {
  const R x2 = V::mul(x, x);
  R q = V::set1(1.0f / 9360.0f);
  q = V::fma(q, x2, V::set1(-1.0f / 1320.0f));
  q = V::fma(q, x2, V::set1(1.0f / 216.0f));
  q = V::fma(q, x2, V::set1(-1.0f / 42.0f));
  q = V::fma(q, x2, V::set1(1.0f / 10.0f));
  q = V::fma(q, x2, V::set1(-1.0f / 3.0f));
  q = V::fma(q, x2, V::set1(1.0f));
  const R small = V::mul(V::mul(x, V::set1(1.12837917f)), q);
  const R large = V::sub(V::set1(1.0f), erfc_pos_v(V::abs(x)));
  return V::select(V::lt(V::abs(x), V::set1(0.5f)), small,
                   V::select(V::lt(x, V::set1(0.0f)), V::neg(large), large));
}
// erfc(x) = erfc(|x|) for x >= 0, 2 - erfc(|x|) below (no cancellation either way).
inline R erfc_v(R x) {
  const R e = erfc_pos_v(V::abs(x));
  return V::select(V::lt(x, V::set1(0.0f)), V::sub(V::set1(2.0f), e), e);
}

inline R gelu_v(R x) { return V::mul(x, normal_cdf_v(x)); }
// d/dx x Phi(x) = Phi(x) + x phi(x)
inline R gelu_grad_v(R x) {
  const R phi = V::mul(exp_v(V::mul(V::set1(-0.5f), V::mul(x, x))), V::set1(0.39894228f));
  return V::fma(x, phi, normal_cdf_v(x));
}

inline R softplus_v(R x) {
  return V::add(V::max(V::set1(0.0f), x), log1p_v(exp_v(V::neg(V::abs(x)))));
}

// ---- Loops ---------------------------------------------------------------------

template <class F>
inline void map_loop(std::int64_t n, const float* x, float* y, F f) {
  std::int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(y + i, f(V::load(x + i)));
  if (i < n) V::store_tail(y + i, f(V::load_tail(x + i, n - i)), n - i);
}

template <class F>
inline void map2_loop(std::int64_t n, const float* a, const float* b, float* y, F f) {
  std::int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(y + i, f(V::load(a + i), V::load(b + i)));
  if (i < n) V::store_tail(y + i, f(V::load_tail(a + i, n - i), V::load_tail(b + i, n - i)), n - i);
}

#define KILN_SIMD_UNARY(name, expr) \
  void name(std::int64_t n, const float* x, float* y) { map_loop(n, x, y, [](R v) { return expr; }); }
KILN_SIMD_UNARY(neg_k, V::neg(v))
KILN_SIMD_UNARY(exp_k, exp_v(v))
KILN_SIMD_UNARY(log_k, log_v(v))
KILN_SIMD_UNARY(sqrt_k, V::sqrt(v))
KILN_SIMD_UNARY(abs_k, V::abs(v))
KILN_SIMD_UNARY(relu_k, V::max(V::set1(0.0f), v))
KILN_SIMD_UNARY(sigmoid_k, sigmoid_v(v))
KILN_SIMD_UNARY(tanh_k, tanh_v(v))
KILN_SIMD_UNARY(gelu_k, gelu_v(v))
KILN_SIMD_UNARY(softplus_k, softplus_v(v))
KILN_SIMD_UNARY(silu_k, V::mul(v, sigmoid_v(v)))
KILN_SIMD_UNARY(floor_k, V::floor(v))
KILN_SIMD_UNARY(ceil_k, V::ceil(v))
KILN_SIMD_UNARY(round_k, V::round(v))
KILN_SIMD_UNARY(log1p_k, log1p_v(v))
KILN_SIMD_UNARY(expm1_k, expm1_v(v))
KILN_SIMD_UNARY(erf_k, erf_v(v))
KILN_SIMD_UNARY(erfc_k, erfc_v(v))

// sin / cos: the vector form; a vector with a lane beyond its range (or infinite) has
// those lanes redone by the scalar reference.
template <bool kCosine>
void sin_cos_k(std::int64_t n, const float* x, float* y) {
  const auto part = [&](std::int64_t i, std::int64_t count) {
    const R v = count == V::W ? V::load(x + i) : V::load_tail(x + i, count);
    const R out = sin_cos_v(v, kCosine);
    if (count == V::W) V::store(y + i, out);
    else V::store_tail(y + i, out, count);
    if (!V::any(V::gt(V::abs(v), V::set1(kTrigVectorLimit)))) return;
    for (std::int64_t k = i; k < i + count; ++k)
      if (std::abs(x[k]) > kTrigVectorLimit) y[k] = kCosine ? std::cos(x[k]) : std::sin(x[k]);
  };
  std::int64_t i = 0;
  for (; i + V::W <= n; i += V::W) part(i, V::W);
  if (i < n) part(i, n - i);
}

// 1 above 0, -1 below, and x * 0 otherwise: both zeros keep their sign, NaN stays NaN.
KILN_SIMD_UNARY(sign_k, V::select(V::gt(v, V::set1(0.0f)), V::set1(1.0f),
                                  V::select(V::lt(v, V::set1(0.0f)), V::set1(-1.0f), V::mul(v, V::set1(0.0f)))))
#undef KILN_SIMD_UNARY

void leaky_relu_k(std::int64_t n, const float* x, float slope, float* y) {
  const R s = V::set1(slope);
  map_loop(n, x, y, [s](R v) { return V::select(V::gt(v, V::set1(0.0f)), v, V::mul(s, v)); });
}
void elu_k(std::int64_t n, const float* x, float alpha, float* y) {
  const R a = V::set1(alpha);
  map_loop(n, x, y, [a](R v) { return V::select(V::gt(v, V::set1(0.0f)), v, V::mul(a, expm1_v(v))); });
}
void clamp_k(std::int64_t n, const float* x, float lo, float hi, float* y) {
  const R l = V::set1(lo), h = V::set1(hi);
  map_loop(n, x, y, [l, h](R v) { return V::min(h, V::max(l, v)); });
}

// The keep decisions are drawn W at a time (V::dropout_scales), the tail's too.
void dropout_k(std::int64_t n, const float* x, std::uint64_t seed, std::uint64_t first, std::uint64_t threshold,
               float kept, float* y) {
  std::int64_t i = 0;
  for (; i + V::W <= n; i += V::W)
    V::store(y + i, V::mul(V::load(x + i), V::dropout_scales(seed, first + static_cast<std::uint64_t>(i), threshold,
                                                             kept)));
  if (i < n)
    V::store_tail(y + i, V::mul(V::load_tail(x + i, n - i),
                                V::dropout_scales(seed, first + static_cast<std::uint64_t>(i), threshold, kept)),
                  n - i);
}

#define KILN_SIMD_GRAD(name, expr)                                               \
  void name(std::int64_t n, const float* s, const float* g, float* gx) {         \
    map2_loop(n, s, g, gx, [](R v, R gv) { return expr; });                      \
  }
KILN_SIMD_GRAD(relu_grad_k, V::select(V::gt(v, V::set1(0.0f)), gv, V::set1(0.0f)))
KILN_SIMD_GRAD(sigmoid_grad_k, V::mul(gv, V::mul(v, V::sub(V::set1(1.0f), v))))
KILN_SIMD_GRAD(tanh_grad_k, V::mul(gv, V::sub(V::set1(1.0f), V::mul(v, v))))
KILN_SIMD_GRAD(gelu_grad_k, V::mul(gv, gelu_grad_v(v)))
KILN_SIMD_GRAD(softplus_grad_k, V::mul(gv, sigmoid_v(v)))
KILN_SIMD_GRAD(silu_grad_k, V::mul(gv, silu_grad_v(v)))
#undef KILN_SIMD_GRAD

void leaky_relu_grad_k(std::int64_t n, const float* x, float slope, const float* g, float* gx) {
  const R s = V::set1(slope);
  map2_loop(n, x, g, gx, [s](R v, R gv) { return V::select(V::gt(v, V::set1(0.0f)), gv, V::mul(s, gv)); });
}
void elu_grad_k(std::int64_t n, const float* x, float alpha, const float* g, float* gx) {
  const R a = V::set1(alpha);
  map2_loop(n, x, g, gx,
            [a](R v, R gv) { return V::select(V::gt(v, V::set1(0.0f)), gv, V::mul(gv, V::mul(a, exp_v(v)))); });
}

// Binary ops over strided operands: vectorised when each stride is 0 or 1.
template <class Op>
void binary_k(std::int64_t n, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
              float* y) {
  if ((sa != 0 && sa != 1) || (sb != 0 && sb != 1)) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = Op::s(a[i * sa], b[i * sb]);
    return;
  }
  std::int64_t i = 0;
  const R a0 = V::set1(*a), b0 = V::set1(*b);
  for (; i + V::W <= n; i += V::W) {
    const R va = sa ? V::load(a + i) : a0;
    const R vb = sb ? V::load(b + i) : b0;
    V::store(y + i, Op::v(va, vb));
  }
  if (i < n) {
    const R va = sa ? V::load_tail(a + i, n - i) : a0;
    const R vb = sb ? V::load_tail(b + i, n - i) : b0;
    V::store_tail(y + i, Op::v(va, vb), n - i);
  }
}
struct AddOp { static R v(R a, R b) { return V::add(a, b); } static float s(float a, float b) { return a + b; } };
struct SubOp { static R v(R a, R b) { return V::sub(a, b); } static float s(float a, float b) { return a - b; } };
struct MulOp { static R v(R a, R b) { return V::mul(a, b); } static float s(float a, float b) { return a * b; } };
struct DivOp { static R v(R a, R b) { return V::div(a, b); } static float s(float a, float b) { return a / b; } };
// NaN in either operand gives NaN, as in the reference.
struct MaxOp {
  static R v(R a, R b) { return V::select(V::is_nan(a), a, V::max(a, b)); }
  static float s(float a, float b) { return a != a ? a : (b != b ? b : (a >= b ? a : b)); }
};
struct MinOp {
  static R v(R a, R b) { return V::select(V::is_nan(a), a, V::min(a, b)); }
  static float s(float a, float b) { return a != a ? a : (b != b ? b : (a <= b ? a : b)); }
};

// ---- Row reductions --------------------------------------------------------------

inline float row_sum(std::int64_t len, const float* x) {
  R s0 = V::set1(0.0f), s1 = s0, s2 = s0, s3 = s0;
  std::int64_t j = 0;
  for (; j + 4 * V::W <= len; j += 4 * V::W) {
    s0 = V::add(s0, V::load(x + j));
    s1 = V::add(s1, V::load(x + j + V::W));
    s2 = V::add(s2, V::load(x + j + 2 * V::W));
    s3 = V::add(s3, V::load(x + j + 3 * V::W));
  }
  for (; j + V::W <= len; j += V::W) s0 = V::add(s0, V::load(x + j));
  if (j < len) s1 = V::add(s1, V::load_tail(x + j, len - j));
  return V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
}

void sum_rows_k(std::int64_t rows, std::int64_t len, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = row_sum(len, x + r * len);
}

// The sum of a row's squares, in the same four running sums (a missing lane loads as 0).
inline float row_sumsq(std::int64_t len, const float* x) {
  R s0 = V::set1(0.0f), s1 = s0, s2 = s0, s3 = s0;
  std::int64_t j = 0;
  for (; j + 4 * V::W <= len; j += 4 * V::W) {
    const R a = V::load(x + j), b = V::load(x + j + V::W), c = V::load(x + j + 2 * V::W),
            d = V::load(x + j + 3 * V::W);
    s0 = V::add(s0, V::mul(a, a));
    s1 = V::add(s1, V::mul(b, b));
    s2 = V::add(s2, V::mul(c, c));
    s3 = V::add(s3, V::mul(d, d));
  }
  for (; j + V::W <= len; j += V::W) {
    const R a = V::load(x + j);
    s0 = V::add(s0, V::mul(a, a));
  }
  if (j < len) {
    const R a = V::load_tail(x + j, len - j);
    s1 = V::add(s1, V::mul(a, a));
  }
  return V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
}

void sumsq_rows_k(std::int64_t rows, std::int64_t len, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = row_sumsq(len, x + r * len);
}

// Max (IsMax) or min of a row; `nan` reports whether the row holds a NaN.
template <bool IsMax>
inline float row_extreme(std::int64_t len, const float* x, bool& nan) {
  const float fill = IsMax ? -__builtin_inff() : __builtin_inff();
  R acc = V::set1(fill);
  auto nans = V::no_lanes();
  std::int64_t j = 0;
  for (; j + V::W <= len; j += V::W) {
    const R v = V::load(x + j);
    nans = V::mask_or(nans, V::is_nan(v));
    acc = IsMax ? V::max(acc, v) : V::min(acc, v);
  }
  if (j < len) {
    const R v = V::load_tail_fill(x + j, len - j, fill);
    nans = V::mask_or(nans, V::is_nan(v));
    acc = IsMax ? V::max(acc, v) : V::min(acc, v);
  }
  nan = V::any(nans);
  return IsMax ? V::hmax(acc) : V::hmin(acc);
}

// The vector pass finds the value; a short scalar scan finds its first index.
template <bool IsMax>
void extreme_rows_k(std::int64_t rows, std::int64_t len, const float* x, float* y,
                    std::int64_t* index) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * len;
    bool nan = false;
    const float m = row_extreme<IsMax>(len, row, nan);
    std::int64_t j = 0;
    if (nan) {
      while (row[j] == row[j]) ++j;
    } else {
      while (row[j] != m) ++j;
    }
    y[r] = row[j];
    if (index) index[r] = j;
  }
}

void softmax_rows_k(std::int64_t rows, std::int64_t len, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * len;
    float* out = y + r * len;
    bool nan = false;
    const R m = V::set1(row_extreme<true>(len, in, nan));
    R s = V::set1(0.0f);
    std::int64_t j = 0;
    for (; j + V::W <= len; j += V::W) {
      const R e = exp_v(V::sub(V::load(in + j), m));
      V::store(out + j, e);
      s = V::add(s, e);
    }
    if (j < len) {  // lanes past the end read -inf, whose exp is 0
      const R e = exp_v(V::sub(V::load_tail_fill(in + j, len - j, -__builtin_inff()), m));
      V::store_tail(out + j, e, len - j);
      s = V::add(s, e);
    }
    const R inv = V::set1(1.0f / V::hsum(s));
    map_loop(len, out, out, [inv](R v) { return V::mul(v, inv); });
  }
}

void log_softmax_rows_k(std::int64_t rows, std::int64_t len, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * len;
    bool nan = false;
    const float mx = row_extreme<true>(len, in, nan);
    const R m = V::set1(mx);
    R s = V::set1(0.0f);
    std::int64_t j = 0;
    for (; j + V::W <= len; j += V::W) s = V::add(s, exp_v(V::sub(V::load(in + j), m)));
    if (j < len)
      s = V::add(s, exp_v(V::sub(V::load_tail_fill(in + j, len - j, -__builtin_inff()), m)));
    float total = V::hsum(s);
    float log_total;
    log_k(1, &total, &log_total);
    const R log_sum = V::set1(log_total);  // (x - m) - log_sum, as the reference
    map_loop(len, in, y + r * len, [m, log_sum](R v) { return V::sub(V::sub(v, m), log_sum); });
  }
}

// ---- Sparse ----------------------------------------------------------------------------

// A row's features are summed in passes of up to 4 registers, kept in registers across
// the row's nonzeros; the last register of the last pass may be partial, so a row of up
// to 4 * V::W features (16 floats on AVX2 included) reads its nonzeros once.
constexpr std::int64_t kPrefetch = 16;  // nonzeros ahead (each a 64-byte row read at f = 16)

// Asks for the cache lines of the n floats at x + row * f + j: a hint, which never
// faults, so the row (not yet checked) is only used in integer arithmetic.
inline void prefetch_span(const float* x, std::int64_t row, std::int64_t f, std::int64_t j, std::int64_t n) {
  const auto at = reinterpret_cast<std::uintptr_t>(x) + (static_cast<std::uintptr_t>(row) * f + j) * sizeof(float);
  const auto first = at & ~std::uintptr_t{63};
  const auto last = (at + n * sizeof(float) - 1) & ~std::uintptr_t{63};
  for (std::uintptr_t line = first; line <= last; line += 64) __builtin_prefetch(reinterpret_cast<const void*>(line));
}

// out[0, (NR - 1) * W + n) = sum over k of val[k] * x[col[k]][j, ...) for one row's
// nonzeros [k0, k1); n (1 .. W) lanes in the last register. The rows of x come in
// random order, so each step asks for the one kPrefetch nonzeros ahead, into the next
// rows while that is before `ahead_end`. False at a column outside [0, cols), before x
// is read through it.
template <int NR>
bool spmm_pass(std::int64_t k0, std::int64_t k1, std::int64_t ahead_end, std::int64_t f, std::int64_t j,
               std::int64_t n, const std::int64_t* col, std::uint64_t ucols, const float* val, const float* x,
               float* out) {
  const std::int64_t span = (NR - 1) * V::W + n;
  R a[NR];
  for (int i = 0; i < NR; ++i) a[i] = V::set1(0.0f);
  for (std::int64_t k = k0; k < k1; ++k) {
    if (k + kPrefetch < ahead_end) prefetch_span(x, col[k + kPrefetch], f, j, span);
    if (static_cast<std::uint64_t>(col[k]) >= ucols) return false;
    const R v = V::set1(val[k]);
    const float* in = x + col[k] * f + j;
    for (int i = 0; i + 1 < NR; ++i) a[i] = V::fma(v, V::load(in + i * V::W), a[i]);
    const float* tail = in + (NR - 1) * V::W;
    a[NR - 1] = V::fma(v, n == V::W ? V::load(tail) : V::load_tail(tail, n), a[NR - 1]);
  }
  for (int i = 0; i + 1 < NR; ++i) V::store(out + i * V::W, a[i]);
  if (n == V::W) V::store(out + (NR - 1) * V::W, a[NR - 1]);
  else V::store_tail(out + (NR - 1) * V::W, a[NR - 1], n);
  return true;
}

// Columns are checked as they are read (one compare against cols, as unsigned, so a
// negative one fails too): a fault returns false before x is read through it.
bool spmm_k(std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col,
            std::int64_t cols, const float* val, const float* x, float* y) {
  const std::int64_t last = row_ptr[rows];
  const auto ucols = static_cast<std::uint64_t>(cols);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t k0 = row_ptr[r], k1 = row_ptr[r + 1];
    if (k1 < k0 || k1 > last) return false;
    float* out = y + r * f;
    for (std::int64_t j = 0; j < f; j += 4 * V::W) {
      // One pass (f <= 4 * V::W) runs on into the next rows' nonzeros; with several, the
      // prefetches stop at the row's end, where the next pass rereads it.
      const std::int64_t ahead_end = f <= 4 * V::W ? last : k1;
      const std::int64_t left = f - j < 4 * V::W ? f - j : 4 * V::W;  // features in this pass
      const std::int64_t n = left - (left - 1) / V::W * V::W;          // lanes in its last register
      bool sound;
      switch ((left - 1) / V::W) {  // registers in the pass, less one
        case 0: sound = spmm_pass<1>(k0, k1, ahead_end, f, j, n, col, ucols, val, x, out + j); break;
        case 1: sound = spmm_pass<2>(k0, k1, ahead_end, f, j, n, col, ucols, val, x, out + j); break;
        case 2: sound = spmm_pass<3>(k0, k1, ahead_end, f, j, n, col, ucols, val, x, out + j); break;
        default: sound = spmm_pass<4>(k0, k1, ahead_end, f, j, n, col, ucols, val, x, out + j); break;
      }
      if (!sound) return false;
    }
  }
  return true;
}

// ---- Pooling ---------------------------------------------------------------------------

// 2x2 / stride-2 max pooling, V::W outputs at a time: the two input rows are split into
// their even and odd columns, giving the four window corners a b / c d as vectors. The
// winner's corner (0 .. 3) is tracked as a float and turned into its plane offset by an
// integer pass per row. A chunk holding a NaN is redone by the scalar rule.
void max_pool2x2_k(std::int64_t h, std::int64_t w, const float* plane, float* out, std::int32_t* argmax) {
  const std::int64_t oh = h / 2, ow = w / 2;
  const R one = V::set1(1.0f), two = V::set1(2.0f), three = V::set1(3.0f);
  for (std::int64_t y = 0; y < oh; ++y) {
    const float* r0 = plane + 2 * y * w;
    const float* r1 = r0 + w;
    float* orow = out + y * ow;
    std::int32_t* arow = argmax ? argmax + y * ow : nullptr;
    for (std::int64_t x = 0; x < ow; x += V::W) {
      const std::int64_t n = ow - x < V::W ? ow - x : V::W;  // outputs in this chunk
      R lo0, hi0, lo1, hi1;
      if (n == V::W) {
        lo0 = V::load(r0 + 2 * x), hi0 = V::load(r0 + 2 * x + V::W);
        lo1 = V::load(r1 + 2 * x), hi1 = V::load(r1 + 2 * x + V::W);
      } else {  // 2n inputs per row: the first vector's worth, then the rest
        const std::int64_t first = 2 * n < V::W ? 2 * n : V::W, rest = 2 * n - first;
        lo0 = V::load_tail(r0 + 2 * x, first), lo1 = V::load_tail(r1 + 2 * x, first);
        hi0 = rest > 0 ? V::load_tail(r0 + 2 * x + V::W, rest) : V::set1(0.0f);
        hi1 = rest > 0 ? V::load_tail(r1 + 2 * x + V::W, rest) : V::set1(0.0f);
      }
      R a, b, c, d;
      V::deinterleave(lo0, hi0, a, b);
      V::deinterleave(lo1, hi1, c, d);
      R m = a, corner = V::set1(0.0f);
      auto take = [&](R v, R code) {
        const auto wins = V::gt(v, m);
        m = V::select(wins, v, m);
        corner = V::select(wins, code, corner);
      };
      take(b, one);
      take(c, two);
      take(d, three);
      if (V::any(V::mask_or(V::mask_or(V::is_nan(a), V::is_nan(b)), V::mask_or(V::is_nan(c), V::is_nan(d))))) {
        for (std::int64_t i = x; i < x + n; ++i) {  // the reference rule, one window at a time
          const std::int64_t top = 2 * i;
          const float v[4] = {r0[top], r0[top + 1], r1[top], r1[top + 1]};
          int at = 0;
          for (int k = 1; k < 4; ++k)
            if (v[k] > v[at] || (v[k] != v[k] && v[at] == v[at])) at = k;
          orow[i] = v[at];
          if (arow) arow[i] = at;
        }
      } else if (n == V::W) {
        V::store(orow + x, m);
        if (arow) V::store_i32(arow + x, corner);
      } else {
        V::store_tail(orow + x, m, n);
        if (arow) V::store_i32_tail(arow + x, corner, n);
      }
    }
    if (arow) {  // corner -> offset in the plane: (corner >> 1) rows down, (corner & 1) columns right
      const auto row_start = static_cast<std::int32_t>(2 * y * w), w32 = static_cast<std::int32_t>(w);
      for (std::int64_t i = 0; i < ow; ++i)
        arow[i] = row_start + static_cast<std::int32_t>(2 * i) + (arow[i] >> 1) * w32 + (arow[i] & 1);
    }
  }
}

// ---- Optimizer ----------------------------------------------------------------------

void adam_k(std::int64_t n, float* p, const float* g, float* m, float* v, const AdamStep& s) {
  const R b1 = V::set1(s.beta1), b2 = V::set1(s.beta2), c1 = V::set1(1.0f - s.beta1), c2 = V::set1(1.0f - s.beta2);
  const R eps = V::set1(s.eps), step = V::set1(s.step_size), inv = V::set1(s.inv_sqrt_c2), l2 = V::set1(s.l2),
          decay = V::set1(s.decay);
  auto update = [&](R pv, R gv, R mv, R vv, R& po, R& mo, R& vo) {
    const R grad = V::fma(l2, pv, gv);
    pv = V::mul(pv, decay);
    mo = V::fma(b1, mv, V::mul(c1, grad));
    vo = V::fma(b2, vv, V::mul(c2, V::mul(grad, grad)));
    po = V::sub(pv, V::div(V::mul(step, mo), V::fma(V::sqrt(vo), inv, eps)));
  };
  std::int64_t i = 0;
  R po, mo, vo;
  for (; i + V::W <= n; i += V::W) {
    update(V::load(p + i), V::load(g + i), V::load(m + i), V::load(v + i), po, mo, vo);
    V::store(p + i, po);
    V::store(m + i, mo);
    V::store(v + i, vo);
  }
  if (i < n) {
    const std::int64_t r = n - i;
    update(V::load_tail(p + i, r), V::load_tail(g + i, r), V::load_tail(m + i, r), V::load_tail(v + i, r), po, mo, vo);
    V::store_tail(p + i, po, r);
    V::store_tail(m + i, mo, r);
    V::store_tail(v + i, vo, r);
  }
}

// ---- Table -----------------------------------------------------------------------

void fill_simd(KernelTable<float>& t) {
  t.unary[int(Unary::neg)] = neg_k;
  t.unary[int(Unary::exp)] = exp_k;
  t.unary[int(Unary::log)] = log_k;
  t.unary[int(Unary::sqrt)] = sqrt_k;
  t.unary[int(Unary::abs)] = abs_k;
  t.unary[int(Unary::relu)] = relu_k;
  t.unary[int(Unary::sigmoid)] = sigmoid_k;
  t.unary[int(Unary::tanh)] = tanh_k;
  t.unary[int(Unary::gelu)] = gelu_k;
  t.unary[int(Unary::softplus)] = softplus_k;
  t.unary[int(Unary::silu)] = silu_k;
  t.unary[int(Unary::sign)] = sign_k;
  t.unary[int(Unary::floor)] = floor_k;
  t.unary[int(Unary::ceil)] = ceil_k;
  t.unary[int(Unary::round)] = round_k;
  t.unary[int(Unary::log1p)] = log1p_k;
  t.unary[int(Unary::sin)] = sin_cos_k<false>;
  t.unary[int(Unary::cos)] = sin_cos_k<true>;
  t.unary[int(Unary::expm1)] = expm1_k;
  t.unary[int(Unary::erf)] = erf_k;
  t.unary[int(Unary::erfc)] = erfc_k;
  t.binary[int(Binary::add)] = binary_k<AddOp>;
  t.binary[int(Binary::sub)] = binary_k<SubOp>;
  t.binary[int(Binary::mul)] = binary_k<MulOp>;
  t.binary[int(Binary::div)] = binary_k<DivOp>;
  t.binary[int(Binary::maximum)] = binary_k<MaxOp>;
  t.binary[int(Binary::minimum)] = binary_k<MinOp>;
  // Binary::pow keeps the reference: std::pow's edge cases are not worth a vector copy.
  t.unary_grad[int(UnaryGrad::relu)] = relu_grad_k;
  t.unary_grad[int(UnaryGrad::sigmoid)] = sigmoid_grad_k;
  t.unary_grad[int(UnaryGrad::tanh)] = tanh_grad_k;
  t.unary_grad[int(UnaryGrad::gelu)] = gelu_grad_k;
  t.unary_grad[int(UnaryGrad::softplus)] = softplus_grad_k;
  t.unary_grad[int(UnaryGrad::silu)] = silu_grad_k;
  t.leaky_relu = leaky_relu_k;
  t.leaky_relu_grad = leaky_relu_grad_k;
  t.elu = elu_k;
  t.elu_grad = elu_grad_k;
  t.clamp = clamp_k;
  t.dropout = dropout_k;
  t.sum_rows = sum_rows_k;
  t.sumsq_rows = sumsq_rows_k;
  t.max_rows = extreme_rows_k<true>;
  t.min_rows = extreme_rows_k<false>;
  t.softmax_rows = softmax_rows_k;
  t.log_softmax_rows = log_softmax_rows_k;
  t.adam = adam_k;
  t.spmm = spmm_k;
  t.max_pool2x2 = max_pool2x2_k;
}
