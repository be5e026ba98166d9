// Fourier transforms: the plan against the definition for every kind of length, the
// tensor transforms against a direct sum, values from torch 2.15 written out, float64
// gradchecks, windows, stft / istft, errors.
#include <complex>
#include <numbers>
#include <random>

#include "kernels/cpu/fft/fft_plan.hpp"
#include "tests/helpers.hpp"

using namespace kiln;
using namespace kiln::test;
using In = std::vector<Tensor>;
using cpu::Complex;

// GCC says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define KILN_UNDER_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_UNDER_ADDRESS_SANITIZER 1
#endif
#endif
#ifndef KILN_UNDER_ADDRESS_SANITIZER
#define KILN_UNDER_ADDRESS_SANITIZER 0
#endif

namespace {

std::vector<Complex> random_complex(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d;
  std::vector<Complex> v(static_cast<std::size_t>(n));
  for (Complex& c : v) c = Complex(d(g), d(g));
  return v;
}

// max |a - b| / max |b|
double relative_error(const std::vector<Complex>& a, const std::vector<Complex>& b) {
  double diff = 0, size = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    size = std::max(size, std::abs(b[i]));
  }
  return diff / size;
}

// The transform along complex dimension `dim` of z (..., 2), by the definition, in double.
Tensor dft_along(const Tensor& z, std::int64_t dim_in, bool inverse, double scale) {
  const std::int64_t dim = dim_in < 0 ? dim_in + z.dim() - 1 : dim_in;  // a complex dimension
  const Tensor moved = movedim(z.to(kFloat64), dim, -2).contiguous();   // (..., n, 2)
  const std::int64_t n = moved.size(-2), lines = moved.numel() / (2 * n);
  std::vector<double> v = moved.to_vector<double>(), out(v.size());
  for (std::int64_t l = 0; l < lines; ++l)
    for (std::int64_t k = 0; k < n; ++k) {
      Complex s(0, 0);
      for (std::int64_t j = 0; j < n; ++j) {
        const double t = (inverse ? 2 : -2) * std::numbers::pi * static_cast<double>((j * k) % n) / n;
        s += Complex(v[2 * (l * n + j)], v[2 * (l * n + j) + 1]) * Complex(std::cos(t), std::sin(t));
      }
      out[2 * (l * n + k)] = s.real() * scale;
      out[2 * (l * n + k) + 1] = s.imag() * scale;
    }
  return movedim(from_vector(out, moved.shape()), -2, dim);
}

Tensor random_complex_tensor(const Shape& complex_shape, DType dtype = kFloat64) {
  Shape s = complex_shape;
  s.push_back(2);
  return randn(s, dtype);
}

}  // namespace

