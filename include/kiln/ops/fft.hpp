// Discrete Fourier transforms (torch.fft), window functions and the short-time Fourier
// transform (torch.stft / istft).
//
// Complex tensors. kiln has no complex dtype: a complex tensor is a float32 or float64
// tensor whose last dimension holds (real, imaginary), as torch.view_as_real gives. A
// spectrum of shape (B, F) is a kiln tensor of shape (B, F, 2). The transforms' `dim`s
// count the complex dimensions (the trailing 2 left out): for z of shape (B, F, 2),
// dim -1 is F. fft::complex / real / imag / abs / angle / conj / complex_mul work on
// this layout.
//
//   Tensor spectrum = kiln::fft::rfft(signal);                      // (..., n / 2 + 1, 2)
//   Tensor power = kiln::square(kiln::fft::abs(kiln::stft(audio, 512, // (B, 257, T)
//       kiln::StftOptions().set_hop_length(128).set_window(kiln::hann_window(512)))));
//
// Every transform is differentiable (its gradient is the adjoint transform) and runs on
// either device: on the CPU through an O(n log n) mixed-radix FFT in double precision
// (any length, prime lengths through Bluestein's algorithm); on a GPU as a product with
// the n x n transform matrix through cuBLAS, which suits the short transforms of frames
// and patches (lengths up to 4096).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kiln/core/tensor.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::fft {

// Which direction is scaled, as torch.fft's `norm`:
//   backward  the forward transform unscaled, the inverse by 1/n (the default)
//   ortho     both by 1/sqrt(n) (the transform is then unitary)
//   forward   the forward transform by 1/n, the inverse unscaled
enum class Norm { backward, ortho, forward };

// One dimension. `n` is the length transformed along `dim`: the input is cut to n or
// padded with zeros to n first (-1: the input's own length).
//   fft / ifft  complex -> complex, (..., n, ..., 2)
//   rfft        real (..., n, ...) -> complex (..., n / 2 + 1, ..., 2): the non-negative
//               frequencies of a real signal (the others are their conjugates)
//   irfft       complex (..., m, ..., 2) -> real (..., n, ...), the inverse of rfft; n
//               defaults to 2 (m - 1). The imaginary parts of the zero frequency (and of
//               n / 2 for even n) are ignored, as they must be 0 for a real signal.
Tensor fft(const Tensor& z, std::int64_t n = -1, std::int64_t dim = -1, Norm norm = Norm::backward);
Tensor ifft(const Tensor& z, std::int64_t n = -1, std::int64_t dim = -1, Norm norm = Norm::backward);
Tensor rfft(const Tensor& x, std::int64_t n = -1, std::int64_t dim = -1, Norm norm = Norm::backward);
Tensor irfft(const Tensor& z, std::int64_t n = -1, std::int64_t dim = -1, Norm norm = Norm::backward);
// The Hermitian pair (torch.fft.hfft / ihfft), rfft's the other way round: hfft takes the
// half (..., m, ..., 2) of a signal whose other half is its conjugate and gives its real
// spectrum (..., n, ...) (n defaults to 2 (m - 1)); ihfft takes a real spectrum back to
// the half signal (..., n / 2 + 1, ..., 2).
Tensor hfft(const Tensor& z, std::int64_t n = -1, std::int64_t dim = -1, Norm norm = Norm::backward);
Tensor ihfft(const Tensor& x, std::int64_t n = -1, std::int64_t dim = -1, Norm norm = Norm::backward);

// Several dimensions, one after another: `s` the lengths (empty: the input's), `dims` the
// dimensions (empty: the last s.size() dimensions, or all of them). rfftn halves the last
// of `dims`, irfftn restores it (its length defaults to 2 (m - 1) as irfft's).
using Sizes = std::vector<std::int64_t>;
Tensor fftn(const Tensor& z, const Sizes& s = {}, const Sizes& dims = {}, Norm norm = Norm::backward);
Tensor ifftn(const Tensor& z, const Sizes& s = {}, const Sizes& dims = {}, Norm norm = Norm::backward);
Tensor rfftn(const Tensor& x, const Sizes& s = {}, const Sizes& dims = {}, Norm norm = Norm::backward);
Tensor irfftn(const Tensor& z, const Sizes& s = {}, const Sizes& dims = {}, Norm norm = Norm::backward);
// Images: the same over the last two dimensions by default.
Tensor fft2(const Tensor& z, const Sizes& s = {}, const Sizes& dims = {-2, -1}, Norm norm = Norm::backward);
Tensor ifft2(const Tensor& z, const Sizes& s = {}, const Sizes& dims = {-2, -1}, Norm norm = Norm::backward);
Tensor rfft2(const Tensor& x, const Sizes& s = {}, const Sizes& dims = {-2, -1}, Norm norm = Norm::backward);
Tensor irfft2(const Tensor& z, const Sizes& s = {}, const Sizes& dims = {-2, -1}, Norm norm = Norm::backward);

