// The discrete Fourier transform of complex sequences of one length n, in double:
//   forward  X[k] = sum_j x[j] exp(-2 pi i j k / n)
//   inverse  x[j] = sum_k X[k] exp(+2 pi i j k / n)   (unnormalised: the caller scales)
// A plan splits n into radices (4, 2, 3, 5, then primes up to kMaxDirectRadix) and runs
// Stockham's self-sorting decimation in frequency: a stage of radix p over the current
// length L = p m combines x[j], x[j + m], ..., x[j + (p-1) m] by a p-point DFT, turns
// output k by exp(-2 pi i j k / L) and stores it where the next stage finds the k-th
// of p sub-transforms of length m. Each stage streams the whole array once, between two
// buffers, and the result comes out in natural order. A length with a larger prime factor
// runs as a circular convolution of a power-of-two length (Bluestein's chirp:
// j k = (j^2 + k^2 - (k - j)^2) / 2), so every length costs O(n log n). Plans are
// immutable once made and shared by every thread. The stages run on the kernels of
// fft_stages.hpp (a scalar reference and AVX2 / AVX-512 variants giving its bits).
#pragma once

#include <complex>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu/fft/fft_stages.hpp"

namespace kiln::cpu {

using Complex = std::complex<double>;

class FftPlan {
public:
  explicit FftPlan(std::int64_t n);
  std::int64_t size() const { return n_; }
  // The values of Complex scratch that transform() needs for `count` sequences.
  std::int64_t scratch_size(std::int64_t count = 1) const;
  // out = the transforms of `count` sequences stored interleaved, element j of sequence q at
  // [q + count j] in both in and out (n count values each; in, out and the scratch must not
  // overlap). Interleaved sequences share every twiddle factor and loop step, and each
  // comes out as it would alone, bit for bit. `stage` picks the stage kernel (null: the
  // one of the instruction set in use); every kernel gives the same bits.
  void transform(const Complex* in, Complex* out, bool inverse, Complex* scratch, std::int64_t count = 1,
                 FftStageFn stage = nullptr) const;

private:
  struct Stage {  // radix p over lengths p m
    std::int64_t p, m;
    std::vector<Complex> twiddles;  // exp(-2 pi i j k / (p m)) at [(k - 1) m + j], k in [1, p)
    std::vector<Complex> roots;     // exp(-2 pi i r / p), r in [0, p)
  };
  void stockham(const Complex* in, Complex* out, bool inverse, Complex* work, std::int64_t count,
                FftStageFn kernel) const;
  void bluestein(const Complex* in, Complex* out, bool inverse, Complex* scratch, std::int64_t count,
                 FftStageFn kernel) const;

  std::int64_t n_;
  std::vector<Stage> stages_;  // empty for Bluestein's plans
  // Bluestein: the chirp exp(-pi i k^2 / n), k < n, and the transform of its conjugate
  // laid out circularly in m points, m the power of two plan_ runs.
  std::vector<Complex> chirp_, chirp_spectrum_;
  std::shared_ptr<const FftPlan> plan_;
};

// Transforms of real sequences of length n: forward gives the n / 2 + 1 non-negative
// frequencies X[0..n/2] (the rest are their conjugates), inverse takes them back to n reals
// (unnormalised, the imaginary parts of X[0] and, for even n, X[n/2] ignored). An even n
// runs as a complex transform of the n / 2 pairs (x[2j], x[2j+1]), whose even and odd
// halves are then untangled (E_k = (Z_k + conj Z_{m-k}) / 2, O_k = (Z_k - conj Z_{m-k}) / 2i,
// X_k = E_k + e^(-2 pi i k / n) O_k, and backwards for the inverse): half the work of the
// complex transform. An odd n runs as a complex transform of n points.
class RealFftPlan {
public:
  explicit RealFftPlan(std::int64_t n);
  std::int64_t size() const { return n_; }
  std::int64_t scratch_size(std::int64_t count = 1) const;  // Complex values
  // `count` sequences interleaved as FftPlan::transform's: n reals -> n / 2 + 1 bins each.
  void forward(const double* in, Complex* out, Complex* scratch, std::int64_t count = 1) const;
  // n / 2 + 1 bins -> n reals each.
  void inverse(const Complex* in, double* out, Complex* scratch, std::int64_t count = 1) const;

private:
  std::int64_t n_;
  std::shared_ptr<const FftPlan> plan_;  // n / 2 points for even n, else n
  std::vector<Complex> twiddles_;        // exp(-2 pi i k / n), k <= n / 2, for even n
};

// The plan for length n (n >= 1), made on first use and kept for the next call.
std::shared_ptr<const FftPlan> fft_plan(std::int64_t n);

std::shared_ptr<const RealFftPlan> real_fft_plan(std::int64_t n);

// The definition, n^2 products with exactly reduced angles: what the tests compare against.
void dft_reference(const Complex* in, Complex* out, std::int64_t n, bool inverse);

}  // namespace kiln::cpu
