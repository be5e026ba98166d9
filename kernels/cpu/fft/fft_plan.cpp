#include "kernels/cpu/fft/fft_plan.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numbers>
#include <type_traits>
#include <unordered_map>

namespace kiln::cpu {

namespace {

// Plain complex products: std::complex's operator* checks for infinities through a
// library call on every product, which would take most of the transform's time.
inline Complex mul(Complex a, Complex b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
// exp(-2 pi i num / den), the angle taken from num reduced mod den (exact in integers).
inline Complex root(std::int64_t num, std::int64_t den) {
  const std::int64_t r = num % den;
  return std::polar(1.0, -2.0 * std::numbers::pi * static_cast<double>(r) / static_cast<double>(den));
}

std::vector<std::int64_t> radices(std::int64_t n) {
  std::vector<std::int64_t> out;
  while (n % 4 == 0) {
    out.push_back(4);
    n /= 4;
  }
  if (n % 2 == 0) {
    out.push_back(2);
    n /= 2;
  }
  for (std::int64_t p = 3; p * p <= n; p += 2)
    while (n % p == 0) {
      out.push_back(p);
      n /= p;
    }
  if (n > 1) out.push_back(n);
  return out;
}

}  // namespace

FftPlan::FftPlan(std::int64_t n) : n_(n) {
  const std::vector<std::int64_t> factors = radices(n);
  if (!factors.empty() && *std::max_element(factors.begin(), factors.end()) > kMaxDirectRadix) {
    std::int64_t m = 1;
    while (m < 2 * n - 1) m *= 2;
    plan_ = fft_plan(m);
    chirp_.resize(static_cast<std::size_t>(n));
    for (std::int64_t k = 0; k < n; ++k) chirp_[static_cast<std::size_t>(k)] = root(k * k, 2 * n);
    std::vector<Complex> b(static_cast<std::size_t>(m));
    for (std::int64_t j = 0; j < n; ++j) {
      b[static_cast<std::size_t>(j)] = std::conj(chirp_[static_cast<std::size_t>(j)]);
      if (j > 0) b[static_cast<std::size_t>(m - j)] = b[static_cast<std::size_t>(j)];
    }
    chirp_spectrum_.resize(static_cast<std::size_t>(m));
    std::vector<Complex> work(static_cast<std::size_t>(m));
    plan_->transform(b.data(), chirp_spectrum_.data(), false, work.data());
    return;
  }
  std::int64_t size = n;
  for (const std::int64_t p : factors) {
    Stage stage{p, size / p, {}, {}};
    stage.twiddles.resize(static_cast<std::size_t>((p - 1) * stage.m));
    for (std::int64_t k = 1; k < p; ++k)
      for (std::int64_t j = 0; j < stage.m; ++j)
        stage.twiddles[static_cast<std::size_t>((k - 1) * stage.m + j)] = root(j * k, size);
    for (std::int64_t r = 0; r < p; ++r) stage.roots.push_back(root(r, p));
    stages_.push_back(std::move(stage));
    size /= p;
  }
}

std::int64_t FftPlan::scratch_size(std::int64_t count) const {
  return (plan_ ? 3 * plan_->size() : n_) * count;
}

void FftPlan::transform(const Complex* in, Complex* out, bool inverse, Complex* scratch, std::int64_t count,
                        FftStageFn stage) const {
  if (!stage) stage = fft_stage_kernel();
  if (plan_)
    bluestein(in, out, inverse, scratch, count, stage);
  else if (stages_.empty())
    std::copy(in, in + count, out);
  else
    stockham(in, out, inverse, scratch, count, stage);
}

// The stages write to `out` and `work` in turn, so that the last one writes `out`; the
// `count` sequences are the first stage's interleaved transforms.
void FftPlan::stockham(const Complex* in, Complex* out, bool inverse, Complex* work, std::int64_t count,
                       FftStageFn kernel) const {
  const Complex* x = in;
  std::int64_t stride = count;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    Complex* y = (stages_.size() - 1 - i) % 2 == 0 ? out : work;
    const Stage& st = stages_[i];
    kernel(FftStage{st.p, st.m, stride, reinterpret_cast<const double*>(st.twiddles.data()),
                    reinterpret_cast<const double*>(st.roots.data()), inverse ? -1.0 : 1.0,
                    reinterpret_cast<const double*>(x), reinterpret_cast<double*>(y)});
    x = y;
    stride *= st.p;
  }
}

// X_k = chirp_k sum_j (x_j chirp_j) conj(chirp_{k-j}): a circular convolution of m >= 2n - 1
// points, through plan_; the inverse as the conjugate of the forward transform of conj(x).
// The c sequences go through it together, interleaved.
void FftPlan::bluestein(const Complex* in, Complex* out, bool inverse, Complex* scratch, std::int64_t c,
                        FftStageFn kernel) const {
  const std::int64_t m = plan_->size();
  // (re, im) pairs of doubles, as in the stages
  const double* x = reinterpret_cast<const double*>(in);
  const double* chirp = reinterpret_cast<const double*>(chirp_.data());
  const double* filter = reinterpret_cast<const double*>(chirp_spectrum_.data());
  Complex* a_values = scratch;
  Complex* spectrum_values = scratch + m * c;
  Complex* work = scratch + 2 * m * c;
  double* a = reinterpret_cast<double*>(a_values);
  double* spectrum = reinterpret_cast<double*>(spectrum_values);
  const double flip = inverse ? -1.0 : 1.0;  // conj(x) for the inverse
  for (std::int64_t j = 0; j < n_; ++j) {
    const double cr = chirp[2 * j], ci = chirp[2 * j + 1];
    for (std::int64_t e = 2 * c * j; e < 2 * c * (j + 1); e += 2) {
      const double xr = x[e], xi = flip * x[e + 1];
      a[e] = xr * cr - xi * ci;
      a[e + 1] = xr * ci + xi * cr;
    }
  }
  std::fill(a + 2 * n_ * c, a + 2 * m * c, 0.0);
  plan_->transform(a_values, spectrum_values, false, work, c, kernel);
  for (std::int64_t k = 0; k < m; ++k) {
    const double fr = filter[2 * k], fi = filter[2 * k + 1];
    for (std::int64_t e = 2 * c * k; e < 2 * c * (k + 1); e += 2) {
      const double sr = spectrum[e], si = spectrum[e + 1];
      spectrum[e] = sr * fr - si * fi;
      spectrum[e + 1] = sr * fi + si * fr;
    }
  }
  plan_->transform(spectrum_values, a_values, true, work, c, kernel);
  const double scale = 1.0 / static_cast<double>(m);
  double* y = reinterpret_cast<double*>(out);
  for (std::int64_t k = 0; k < n_; ++k) {
    const double cr = chirp[2 * k], ci = chirp[2 * k + 1];
    for (std::int64_t e = 2 * c * k; e < 2 * c * (k + 1); e += 2) {
      const double ar = a[e], ai = a[e + 1];
      y[e] = (ar * cr - ai * ci) * scale;
      y[e + 1] = flip * (ar * ci + ai * cr) * scale;
    }
  }
}

RealFftPlan::RealFftPlan(std::int64_t n) : n_(n), plan_(fft_plan(n % 2 == 0 ? n / 2 : n)) {
  if (n % 2 == 0)
    for (std::int64_t k = 0; k <= n / 2; ++k) twiddles_.push_back(root(k, n));
}

std::int64_t RealFftPlan::scratch_size(std::int64_t count) const {
  return 2 * plan_->size() * count + plan_->scratch_size(count);
}

namespace {

// The real transforms of c sequences, sequence q's element j at [q + c j] (its bin k at
// [q + c k]). Count is std::int64_t, or One for a single sequence, whose loops over q the
// compiler then removes.
using One = std::integral_constant<std::int64_t, 1>;
template <class Count>
void real_forward(const FftPlan& plan, const std::vector<Complex>& twiddles, std::int64_t n, const double* in,
                  Complex* out, Complex* scratch, Count c) {
  const std::int64_t m = plan.size();
  Complex* z = scratch;
  Complex* spectrum = scratch + m * c;
  Complex* work = scratch + 2 * m * c;
  if (n % 2 == 1) {
    double* zd = reinterpret_cast<double*>(z);  // (re, im) pairs, as in the stages
    for (std::int64_t j = 0; j < n * c; ++j) {
      zd[2 * j] = in[j];
      zd[2 * j + 1] = 0.0;
    }
    plan.transform(z, spectrum, false, work, c);
    std::copy(spectrum, spectrum + (n / 2 + 1) * c, out);
    return;
  }
  for (std::int64_t j = 0; j < m; ++j)
    for (std::int64_t q = 0; q < c; ++q) {
      double* zq = reinterpret_cast<double*>(z + q + c * j);
      zq[0] = in[q + c * 2 * j];
      zq[1] = in[q + c * (2 * j + 1)];
    }
  plan.transform(z, spectrum, false, work, c);
  for (std::int64_t q = 0; q < c; ++q) {  // bins 0 and m, from Z_0 alone: Re Z_0 +- Im Z_0
    const Complex z0 = spectrum[q];
    out[q] = Complex(z0.real() + z0.imag(), 0.0);
    out[q + c * m] = Complex(z0.real() - z0.imag(), 0.0);
  }
  // in doubles (as in the stages): (re, im) pairs
  const double* tw = reinterpret_cast<const double*>(twiddles.data());
  double* o = reinterpret_cast<double*>(out);
  for (std::int64_t k = 1; k < m; ++k) {
    const double wr = tw[2 * k], wi = tw[2 * k + 1];
    const double* zk = reinterpret_cast<const double*>(spectrum + c * k);
    const double* zm = reinterpret_cast<const double*>(spectrum + c * (m - k));
    double* ok = o + 2 * c * k;
    for (std::int64_t q = 0; q < 2 * c; q += 2) {
      const double ar = zk[q], ai = zk[q + 1], br = zm[q], bi = -zm[q + 1];
      const double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
      const double orr = 0.5 * (ai - bi), oi = -0.5 * (ar - br);  // (a - b) / 2i
      ok[q] = er + wr * orr - wi * oi;
      ok[q + 1] = ei + wr * oi + wi * orr;
    }
  }
}

template <class Count>
void real_inverse(const FftPlan& plan, const std::vector<Complex>& twiddles, std::int64_t n,
                  const Complex* in, double* out, Complex* scratch, Count c) {
  const std::int64_t m = plan.size();
  Complex* z = scratch;
  Complex* signal = scratch + m * c;
  Complex* work = scratch + 2 * m * c;
  if (n % 2 == 1) {
    const double* x = reinterpret_cast<const double*>(in);  // (re, im) pairs, as in the stages
    double* zd = reinterpret_cast<double*>(z);
    for (std::int64_t q = 0; q < c; ++q) {
      zd[2 * q] = x[2 * q];
      zd[2 * q + 1] = 0.0;
    }
    for (std::int64_t k = 1; k <= n / 2; ++k)
      for (std::int64_t q = 0; q < c; ++q) {
        const std::int64_t at = 2 * (q + c * k), mirror = 2 * (q + c * (n - k));
        zd[at] = zd[mirror] = x[at];
        zd[at + 1] = x[at + 1];
        zd[mirror + 1] = -x[at + 1];
      }
    plan.transform(z, signal, true, work, c);
    const double* pairs = reinterpret_cast<const double*>(signal);
    for (std::int64_t j = 0; j < n * c; ++j) out[j] = pairs[2 * j];
    return;
  }
  // Z_k = E_k + i O_k with E_k = X_k + conj X_{m-k}, O_k = (X_k - conj X_{m-k}) e^(+2 pi i k / n):
  // the inverse of m points then gives n (x[2j] + i x[2j+1]). Bins 0 and m count as real.
  for (std::int64_t q = 0; q < c; ++q) {
    const double first = in[q].real(), last = in[q + c * m].real();
    double* z0 = reinterpret_cast<double*>(z + q);
    z0[0] = first + last;
    z0[1] = first - last;
  }
  // in doubles (as in the stages): (re, im) pairs; the twiddles conjugated
  const double* tw = reinterpret_cast<const double*>(twiddles.data());
  double* zd = reinterpret_cast<double*>(z);
  for (std::int64_t k = 1; k < m; ++k) {
    const double wr = tw[2 * k], wi = -tw[2 * k + 1];
    const double* xk = reinterpret_cast<const double*>(in + c * k);
    const double* xm = reinterpret_cast<const double*>(in + c * (m - k));
    double* zk = zd + 2 * c * k;
    for (std::int64_t q = 0; q < 2 * c; q += 2) {
      const double ar = xk[q], ai = xk[q + 1], br = xm[q], bi = -xm[q + 1];
      const double dr = ar - br, di = ai - bi;
      const double orr = dr * wr - di * wi, oi = dr * wi + di * wr;
      zk[q] = ar + br - oi;  // even + i odd
      zk[q + 1] = ai + bi + orr;
    }
  }
  plan.transform(z, signal, true, work, c);
  for (std::int64_t j = 0; j < m; ++j)
    for (std::int64_t q = 0; q < c; ++q) {
      out[q + c * 2 * j] = signal[q + c * j].real();
      out[q + c * (2 * j + 1)] = signal[q + c * j].imag();
    }
}

}  // namespace

void RealFftPlan::forward(const double* in, Complex* out, Complex* scratch, std::int64_t count) const {
  if (count == 1)
    real_forward(*plan_, twiddles_, n_, in, out, scratch, One{});
  else
    real_forward(*plan_, twiddles_, n_, in, out, scratch, count);
}

void RealFftPlan::inverse(const Complex* in, double* out, Complex* scratch, std::int64_t count) const {
  if (count == 1)
    real_inverse(*plan_, twiddles_, n_, in, out, scratch, One{});
  else
    real_inverse(*plan_, twiddles_, n_, in, out, scratch, count);
}

namespace {
// Plans made on first use, kept by length (a Bluestein plan asks for its power-of-two plan,
// and a real plan for its complex one, while being made: so they are made outside the lock).
template <class Plan>
std::shared_ptr<const Plan> cached_plan(std::int64_t n) {
  static std::mutex mutex;
  static std::unordered_map<std::int64_t, std::shared_ptr<const Plan>> plans;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = plans.find(n); it != plans.end()) return it->second;
  }
  auto plan = std::make_shared<const Plan>(n);
  const std::lock_guard<std::mutex> lock(mutex);
  if (plans.size() >= 256) plans.clear();  // many one-off lengths: start over
  return plans.emplace(n, std::move(plan)).first->second;
}
}  // namespace

std::shared_ptr<const FftPlan> fft_plan(std::int64_t n) { return cached_plan<FftPlan>(n); }
std::shared_ptr<const RealFftPlan> real_fft_plan(std::int64_t n) { return cached_plan<RealFftPlan>(n); }

void dft_reference(const Complex* in, Complex* out, std::int64_t n, bool inverse) {
  for (std::int64_t k = 0; k < n; ++k) {
    Complex sum(0.0, 0.0);
    for (std::int64_t j = 0; j < n; ++j) {
      const Complex w = root(j * k, n);
      sum += mul(in[j], inverse ? std::conj(w) : w);
    }
    out[k] = sum;
  }
}

}  // namespace kiln::cpu
