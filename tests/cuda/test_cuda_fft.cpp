// Fourier transforms on the GPU (products with the transform matrices) against the CPU's
// FFT: values and gradients of every kind, along inner and outer dimensions, and stft /
// istft through them; their second derivatives.
#include <doctest/doctest.h>

#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

TEST_CASE("cuda: fft, ifft, rfft, irfft and the n-dimensional forms") {
  manual_seed(120);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const double tol = tol_for(dt) * 10;
    const Tensor z = randn({3, 7, 4, 2}, dt), x = randn({3, 7, 6}, dt);
    for (const fft::Norm norm : {fft::Norm::backward, fft::Norm::ortho, fft::Norm::forward}) {
      parity([&](const auto& v) { return fft::fft(v[0], -1, 1, norm); }, {z}, tol);
      parity([&](const auto& v) { return fft::ifft(v[0], 5, -1, norm); }, {z}, tol);
      parity([&](const auto& v) { return fft::rfft(v[0], -1, 1, norm); }, {x}, tol);
      parity([&](const auto& v) { return fft::irfft(v[0], 7, 1, norm); }, {z}, tol);
      parity([&](const auto& v) { return fft::irfft(v[0], -1, 2, norm); }, {z}, tol);
    }
    parity([](const auto& v) { return fft::fft2(v[0]); }, {z}, tol);
    parity([](const auto& v) { return fft::irfft2(fft::rfft2(v[0]), {7, 6}); }, {x}, tol);
    parity([](const auto& v) { return fft::abs(fft::rfftn(v[0], {}, {0, 2})); }, {x}, tol);
    parity([](const auto& v) { return stft(v[0], 8, StftOptions().set_hop_length(2).set_window(v[1])); },
           {randn({2, 30}, dt), rand({8}, dt)}, tol);
    parity(
        [](const auto& v) {
          return istft(v[0], 8,
                       StftOptions().set_hop_length(2).set_window(
                           hann_window(8, true, v[0].dtype()).to(v[0].device())));
        },
        {randn({5, 9, 2}, dt)}, tol);
  }
  // Second derivatives: the gradient recorded with create_graph compared, so its backward
  // differentiates the transforms' rules (matrix products on a GPU, FFTs on the CPU).
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt), ", second derivatives");
    const auto first_derivative = [](const Fn& f) -> Fn {
      return [f](const std::vector<Tensor>& in) {
        return grad(sum(f(in)), {in[0]}, Tensor(), {.create_graph = true})[0];
      };
    };
    parity(first_derivative([](const auto& v) {
             return sum(fft::abs(fft::rfft(v[0], -1, 1))) + square(fft::irfft(fft::fft(fft::rfft(v[0])), 6));
           }),
           {randn({3, 6}, dt)}, tol_for(dt) * 10);
    parity(first_derivative([](const auto& v) {
             return square(stft(v[0], 8, StftOptions().set_hop_length(2).set_window(v[1])));
           }),
           {randn({2, 20}, dt), rand({8}, dt)}, tol_for(dt) * 10);
  }
  CHECK_THROWS_WITH_AS(fft::fft(zeros({5000, 2}).to(gpu)), doctest::Contains("move the tensor to the CPU"),
                       Error);
}

}  // namespace kiln::test