TEST_CASE("fft plan: every kind of length against the definition, both directions") {
  std::vector<std::int64_t> lengths;
  for (std::int64_t n = 1; n <= 70; ++n) lengths.push_back(n);
  // powers of the radices, mixed, a direct prime radix, Bluestein's primes and their multiples
  for (std::int64_t n : {128, 243, 256, 625, 1000, 1024, 29 * 31, 37, 97, 1009, 2 * 1009, 3 * 37 * 4, 4096})
    lengths.push_back(n);
  for (const std::int64_t n : lengths) {
    INFO("n = " << n);
    const auto plan = cpu::fft_plan(n);
    const std::vector<Complex> x = random_complex(n, static_cast<std::uint64_t>(n));
    std::vector<Complex> got(x.size()), want(x.size()), back(x.size()),
        scratch(static_cast<std::size_t>(plan->scratch_size()));
    for (const bool inverse : {false, true}) {
      plan->transform(x.data(), got.data(), inverse, scratch.data());
      cpu::dft_reference(x.data(), want.data(), n, inverse);
      CHECK(relative_error(got, want) < 1e-13 * (1 + std::log2(static_cast<double>(n))));
    }
    plan->transform(x.data(), got.data(), false, scratch.data());
    plan->transform(got.data(), back.data(), true, scratch.data());
    for (Complex& c : back) c /= static_cast<double>(n);
    CHECK(relative_error(back, x) < 1e-13 * (1 + std::log2(static_cast<double>(n))));
  }
  // real transforms: even lengths through half-length complex ones, odd lengths whole
  for (const std::int64_t n : lengths) {
    INFO("real, n = " << n);
    const auto plan = cpu::real_fft_plan(n);
    const std::int64_t h = n / 2 + 1;
    const std::vector<Complex> noise = random_complex(n, static_cast<std::uint64_t>(n) + 7);
    std::vector<double> x(static_cast<std::size_t>(n)), back(x.size());
    std::vector<Complex> as_complex(x.size()), want(x.size()), got(static_cast<std::size_t>(h)),
        scratch(static_cast<std::size_t>(plan->scratch_size()));
    for (std::size_t j = 0; j < x.size(); ++j) as_complex[j] = x[j] = noise[j].real();
    cpu::dft_reference(as_complex.data(), want.data(), n, false);
    plan->forward(x.data(), got.data(), scratch.data());
    want.resize(static_cast<std::size_t>(h));
    CHECK(relative_error(got, want) < 1e-13 * (1 + std::log2(static_cast<double>(n))));
    // the inverse ignores the imaginary parts of bin 0 and bin n / 2 (even n)
    got[0] += Complex(0, 5);
    if (n % 2 == 0) got[static_cast<std::size_t>(h - 1)] += Complex(0, -3);
    plan->inverse(got.data(), back.data(), scratch.data());
    double err = 0;
    for (std::size_t j = 0; j < x.size(); ++j)
      err = std::max(err, std::abs(back[j] / static_cast<double>(n) - x[j]));
    CHECK(err < 1e-13 * (1 + std::log2(static_cast<double>(n))));
  }
  // several sequences interleaved give each one's own transform, bit for bit
  for (const std::int64_t n : {1, 2, 12, 64, 37, 30, 31 * 2, 1009})
    for (const std::int64_t count : {3, 4, 9}) {
      INFO("interleaved, n = " << n << ", " << count << " sequences");
      const auto plan = cpu::fft_plan(n);
      const auto real = cpu::real_fft_plan(n);
      const std::vector<Complex> x = random_complex(n * count, 11);
      std::vector<Complex> together(x.size()), alone(static_cast<std::size_t>(n)), line(alone.size()),
          scratch(static_cast<std::size_t>(std::max(plan->scratch_size(count), real->scratch_size(count))));
      plan->transform(x.data(), together.data(), true, scratch.data(), count);
      std::vector<double> reals(x.size()), real_back(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) reals[i] = x[i].real();
      const std::int64_t h = n / 2 + 1;
      std::vector<Complex> bins(static_cast<std::size_t>(h * count)), line_bins(static_cast<std::size_t>(h));
      real->forward(reals.data(), bins.data(), scratch.data(), count);
      real->inverse(bins.data(), real_back.data(), scratch.data(), count);
      for (std::int64_t q = 0; q < count; ++q) {
        for (std::int64_t j = 0; j < n; ++j)
          line[static_cast<std::size_t>(j)] = x[static_cast<std::size_t>(q + count * j)];
        plan->transform(line.data(), alone.data(), true, scratch.data());
        std::vector<double> line_reals(static_cast<std::size_t>(n));
        for (std::int64_t j = 0; j < n; ++j)
          line_reals[static_cast<std::size_t>(j)] = line[static_cast<std::size_t>(j)].real();
        real->forward(line_reals.data(), line_bins.data(), scratch.data());
        for (std::int64_t k = 0; k < n; ++k) {
          CHECK(together[static_cast<std::size_t>(q + count * k)] == alone[static_cast<std::size_t>(k)]);
          // the round trip (n times the line), within the plan tests' bound relative to n
          CHECK(std::abs(real_back[static_cast<std::size_t>(q + count * k)] -
                         line_reals[static_cast<std::size_t>(k)] * static_cast<double>(n)) <
                1e-13 * static_cast<double>(n) * (1 + std::log2(static_cast<double>(n))));
        }
        for (std::int64_t k = 0; k < h; ++k)
          CHECK(bins[static_cast<std::size_t>(q + count * k)] == line_bins[static_cast<std::size_t>(k)]);
      }
    }
  CHECK(cpu::fft_plan(1009)->scratch_size(2) == 2 * 3 * 2048);        // Bluestein's: 2048 >= 2n - 1
  CHECK(cpu::fft_plan(31)->scratch_size(4) == 4 * 31);                // Stockham's second buffer
}

