// The Stockham stage (fft_stages.hpp) on vectors of V::C complex values (V::D, (re, im)
// pairs side by side): included by fft_stages_avx2.cpp (C = 2) and fft_stages_avx512.cpp
// (C = 4) inside an anonymous namespace, after defining V. The interleaved transforms'
// elements q, q + 1, ... share every twiddle factor, so a vector holds C of them, and each
// operation below is the reference butterfly's (fft_butterflies.hpp) on C elements at once,
// in the same order: a product by a factor w is v wr + swap(v) (-wi, wi), which rounds as
// the reference's (re wr - im wi, re wi + im wr). Elements past the last whole vector go
// through the reference butterflies themselves.

using D = V::D;
constexpr std::int64_t C = V::C;

// v (wr + i wi) for each pair of v, wi_alt = (-wi, wi, -wi, wi, ...)
inline D times(D v, D wr, D wi_alt) { return V::add(V::mul(v, wr), V::mul(V::swap(v), wi_alt)); }

// The factors of one j as vectors: real parts and (-wi, wi) pairs.
struct Factors {
  D re[kMaxDirectRadix], im_alt[kMaxDirectRadix];
  void set(const double* w, std::int64_t count) {
    for (std::int64_t k = 0; k < count; ++k) {
      re[k] = V::set1(w[2 * k]);
      im_alt[k] = V::alternate(-w[2 * k + 1], w[2 * k + 1]);
    }
  }
};

// For each j: the scalar factors w, their vectors f, then vector(a, b, f) over the whole
// vectors of elements and scalar(a, b, w) over the rest.
template <class Vector, class Scalar>
void each_j(const FftStage& st, Vector vector, Scalar scalar) {
  double w[2 * kMaxDirectRadix];
  Factors f;
  const std::int64_t s = st.s, whole = s / C * C;
  for (std::int64_t j = 0; j < st.m; ++j) {
    fft_butterfly::twiddles_at(st, j, w);
    const double* a = st.x + 2 * s * j;
    double* b = st.y + 2 * s * st.p * j;
    if (whole > 0) {
      f.set(w, st.p - 1);
      for (std::int64_t q = 0; q < whole; q += C) vector(a + 2 * q, b + 2 * q, f);
    }
    for (std::int64_t q = whole; q < s; ++q) scalar(a + 2 * q, b + 2 * q, w);
  }
}

void stage(const FftStage& st) {
  namespace bf = fft_butterfly;
  const std::int64_t p = st.p, span = 2 * st.s * st.m, step = 2 * st.s;
  const double sign = st.sign;
  if (p == 2) {
    each_j(
        st,
        [=](const double* a, double* b, const Factors& f) {
          const D a0 = V::load(a), a1 = V::load(a + span);
          V::store(b, V::add(a0, a1));
          V::store(b + step, times(V::sub(a0, a1), f.re[0], f.im_alt[0]));
        },
        [=](const double* a, double* b, const double* w) { bf::radix2(a, b, span, step, w); });
  } else if (p == 4) {
    const D i_sign = V::alternate(sign, -sign);  // u = (sign t3i, -sign t3r)
    each_j(
        st,
        [=](const double* a, double* b, const Factors& f) {
          const D a0 = V::load(a), a1 = V::load(a + span), a2 = V::load(a + 2 * span), a3 = V::load(a + 3 * span);
          const D t0 = V::add(a0, a2), t1 = V::sub(a0, a2), t2 = V::add(a1, a3), t3 = V::sub(a1, a3);
          const D u = V::mul(V::swap(t3), i_sign);
          V::store(b, V::add(t0, t2));
          V::store(b + step, times(V::add(t1, u), f.re[0], f.im_alt[0]));
          V::store(b + 2 * step, times(V::sub(t0, t2), f.re[1], f.im_alt[1]));
          V::store(b + 3 * step, times(V::sub(t1, u), f.re[2], f.im_alt[2]));
        },
        [=](const double* a, double* b, const double* w) { bf::radix4(a, b, span, step, w, sign); });
  } else if (p == 3) {
    const double h = bf::radix3_h(sign);
    const D half = V::set1(0.5), h_alt = V::alternate(-h, h);  // i h d = (-h di, h dr)
    each_j(
        st,
        [=](const double* a, double* b, const Factors& f) {
          const D a0 = V::load(a), a1 = V::load(a + span), a2 = V::load(a + 2 * span);
          const D sum = V::add(a1, a2), diff = V::sub(a1, a2);
          const D c = V::sub(a0, V::mul(half, sum)), u = V::mul(V::swap(diff), h_alt);
          V::store(b, V::add(a0, sum));
          V::store(b + step, times(V::add(c, u), f.re[0], f.im_alt[0]));
          V::store(b + 2 * step, times(V::sub(c, u), f.re[1], f.im_alt[1]));
        },
        [=](const double* a, double* b, const double* w) { bf::radix3(a, b, span, step, w, h); });
  } else {
    double roots[2 * kMaxDirectRadix];
    bf::roots_of(st, roots);
    Factors root;
    root.set(roots, p);
    each_j(
        st,
        [&](const double* a, double* b, const Factors& f) {
          D x[kMaxDirectRadix];
          for (std::int64_t r = 0; r < p; ++r) x[r] = V::load(a + r * span);
          for (std::int64_t k = 0; k < p; ++k) {
            D sum = x[0];
            for (std::int64_t r = 1, rk = k; r < p; ++r, rk = (rk + k) % p)
              sum = V::add(sum, times(x[r], root.re[rk], root.im_alt[rk]));
            V::store(b + k * step, k == 0 ? sum : times(sum, f.re[k - 1], f.im_alt[k - 1]));
          }
        },
        [&](const double* a, double* b, const double* w) { bf::radix_any(a, b, span, step, w, roots, p); });
  }
}
