#include "kernels/cpu/fft/fft_plan.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numbers>
#include <unordered_map>

namespace kiln::cpu {

namespace {

// Plain complex products: std::complex's operator* checks for infinities through a
// library call on every product, which would take most of the transform's time.
inline Complex mul(Complex a, Complex b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
template <bool Inverse>
inline Complex maybe_conj(Complex w) {
  return Inverse ? std::conj(w) : w;
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
  return plan_ ? 3 * plan_->size() + 2 * n_ : n_ * count;
}

void FftPlan::transform(const Complex* in, Complex* out, bool inverse, Complex* scratch,
                        std::int64_t count) const {
  if (plan_) {
    if (count == 1) return bluestein(in, out, inverse, scratch);
    Complex* line = scratch + 3 * plan_->size();  // one sequence at a time, gathered and put back
    Complex* result = line + n_;
    for (std::int64_t q = 0; q < count; ++q) {
      for (std::int64_t j = 0; j < n_; ++j) line[j] = in[q + count * j];
      bluestein(line, result, inverse, scratch);
      for (std::int64_t k = 0; k < n_; ++k) out[q + count * k] = result[k];
    }
  } else if (stages_.empty()) {
    std::copy(in, in + count, out);
  } else if (inverse) {
    stockham<true>(in, out, scratch, count);
  } else {
    stockham<false>(in, out, scratch, count);
  }
}

// The stages write to `out` and `work` in turn, so that the last one writes `out`; the
// `count` sequences are the first stage's interleaved transforms.
template <bool Inverse>
void FftPlan::stockham(const Complex* in, Complex* out, Complex* work, std::int64_t count) const {
  const Complex* x = in;
  std::int64_t stride = count;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    Complex* y = (stages_.size() - 1 - i) % 2 == 0 ? out : work;
    run_stage<Inverse>(stages_[i], stride, x, y);
    x = y;
    stride *= stages_[i].p;
  }
}

// `stride` interleaved transforms of length p m each: for every j < m and each of them
// (q < stride, the innermost, contiguous loop), the p-point DFT b of x[q + stride (j + r m)],
// r < p, goes out as y[q + stride (p j + k)] = b_k exp(-2 pi i j k / (p m)).
template <bool Inverse>
void FftPlan::run_stage(const Stage& st, std::int64_t stride, const Complex* x, Complex* y) {
  const std::int64_t m = st.m, s = stride;
  const Complex* tw = st.twiddles.data();
  if (st.p == 2) {
    for (std::int64_t j = 0; j < m; ++j) {
      const Complex w = maybe_conj<Inverse>(tw[j]);
      const Complex* a = x + s * j;
      Complex* b = y + s * 2 * j;
      for (std::int64_t q = 0; q < s; ++q) {
        const Complex a0 = a[q], a1 = a[q + s * m];
        b[q] = a0 + a1;
        b[q + s] = mul(a0 - a1, w);
      }
    }
  } else if (st.p == 4) {
    for (std::int64_t j = 0; j < m; ++j) {
      const Complex w1 = maybe_conj<Inverse>(tw[j]), w2 = maybe_conj<Inverse>(tw[m + j]),
                    w3 = maybe_conj<Inverse>(tw[2 * m + j]);
      const Complex* a = x + s * j;
      Complex* b = y + s * 4 * j;
      for (std::int64_t q = 0; q < s; ++q) {
        const Complex a0 = a[q], a1 = a[q + s * m], a2 = a[q + 2 * s * m], a3 = a[q + 3 * s * m];
        const Complex t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3, t3 = a1 - a3;
        // W_4 = -i forward, +i inverse: b1 = t1 + W_4 t3, b3 = t1 - W_4 t3
        const Complex turned = Inverse ? Complex(-t3.imag(), t3.real()) : Complex(t3.imag(), -t3.real());
        b[q] = t0 + t2;
        b[q + s] = mul(t1 + turned, w1);
        b[q + 2 * s] = mul(t0 - t2, w2);
        b[q + 3 * s] = mul(t1 - turned, w3);
      }
    }
  } else if (st.p == 3) {
    // W_3 = -1/2 -+ i sqrt(3)/2: b1,2 = a0 - (a1 + a2) / 2 +- i h (a1 - a2)
    const double h = (Inverse ? 1.0 : -1.0) * std::sqrt(3.0) / 2.0;
    for (std::int64_t j = 0; j < m; ++j) {
      const Complex w1 = maybe_conj<Inverse>(tw[j]), w2 = maybe_conj<Inverse>(tw[m + j]);
      const Complex* a = x + s * j;
      Complex* b = y + s * 3 * j;
      for (std::int64_t q = 0; q < s; ++q) {
        const Complex a0 = a[q], a1 = a[q + s * m], a2 = a[q + 2 * s * m];
        const Complex sum = a1 + a2, d = a1 - a2;
        const Complex base = a0 - 0.5 * sum, turned(-h * d.imag(), h * d.real());
        b[q] = a0 + sum;
        b[q + s] = mul(base + turned, w1);
        b[q + 2 * s] = mul(base - turned, w2);
      }
    }
  } else {
    const std::int64_t p = st.p;
    Complex a[kMaxDirectRadix];
    for (std::int64_t j = 0; j < m; ++j)
      for (std::int64_t q = 0; q < s; ++q) {
        for (std::int64_t r = 0; r < p; ++r) a[r] = x[q + s * (j + r * m)];
        for (std::int64_t k = 0; k < p; ++k) {
          Complex sum = a[0];
          for (std::int64_t r = 1, rk = k; r < p; ++r, rk = (rk + k) % p)
            sum += mul(a[r], maybe_conj<Inverse>(st.roots[static_cast<std::size_t>(rk)]));
          y[q + s * (p * j + k)] = k == 0 ? sum : mul(sum, maybe_conj<Inverse>(tw[(k - 1) * m + j]));
        }
      }
  }
}

// X_k = chirp_k sum_j (x_j chirp_j) conj(chirp_{k-j}): a circular convolution of m >= 2n - 1
// points, through plan_; the inverse as the conjugate of the forward transform of conj(x).
void FftPlan::bluestein(const Complex* in, Complex* out, bool inverse, Complex* scratch) const {
  const std::int64_t m = plan_->size();
  Complex* a = scratch;
  Complex* spectrum = scratch + m;
  for (std::int64_t j = 0; j < n_; ++j)
    a[j] = mul(inverse ? std::conj(in[j]) : in[j], chirp_[static_cast<std::size_t>(j)]);
  std::fill(a + n_, a + m, Complex(0.0, 0.0));
  plan_->transform(a, spectrum, false, scratch + 2 * m);
  for (std::int64_t k = 0; k < m; ++k)
    spectrum[k] = mul(spectrum[k], chirp_spectrum_[static_cast<std::size_t>(k)]);
  plan_->transform(spectrum, a, true, scratch + 2 * m);
  const double scale = 1.0 / static_cast<double>(m);
  for (std::int64_t k = 0; k < n_; ++k) {
    const Complex v = mul(a[k], chirp_[static_cast<std::size_t>(k)]) * scale;
    out[k] = inverse ? std::conj(v) : v;
  }
}

RealFftPlan::RealFftPlan(std::int64_t n) : n_(n), plan_(fft_plan(n % 2 == 0 ? n / 2 : n)) {
  if (n % 2 == 0)
    for (std::int64_t k = 0; k <= n / 2; ++k) twiddles_.push_back(root(k, n));
}

std::int64_t RealFftPlan::scratch_size(std::int64_t count) const {
  return 2 * plan_->size() * count + plan_->scratch_size(count);
}

// Below, sequence q's element j sits at [q + count j] (its bin k at [q + count k]).
void RealFftPlan::forward(const double* in, Complex* out, Complex* scratch, std::int64_t count) const {
  const std::int64_t m = plan_->size(), c = count;
  Complex* z = scratch;
  Complex* spectrum = scratch + m * c;
  Complex* work = scratch + 2 * m * c;
  if (n_ % 2 == 1) {
    for (std::int64_t j = 0; j < n_ * c; ++j) z[j] = Complex(in[j], 0.0);
    plan_->transform(z, spectrum, false, work, c);
    std::copy(spectrum, spectrum + (n_ / 2 + 1) * c, out);
    return;
  }
  for (std::int64_t j = 0; j < m; ++j)
    for (std::int64_t q = 0; q < c; ++q) z[q + c * j] = Complex(in[q + c * 2 * j], in[q + c * (2 * j + 1)]);
  plan_->transform(z, spectrum, false, work, c);
  for (std::int64_t q = 0; q < c; ++q) {  // bins 0 and m, from Z_0 alone: Re Z_0 +- Im Z_0
    const Complex z0 = spectrum[q];
    out[q] = Complex(z0.real() + z0.imag(), 0.0);
    out[q + c * m] = Complex(z0.real() - z0.imag(), 0.0);
  }
  for (std::int64_t k = 1; k < m; ++k) {
    const Complex w = twiddles_[static_cast<std::size_t>(k)];
    const Complex* zk = spectrum + c * k;
    const Complex* zm = spectrum + c * (m - k);
    for (std::int64_t q = 0; q < c; ++q) {
      const Complex a = zk[q], b = std::conj(zm[q]);
      const Complex even = (a + b) * 0.5, d = a - b;
      const Complex odd(0.5 * d.imag(), -0.5 * d.real());  // d / 2i
      out[q + c * k] = even + mul(w, odd);
    }
  }
}

void RealFftPlan::inverse(const Complex* in, double* out, Complex* scratch, std::int64_t count) const {
  const std::int64_t m = plan_->size(), c = count;
  Complex* z = scratch;
  Complex* signal = scratch + m * c;
  Complex* work = scratch + 2 * m * c;
  if (n_ % 2 == 1) {
    for (std::int64_t q = 0; q < c; ++q) z[q] = Complex(in[q].real(), 0.0);
    for (std::int64_t k = 1; k <= n_ / 2; ++k)
      for (std::int64_t q = 0; q < c; ++q) {
        z[q + c * k] = in[q + c * k];
        z[q + c * (n_ - k)] = std::conj(in[q + c * k]);
      }
    plan_->transform(z, signal, true, work, c);
    for (std::int64_t j = 0; j < n_ * c; ++j) out[j] = signal[j].real();
    return;
  }
  // Z_k = E_k + i O_k with E_k = X_k + conj X_{m-k}, O_k = (X_k - conj X_{m-k}) e^(+2 pi i k / n):
  // the inverse of m points then gives n (x[2j] + i x[2j+1]). Bins 0 and m count as real.
  for (std::int64_t q = 0; q < c; ++q) {
    const double first = in[q].real(), last = in[q + c * m].real();
    z[q] = Complex(first + last, first - last);
  }
  for (std::int64_t k = 1; k < m; ++k) {
    const Complex w = std::conj(twiddles_[static_cast<std::size_t>(k)]);
    const Complex* xk = in + c * k;
    const Complex* xm = in + c * (m - k);
    for (std::int64_t q = 0; q < c; ++q) {
      const Complex a = xk[q], b = std::conj(xm[q]);
      const Complex even = a + b, odd = mul(a - b, w);
      z[q + c * k] = even + Complex(-odd.imag(), odd.real());
    }
  }
  plan_->transform(z, signal, true, work, c);
  for (std::int64_t j = 0; j < m; ++j)
    for (std::int64_t q = 0; q < c; ++q) {
      out[q + c * 2 * j] = signal[q + c * j].real();
      out[q + c * (2 * j + 1)] = signal[q + c * j].imag();
    }
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