TEST_CASE("fft: values written out from torch 2.15") {
  const Tensor x = tensor<double>({1, 2, 3, 4});
  check_values(fft::fft(fft::complex(x, zeros_like(x))), {10, 0, -2, 2, -2, 0, -2, -2}, 1e-14);
  check_values(fft::rfft(x), {10, 0, -2, 2, -2, 0}, 1e-14);
  check_values(fft::irfft(fft::rfft(x)), {1, 2, 3, 4}, 1e-14);
  check_values(fft::rfft(x, -1, -1, fft::Norm::forward), {2.5, 0, -0.5, 0.5, -0.5, 0}, 1e-14);
  check_values(fft::rfft(x, -1, -1, fft::Norm::ortho), {5, 0, -1, 1, -1, 0}, 1e-14);
  check_values(fft::rfft(tensor<std::int64_t>({1, 2, 3, 4})), {10, 0, -2, 2, -2, 0}, 1e-6);  // as float32
  CHECK(fft::rfft(tensor<std::int64_t>({1, 2})).dtype() == kFloat32);
  // hfft of the half signal [1, 2 + i, 3] (the whole: 1, 2 + i, 3, 2 - i) is the real
  // spectrum [8, 0, 0, -4] (torch 2.15's values); ihfft goes back
  const Tensor half = tensor<double>({1, 0, 2, 1, 3, 0}).reshape({3, 2});
  check_values(fft::hfft(half), {8, 0, 0, -4}, 1e-14);
  check_values(fft::ihfft(fft::hfft(half)), {1, 0, 2, 1, 3, 0}, 1e-14);
  check_values(fft::hfft(half, -1, -1, fft::Norm::forward), {2, 0, 0, -1}, 1e-14);
  check_values(fft::fftfreq(5), {0, 0.2, 0.4, -0.4, -0.2});
  check_values(fft::fftfreq(4, 0.5), {0, 0.5, -1, -0.5});
  check_values(fft::rfftfreq(5, 2.0), {0, 0.1, 0.2});
  check_values(fft::fftshift(arange(5, kInt64), {0}), {3, 4, 0, 1, 2});
  check_values(fft::ifftshift(fft::fftshift(arange(6, kInt64), {0}), {0}), {0, 1, 2, 3, 4, 5});
}

TEST_CASE("fft: every transform against the definition, along any dimension, with n and norm") {
  manual_seed(3);
  const Tensor z = random_complex_tensor({3, 5, 4});
  for (const std::int64_t dim : {0, 1, 2, -1})
    for (const fft::Norm norm : {fft::Norm::backward, fft::Norm::ortho, fft::Norm::forward}) {
      INFO("dim " << dim << " norm " << static_cast<int>(norm));
      const std::int64_t n = z.size(dim < 0 ? dim - 1 : dim);  // a complex dimension
      const double sn = std::sqrt(static_cast<double>(n));
      const double fwd = norm == fft::Norm::backward ? 1.0 : norm == fft::Norm::ortho ? 1 / sn : 1.0 / n;
      const double inv = norm == fft::Norm::forward ? 1.0 : norm == fft::Norm::ortho ? 1 / sn : 1.0 / n;
      check_same(fft::fft(z, -1, dim, norm), dft_along(z, dim, false, fwd), 1e-12);
      check_same(fft::ifft(z, -1, dim, norm), dft_along(z, dim, true, inv), 1e-12);
      // rfft: the first n / 2 + 1 bins of the complex transform of the real part
      const Tensor re = fft::real(z).contiguous();
      const Tensor full = dft_along(fft::complex(re, zeros_like(re)), dim, false, fwd);
      const std::int64_t d = dim < 0 ? dim + 3 : dim;
      check_same(fft::rfft(re, -1, dim, norm), full.narrow(d, 0, n / 2 + 1), 1e-12);
      // irfft inverts rfft for even and odd lengths
      check_same(fft::irfft(fft::rfft(re, -1, dim, norm), n, dim, norm), re, 1e-12);
    }
  // n pads with zeros or cuts
  check_same(fft::fft(z, 7, 1), fft::fft(pad(z, {0, 0, 0, 0, 0, 2}), -1, 1), 1e-12);
  check_same(fft::fft(z, 2, 1), fft::fft(z.narrow(1, 0, 2), -1, 1), 1e-12);
  const Tensor x = randn({6, 9}, kFloat64);
  check_same(fft::rfft(x, 12), fft::rfft(pad(x, {0, 3})), 1e-12);
  // irfft: n defaults to 2 (m - 1); extra bins are cut, missing ones are zeros
  const Tensor spectrum = fft::rfft(x);  // (6, 5, 2)
  CHECK(fft::irfft(spectrum).shape() == Shape{6, 8});
  check_same(fft::irfft(spectrum, 9), x, 1e-12);
  check_same(fft::irfft(spectrum, 4), fft::irfft(spectrum.narrow(1, 0, 3), 4), 1e-12);
  check_same(fft::irfft(spectrum.narrow(1, 0, 3), 9),
             fft::irfft(pad(spectrum.narrow(1, 0, 3), {0, 0, 0, 2}), 9), 1e-12);
  // irfft ignores the imaginary parts of bin 0 and, for even n, bin n / 2
  Tensor bumped = fft::rfft(x, 8).clone();
  bumped.select(1, 0).select(-1, 1).fill_(3.0);
  bumped.select(1, 4).select(-1, 1).fill_(-2.0);
  check_same(fft::irfft(bumped, 8), x.narrow(1, 0, 8), 1e-12);
  // float32 in, float32 out, computed in double
  const Tensor z32 = z.to(kFloat32);
  CHECK(fft::fft(z32).dtype() == kFloat32);
  check_same(fft::fft(z32), fft::fft(z), 1e-5);
}