// The frequency of each bin of an n-point transform of samples d apart (cycles per unit):
// fftfreq  [0, 1, ..., ceil(n/2) - 1, -floor(n/2), ..., -1] / (d n)
// rfftfreq [0, 1, ..., n/2] / (d n)
Tensor fftfreq(std::int64_t n, double d = 1.0, DType dtype = kFloat32);
Tensor rfftfreq(std::int64_t n, double d = 1.0, DType dtype = kFloat32);
// The zero frequency moved to the middle of each of `dims` (torch.fft.fftshift), and back.
// The dims count x's own dimensions: for a complex spectrum (..., H, W, 2) name {-3, -2}.
Tensor fftshift(const Tensor& x, const Sizes& dims);
Tensor ifftshift(const Tensor& x, const Sizes& dims);

// --- complex tensors as (..., 2) --------------------------------------------------
Tensor complex(const Tensor& real, const Tensor& imag);  // stacked into (..., 2)
Tensor real(const Tensor& z);                            // (...), a view
Tensor imag(const Tensor& z);                            // (...), a view
Tensor abs(const Tensor& z);                             // |z|; its gradient at 0 is 0
Tensor angle(const Tensor& z);                           // atan2(imag, real)
Tensor conj(const Tensor& z);                            // (re, -im)
Tensor polar(const Tensor& abs, const Tensor& angle);    // abs (cos angle, sin angle)
Tensor complex_mul(const Tensor& a, const Tensor& b);    // broadcasting complex product

}  // namespace kiln::fft

namespace kiln {

// Window functions of `length` points (torch.hann_window and its kin). `periodic`: one
// period of a window of length + 1 (the last point dropped), the form spectral analysis
// wants; false: symmetric, the first and last points equal.
Tensor hann_window(std::int64_t length, bool periodic = true, DType dtype = kFloat32);
Tensor hamming_window(std::int64_t length, bool periodic = true, DType dtype = kFloat32);
Tensor blackman_window(std::int64_t length, bool periodic = true, DType dtype = kFloat32);
Tensor bartlett_window(std::int64_t length, bool periodic = true, DType dtype = kFloat32);
Tensor kaiser_window(std::int64_t length, bool periodic = true, double beta = 12.0, DType dtype = kFloat32);

struct StftOptions {
  std::int64_t hop_length = -1;  // -1: n_fft / 4
  std::int64_t win_length = -1;  // -1: n_fft
  Tensor window;                 // win_length points, centred in n_fft; undefined: all ones
  bool center = true;            // pad n_fft / 2 on each side, so frame t is centred at t hop
  PadMode pad_mode = PadMode::reflect;
  bool normalized = false;   // scale by 1 / sqrt(n_fft)
  bool onesided = true;      // n_fft / 2 + 1 frequencies (false: all n_fft)
  std::int64_t length = -1;  // istft only: the length of the signal returned (-1: what the frames cover)

  StftOptions& set_hop_length(std::int64_t v) { return hop_length = v, *this; }
  StftOptions& set_win_length(std::int64_t v) { return win_length = v, *this; }
  StftOptions& set_window(Tensor v) { return window = std::move(v), *this; }
  StftOptions& set_center(bool v) { return center = v, *this; }
  StftOptions& set_pad_mode(PadMode v) { return pad_mode = v, *this; }
  StftOptions& set_normalized(bool v) { return normalized = v, *this; }
  StftOptions& set_onesided(bool v) { return onesided = v, *this; }
  StftOptions& set_length(std::int64_t v) { return length = v, *this; }
};

// The short-time Fourier transform of signals x (L) or (B, L), as torch.stft with
// return_complex: frames of n_fft samples every hop_length, each times the window and
// transformed: (B, n_fft / 2 + 1, T, 2), T = 1 + (L - n_fft) / hop_length frames (L counting
// the n_fft / 2 samples padded at each end when centred; 1 + L / hop_length then).
// Differentiable; a magnitude spectrogram is fft::abs of it.
Tensor stft(const Tensor& x, std::int64_t n_fft, const StftOptions& options = {});
// Its inverse (torch.istft): each frame transformed back, windowed again and added where
// the frames overlap, divided by the summed squared window. The window's squares must
// overlap to more than 0 everywhere (NOLA), or it is an error. A two-sided spectrum is read
// as a real signal's: only its lower n_fft / 2 + 1 frequencies are used.
Tensor istft(const Tensor& spectrum, std::int64_t n_fft, const StftOptions& options = {});

}  // namespace kiln
