// The butterflies of one element of a Stockham stage (fft_stages.hpp) on (re, im) pairs of
// doubles: the reference's arithmetic, which the vector variants (fft_stages_simd.inl)
// follow operation by operation, and which they use themselves for the elements left over
// after their last whole vector.
//
// An element's p inputs are at a + r span and its p outputs at b + k step (r, k < p, in
// doubles); w holds the element's twiddle factors w(k, j), k in [1, p), as pairs, and
// `roots` the p-point DFT's roots, both already conjugated for the inverse.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/cpu/fft/fft_stages.hpp"

namespace kiln::cpu::fft_butterfly {

// at[0], at[1] = (re + i im) (wr + i wi)
inline void store_product(double* at, double re, double im, double wr, double wi) {
  at[0] = re * wr - im * wi;
  at[1] = re * wi + im * wr;
}

// The twiddle factors of the stage's elements at j: w[2 (k - 1)], w[2 (k - 1) + 1].
inline void twiddles_at(const FftStage& st, std::int64_t j, double* w) {
  for (std::int64_t k = 1; k < st.p; ++k) {
    const double* t = st.twiddles + 2 * ((k - 1) * st.m + j);
    w[2 * (k - 1)] = t[0];
    w[2 * (k - 1) + 1] = st.sign * t[1];
  }
}

// The DFT's roots, conjugated for the inverse.
inline void roots_of(const FftStage& st, double* roots) {
  for (std::int64_t r = 0; r < st.p; ++r) {
    roots[2 * r] = st.roots[2 * r];
    roots[2 * r + 1] = st.sign * st.roots[2 * r + 1];
  }
}

inline void radix2(const double* a, double* b, std::int64_t span, std::int64_t step, const double* w) {
  const double a0r = a[0], a0i = a[1], a1r = a[span], a1i = a[span + 1];
  const double dr = a0r - a1r, di = a0i - a1i;
  b[0] = a0r + a1r;
  b[1] = a0i + a1i;
  store_product(b + step, dr, di, w[0], w[1]);
}

// W_4 t3 is -i t3 forward and +i t3 inverse: (sign t3i, -sign t3r).
inline void radix4(const double* a, double* b, std::int64_t span, std::int64_t step, const double* w,
                   double sign) {
  const double a0r = a[0], a0i = a[1], a1r = a[span], a1i = a[span + 1];
  const double a2r = a[2 * span], a2i = a[2 * span + 1], a3r = a[3 * span], a3i = a[3 * span + 1];
  const double t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
  const double t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
  const double ur = sign * t3i, ui = -sign * t3r;
  const double b1r = t1r + ur, b1i = t1i + ui, b2r = t0r - t2r, b2i = t0i - t2i;
  const double b3r = t1r - ur, b3i = t1i - ui;
  b[0] = t0r + t2r;
  b[1] = t0i + t2i;
  store_product(b + step, b1r, b1i, w[0], w[1]);
  store_product(b + 2 * step, b2r, b2i, w[2], w[3]);
  store_product(b + 3 * step, b3r, b3i, w[4], w[5]);
}

// W_3 = -1/2 -+ i sqrt(3)/2: b1,2 = a0 - (a1 + a2) / 2 +- i h (a1 - a2), h = radix3_h(sign).
inline double radix3_h(double sign) { return -sign * std::sqrt(3.0) / 2.0; }
inline void radix3(const double* a, double* b, std::int64_t span, std::int64_t step, const double* w,
                   double h) {
  const double a0r = a[0], a0i = a[1], a1r = a[span], a1i = a[span + 1];
  const double a2r = a[2 * span], a2i = a[2 * span + 1];
  const double sr = a1r + a2r, si = a1i + a2i, dr = a1r - a2r, di = a1i - a2i;
  const double cr = a0r - 0.5 * sr, ci = a0i - 0.5 * si, ur = -h * di, ui = h * dr;  // i h d
  const double b1r = cr + ur, b1i = ci + ui, b2r = cr - ur, b2i = ci - ui;
  b[0] = a0r + sr;
  b[1] = a0i + si;
  store_product(b + step, b1r, b1i, w[0], w[1]);
  store_product(b + 2 * step, b2r, b2i, w[2], w[3]);
}

// Any radix up to kMaxDirectRadix, by the definition: b_k = sum_r a_r root(r k mod p).
inline void radix_any(const double* a, double* b, std::int64_t span, std::int64_t step, const double* w,
                      const double* roots, std::int64_t p) {
  double ar[kMaxDirectRadix], ai[kMaxDirectRadix];
  for (std::int64_t r = 0; r < p; ++r) {
    ar[r] = a[r * span];
    ai[r] = a[r * span + 1];
  }
  for (std::int64_t k = 0; k < p; ++k) {
    double sr = ar[0], si = ai[0];
    for (std::int64_t r = 1, rk = k; r < p; ++r, rk = (rk + k) % p) {
      const double rr = roots[2 * rk], ri = roots[2 * rk + 1];
      const double pr = ar[r] * rr - ai[r] * ri, pi = ar[r] * ri + ai[r] * rr;
      sr += pr;
      si += pi;
    }
    if (k == 0) {
      b[0] = sr;
      b[1] = si;
    } else {
      store_product(b + k * step, sr, si, w[2 * (k - 1)], w[2 * (k - 1) + 1]);
    }
  }
}

}  // namespace kiln::cpu::fft_butterfly