TEST_CASE("fft: several dimensions") {
  manual_seed(4);
  const Tensor z = random_complex_tensor({2, 6, 5});
  check_same(fft::fft2(z), fft::fft(fft::fft(z, -1, 2), -1, 1), 1e-12);
  check_same(fft::fftn(z), fft::fft(fft::fft(fft::fft(z, -1, 0), -1, 1), -1, 2), 1e-12);
  check_same(fft::ifftn(fft::fftn(z)), z, 1e-12);
  check_same(fft::fftn(z, {4, 3}), fft::fft(fft::fft(z, 4, 1), 3, 2), 1e-12);        // last len(s) dims
  check_same(fft::fftn(z, {}, {0, 2}), fft::fft(fft::fft(z, -1, 0), -1, 2), 1e-12);  // named dims
  const Tensor x = randn({3, 6, 7}, kFloat64);
  const Tensor r = fft::rfft2(x);
  CHECK(r.shape() == Shape{3, 6, 4, 2});
  check_same(r, fft::fft(fft::rfft(x, -1, 2), -1, 1), 1e-12);
  check_same(fft::irfft2(r, {6, 7}), x, 1e-12);
  const Tensor even = x.narrow(2, 0, 6);
  check_same(fft::irfftn(fft::rfftn(even)), even, 1e-12);  // 2 (4 - 1) = 6 points back
  check_same(fft::irfftn(fft::rfftn(x, {}, {0, 1, 2}, fft::Norm::ortho), {3, 6, 7}, {}, fft::Norm::ortho), x,
             1e-12);
  // Parseval: the ortho transform keeps the sum of squares
  const Tensor energy = sum(z * z), transformed = fft::fftn(z, {}, {}, fft::Norm::ortho);
  CHECK(sum(transformed * transformed).item<double>() ==
        doctest::Approx(energy.item<double>()).epsilon(1e-12));
}

TEST_CASE("fft: gradchecks") {
  manual_seed(5);
  for (const fft::Norm norm : {fft::Norm::backward, fft::Norm::ortho, fft::Norm::forward}) {
    KILN_CHECK_GRAD([norm](const In& in) { return fft::fft(in[0], -1, 1, norm); },
                    {random_complex_tensor({2, 5, 3})});
    KILN_CHECK_GRAD([norm](const In& in) { return fft::ifft(in[0], 6, 0, norm); },
                    {random_complex_tensor({4, 3})});
    for (const std::int64_t n : {6, 7}) {  // even and odd
      KILN_CHECK_GRAD([norm, n](const In& in) { return fft::rfft(in[0], n, 0, norm); },
                      {randn({n, 3}, kFloat64)});
      KILN_CHECK_GRAD([norm, n](const In& in) { return fft::irfft(in[0], n, 1, norm); },
                      {random_complex_tensor({2, n / 2 + 1, 3})});
    }
  }
  KILN_CHECK_GRAD([](const In& in) { return fft::hfft(in[0], 7, 0, fft::Norm::ortho); },
                  {random_complex_tensor({4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return fft::ihfft(in[0], 6); }, {randn({2, 6}, kFloat64)});
  KILN_CHECK_GRAD([](const In& in) { return fft::rfft(in[0], 5); }, {randn({3, 8}, kFloat64)});  // cut
  KILN_CHECK_GRAD([](const In& in) { return fft::irfft(in[0], 9); },
                  {random_complex_tensor({3, 3})});  // padded
  KILN_CHECK_GRAD([](const In& in) { return fft::fft2(in[0], {3, 5}); }, {random_complex_tensor({4, 4})});
  KILN_CHECK_GRAD([](const In& in) { return fft::rfft2(in[0]); }, {randn({2, 4, 5}, kFloat64)});
  KILN_CHECK_GRAD([](const In& in) { return fft::irfftn(in[0], {4, 6}); }, {random_complex_tensor({4, 4})});
  // prime lengths past the direct radices run through Bluestein's plan
  KILN_CHECK_GRAD([](const In& in) { return fft::rfft(in[0]); }, {randn({37}, kFloat64)});
}

TEST_CASE("fft and stft: second derivatives (each transform's gradient is a transform again)") {
  manual_seed(7);
  for (const fft::Norm norm : {fft::Norm::backward, fft::Norm::ortho})
    for (const std::int64_t n : {6, 7}) {
      KILN_CHECK_GRADGRAD([norm, n](const In& in) { return fft::abs(fft::rfft(in[0], n, 0, norm)); },
                          {randn({n, 2}, kFloat64)});
      KILN_CHECK_GRADGRAD([norm, n](const In& in) { return square(fft::irfft(in[0], n, 1, norm)); },
                          {random_complex_tensor({2, n / 2 + 1})});
    }
  KILN_CHECK_GRADGRAD([](const In& in) { return fft::fft(in[0], -1, 1) * fft::ifft(in[1], 3, 0); },
                      {random_complex_tensor({3, 4}), random_complex_tensor({2, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(fft::hfft(in[0], 4)) + fft::abs(fft::ihfft(in[1])); },
                      {random_complex_tensor({2, 3}), randn({2, 6}, kFloat64)});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return fft::abs(fft::rfft2(in[0])) + square(fft::irfftn(in[1], {3, 3}));
      },
      {randn({3, 4}, kFloat64), random_complex_tensor({3, 2})});
  KILN_CHECK_GRADGRAD([](const In& in) { return fft::abs(fft::rfft(in[0])); },
                      {randn({11}, kFloat64)});  // Bluestein
  // A power spectrogram with a learned window, and istft back.
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return square(stft(in[0], 8, StftOptions().set_window(in[1]).set_hop_length(3))); },
      {randn({2, 14}, kFloat64), rand({8}, kFloat64)});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(
            istft(in[0], 8, StftOptions().set_hop_length(2).set_window(hann_window(8, true, kFloat64))));
      },
      {random_complex_tensor({5, 4})});
}

TEST_CASE("fft: complex helpers and their gradients") {
  const Tensor z = tensor<double>({3, 4, 0, 0, -1, 0}).reshape({3, 2});
  check_values(fft::abs(z), {5, 0, 1});
  check_values(fft::angle(z), {std::atan2(4.0, 3.0), 0, std::numbers::pi});
  check_values(fft::conj(z), {3, -4, 0, 0, -1, 0});
  check_values(fft::real(z), {3, 0, -1});
  check_values(fft::imag(z), {4, 0, 0});
  check_values(fft::complex_mul(z, fft::complex(tensor<double>({0}), tensor<double>({1}))),
               {-4, 3, 0, 0, 0, -1});
  check_same(fft::polar(fft::abs(z), fft::angle(z)), z, 1e-12);
  // |z| at 0 has gradient 0, elsewhere z / |z|
  Tensor leaf = z.clone().requires_grad_();
  sum(fft::abs(leaf)).backward();
  check_values(leaf.grad(), {0.6, 0.8, 0, 0, -1, 0}, 1e-12);
  manual_seed(6);
  KILN_CHECK_GRAD([](const In& in) { return fft::abs(in[0]); }, {random_complex_tensor({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return fft::complex_mul(in[0], in[1]); },
                  {random_complex_tensor({3, 1}), random_complex_tensor({4})});
}

TEST_CASE("windows: torch 2.15's values") {
  check_values(hann_window(5, true, kFloat64),
               {0.0, 0.3454915028125263, 0.9045084971874737, 0.9045084971874737, 0.3454915028125264}, 1e-15);
  check_values(hann_window(5, false, kFloat64), {0.0, 0.5, 1.0, 0.5, 0.0}, 1e-15);
  check_values(hamming_window(6, true, kFloat64), {0.08, 0.31, 0.77, 1.0, 0.77, 0.31}, 1e-15);
  check_values(blackman_window(6, false, kFloat64),
               {0.0, 0.20077014326253045, 0.8492298567374694, 0.8492298567374696, 0.20077014326253056, 0.0},
               1e-15);
  check_values(bartlett_window(5, true, kFloat64), {0.0, 0.4, 0.8, 0.8, 0.4}, 1e-15);
  check_values(kaiser_window(6, true, 12.0, kFloat64),
               {5.2773441320097665e-05, 0.054759364131249516, 0.5188447216723606, 1.0, 0.5188447216723606,
                0.054759364131249516},
               1e-14);
  check_values(kaiser_window(5, false, 5.0, kFloat64),
               {0.036710892271286676, 0.5528517696991324, 1.0, 0.5528517696991324, 0.036710892271286676},
               1e-14);
  check_values(hann_window(1), {1.0});
  CHECK(hann_window(0).numel() == 0);
  CHECK(hann_window(4).dtype() == kFloat32);
}

TEST_CASE("stft: torch 2.15's values, the inverse, gradients") {
  const Tensor sig = tensor<double>({0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 0.0, 1.0, -2.0, 0.5});
  const Tensor s = stft(sig, 4, StftOptions().set_hop_length(2).set_window(hann_window(4, true, kFloat64)));
  CHECK(s.shape() == Shape{3, 6, 2});
  check_values(s, {-0.5, 0.0, 1.625, 0.0,   1.25, 0.0,  0.125,  0.0,   -1.25, 0.0,   -1.25, 0.0,   // bin 0
                   -0.5, 0.0, -2.0,  0.625, -1.5, -0.5, 0.0,    0.875, 2.0,   -0.25, 2.0,   0.25,  // bin 1
                   1.5,  0.0, 2.375, 0.0,   1.75, 0.0,  -0.125, 0.0,   -2.75, 0.0,   -2.75, 0.0},  // bin 2
               1e-14);
  // rectangular window of 3 centred in 4 points, no centring, normalized
  const Tensor s2 =
      stft(sig, 4, StftOptions().set_hop_length(3).set_win_length(3).set_center(false).set_normalized(true));
  check_values(
      s2,
      {0.75, 0.0, 0.5, 0.0, -0.5, 0.0, -0.75, 0.5, 0.5, -0.75, 1.0, -0.5, 1.75, 0.0, -1.0, 0.0, -1.5, 0.0},
      1e-14);
  // two-sided: all n_fft bins, the upper ones conjugates of the lower
  const Tensor both = stft(sig, 4, StftOptions().set_hop_length(2).set_onesided(false));
  CHECK(both.shape() == Shape{4, 6, 2});
  check_same(both.select(0, 3), fft::conj(both.select(0, 1)), 1e-14);

  // istft undoes stft: hann windows at a quarter hop, a batch, odd lengths, given lengths
  manual_seed(7);
  const Tensor batch = randn({2, 101}, kFloat64);
  const StftOptions o = StftOptions().set_window(hann_window(16, true, kFloat64));
  const Tensor spec = stft(batch, 16, o);
  CHECK(spec.shape() == Shape{2, 9, 1 + 101 / 4, 2});
  check_same(istft(spec, 16, StftOptions(o).set_length(101)), batch, 1e-12);
  const Tensor back = istft(spec, 16, o);  // the frames cover 100 samples
  check_same(back, batch.narrow(1, 0, 100), 1e-12);
  // asked for more than the frames cover (108 samples past the first 8): zeros after them
  const Tensor longer = istft(spec, 16, StftOptions(o).set_length(110));
  check_same(longer.narrow(1, 0, 101), batch, 1e-12);
  check_same(longer.narrow(1, 108, 2), zeros({2, 2}, kFloat64), 0);
  const StftOptions plain = StftOptions().set_hop_length(5).set_center(false).set_normalized(true);
  check_same(istft(stft(batch, 12, plain), 12, plain), batch.narrow(1, 0, 97), 1e-12);  // 12 + 5 x 17
  const StftOptions two_sided = StftOptions(o).set_onesided(false).set_length(101);
  check_same(istft(stft(batch, 16, two_sided), 16, two_sided), batch, 1e-12);

  KILN_CHECK_GRAD([](const In& in) { return stft(in[0], 8, StftOptions().set_hop_length(3)); },
                  {randn({2, 20}, kFloat64)});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return stft(in[0], 8,
                    StftOptions().set_window(in[1]).set_hop_length(2).set_pad_mode(PadMode::constant));
      },
      {randn({15}, kFloat64), rand({8}, kFloat64)});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return istft(in[0], 8, StftOptions().set_hop_length(2).set_window(hann_window(8, true, kFloat64)));
      },
      {random_complex_tensor({5, 6})});
}

TEST_CASE("fft and stft: errors name the op and what to do") {
  const Tensor x = randn({4, 3});
  CHECK_THROWS_WITH_AS(fft::fft(x), doctest::Contains("fft: expects a complex tensor laid out as (..., 2)"),
                       Error);
  CHECK_THROWS_WITH_AS(fft::fft(randn({4, 2}), 0), doctest::Contains("at least 1"), Error);
  CHECK_THROWS_WITH_AS(fft::irfft(randn({1, 2})), doctest::Contains("pass n"), Error);
  CHECK_THROWS_WITH_AS(fft::rfft(randn({4}), -1, 1), doctest::Contains("rfft"), Error);
  CHECK_THROWS_WITH_AS(fft::fftn(randn({4, 4, 2}), {4}, {0, 1}), doctest::Contains("one per dimension"),
                       Error);
  CHECK_THROWS_WITH_AS(fft::fftn(randn({4, 4, 2}), {}, {0, -2}), doctest::Contains("named twice"), Error);
  CHECK_THROWS_WITH_AS(fft::fftshift(x, {}), doctest::Contains("name the dimensions"), Error);
  CHECK_THROWS_WITH_AS(fft::complex(randn({3}), randn({4})), doctest::Contains("must match"), Error);
  CHECK_THROWS_WITH_AS(stft(randn({2, 3, 40}), 8), doctest::Contains("(B, L)"), Error);
  CHECK_THROWS_WITH_AS(stft(randn({40}), 8, StftOptions().set_window(ones({7}))),
                       doctest::Contains("win_length = 8"), Error);
  CHECK_THROWS_WITH_AS(stft(randn({3}), 8), doctest::Contains("reflect padding"), Error);
  CHECK_THROWS_WITH_AS(stft(randn({5}), 8, StftOptions().set_center(false)),
                       doctest::Contains("shorter than n_fft"), Error);
  // a hann window at a hop of n_fft leaves the frames' edges with nothing: NOLA fails
  const StftOptions gap = StftOptions().set_hop_length(8).set_window(hann_window(8));
  CHECK_THROWS_WITH_AS(istft(stft(randn({64}), 8, gap), 8, gap), doctest::Contains("NOLA"), Error);
  CHECK_THROWS_WITH_AS(istft(randn({4, 5, 2}), 8), doctest::Contains("has 5 frequencies, got 4"), Error);
#if !KILN_UNDER_ADDRESS_SANITIZER  // its allocator stops the process on such a request
  // lengths past the memory are the allocator's clear error, not std::bad_alloc
  CHECK_THROWS_AS(hann_window(std::int64_t{1} << 50), Error);
  CHECK_THROWS_AS(fft::fftfreq(std::int64_t{1} << 50), Error);
  CHECK_THROWS_AS(fft::rfft(randn({4}), std::int64_t{1} << 50), Error);
#endif
}
