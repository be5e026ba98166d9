// Window functions and the short-time Fourier transform, composed from kiln's ops and two
// framing primitives, each the other's adjoint (and so gradient):
//   stft:  pad (centre), cut the frames, n_fft samples every hop, as (B, T, n_fft) rows,
//          multiply by the window, rfft each row; returned as (B, F, T, 2).
//   istft: irfft each frame, multiply by the window again, add the overlapping frames back
//          together and divide by the overlap-added squared window, which undoes stft
//          wherever that sum is not 0.
#include <cmath>
#include <numbers>

#include "kernels/cuda/special_functions.hpp"  // bessel_i_of
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/fft.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// A window from its formula w(u), u = i / (N - 1) in [0, 1], N = length (+ 1 if periodic).
template <class Formula>
Tensor window_of(std::int64_t length, bool periodic, DType dtype, const char* op, Formula w) {
  KILN_CHECK(length >= 0, op, ": needs a length of at least 0, got ", length);
  KILN_CHECK(is_floating(dtype), op, ": makes float32 or float64 windows, not ", dtype);
  if (length <= 1) return ones({length}, dtype);
  const double span = static_cast<double>(periodic ? length : length - 1);
  Tensor v = Tensor::empty({length}, kFloat64);  // through the allocator: too long is a kiln::Error
  double* at = v.data_ptr<double>();
  for (std::int64_t i = 0; i < length; ++i) at[i] = w(static_cast<double>(i) / span);
  return v.to(dtype);
}

constexpr double kTwoPi = 2.0 * std::numbers::pi;

}  // namespace

Tensor hann_window(std::int64_t length, bool periodic, DType dtype) {
  return window_of(length, periodic, dtype, "hann_window",
                   [](double u) { return 0.5 - 0.5 * std::cos(kTwoPi * u); });
}
Tensor hamming_window(std::int64_t length, bool periodic, DType dtype) {
  return window_of(length, periodic, dtype, "hamming_window",
                   [](double u) { return 0.54 - 0.46 * std::cos(kTwoPi * u); });
}
Tensor blackman_window(std::int64_t length, bool periodic, DType dtype) {
  return window_of(length, periodic, dtype, "blackman_window", [](double u) {
    return 0.42 - 0.5 * std::cos(kTwoPi * u) + 0.08 * std::cos(2.0 * kTwoPi * u);
  });
}
Tensor bartlett_window(std::int64_t length, bool periodic, DType dtype) {
  return window_of(length, periodic, dtype, "bartlett_window",
                   [](double u) { return 1.0 - std::fabs(2.0 * u - 1.0); });
}
Tensor kaiser_window(std::int64_t length, bool periodic, double beta, DType dtype) {
  KILN_CHECK(std::isfinite(beta), "kaiser_window: beta must be finite, got ", beta);
  const double norm = cuda_kernels::bessel_i_of(0, beta, false);
  return window_of(length, periodic, dtype, "kaiser_window", [&](double u) {
    const double r = 2.0 * u - 1.0;
    return cuda_kernels::bessel_i_of(0, beta * std::sqrt(std::max(0.0, 1.0 - r * r)), false) / norm;
  });
}

namespace {

struct Framing {
  std::int64_t hop, win;
  Tensor window;  // n_fft points: the user's window centred, zeros around it
};

Framing framing(std::int64_t n_fft, const StftOptions& o, const Tensor& like, const char* op) {
  KILN_CHECK(n_fft >= 1, op, ": n_fft must be at least 1, got ", n_fft);
  Framing f;
  f.hop = o.hop_length == -1 ? std::max<std::int64_t>(1, n_fft / 4) : o.hop_length;
  f.win = o.win_length == -1 ? n_fft : o.win_length;
  KILN_CHECK(f.hop >= 1, op, ": hop_length must be at least 1, got ", o.hop_length);
  KILN_CHECK(f.win >= 1 && f.win <= n_fft, op, ": win_length must be in [1, n_fft = ", n_fft, "], got ",
             f.win);
  Tensor w = o.window;
  if (w.defined()) {
    KILN_CHECK(w.dim() == 1 && w.size(0) == f.win, op, ": the window must be 1-D of win_length = ", f.win,
               " points, got ", fmt(w.shape()));
    KILN_CHECK(w.device() == like.device(), op, ": the window is on ", w.device(), " and the signal on ",
               like.device(), "; move one of them");
    w = w.to(like.dtype());
  } else {
    w = ones({f.win}, like.dtype(), like.device());
  }
  const std::int64_t left = (n_fft - f.win) / 2;
  f.window = left == 0 && f.win == n_fft ? w : pad(w, {left, n_fft - f.win - left});
  return f;
}

// The sample each frame entry reads: t hop + k for frame t < count, k < n_fft, row-major.
Tensor frame_positions(std::int64_t count, std::int64_t n_fft, std::int64_t hop, Device device) {
  std::vector<std::int64_t> at(static_cast<std::size_t>(count * n_fft));
  for (std::int64_t t = 0; t < count; ++t)
    for (std::int64_t k = 0; k < n_fft; ++k) at[static_cast<std::size_t>(t * n_fft + k)] = t * hop + k;
  return from_vector(at, {count * n_fft}).to(device);
}

Tensor overlap_add(const Tensor& frames, std::int64_t hop, std::int64_t total);

// The frames (B, T, n) of signals (B, L): frame t is samples [t hop, t hop + n). Its adjoint,
// and so its gradient, is overlap_add. The CPU copies runs; a GPU gathers (index_select).
Tensor frames_of(const Tensor& signal, std::int64_t n, std::int64_t hop, std::int64_t count) {
  const std::int64_t batch = signal.size(0), length = signal.size(1);
  Tensor out;
  if (signal.device().is_cuda()) {
    NoGradGuard no_grad;
    out = index_select(signal, 1, frame_positions(count, n, hop, signal.device())).reshape({batch, count, n});
  } else {
    const Tensor in = signal.contiguous();
    out = Tensor::empty({batch, count, n}, signal.dtype());
    visit_dtype(signal.dtype(), [&]<class T>() {
      const T* x = detail::ptr<T>(in);
      T* y = detail::ptr<T>(out);
      parallel_for(0, batch * count, std::max<std::int64_t>(1, 8192 / n),
                   [&](std::int64_t b, std::int64_t e) {
                     for (std::int64_t r = b; r < e; ++r) {
                       const T* from = x + r / count * length + r % count * hop;
                       std::copy(from, from + n, y + r * n);
                     }
                   });
    });
  }
  if (should_record({signal})) {
    attach_grad_fn(out, "stft frames", {signal},
                   [hop, length](const Tensor& g) { return Grads{overlap_add(g, hop, length)}; });
    mark_differentiable_backward(out);  // the two are adjoint, each the other's rule: any order
  }
  return out;
}

// Frames (B, T, n) added back at t hop into (B, total) signals, overlaps summed in frame
// order. Its adjoint is frames_of. The CPU adds runs, a task per signal; a GPU scatters
// (index_add).
Tensor overlap_add(const Tensor& frames, std::int64_t hop, std::int64_t total) {
  const std::int64_t batch = frames.size(0), count = frames.size(1), n = frames.size(2);
  Tensor out;
  if (frames.device().is_cuda()) {
    NoGradGuard no_grad;
    out = index_add(zeros({batch, total}, frames.dtype(), frames.device()), 1,
                    frame_positions(count, n, hop, frames.device()), frames.reshape({batch, count * n}));
  } else {
    const Tensor in = frames.contiguous();
    out = zeros({batch, total}, frames.dtype());
    visit_dtype(frames.dtype(), [&]<class T>() {
      const T* x = detail::ptr<T>(in);
      T* y = detail::ptr<T>(out);
      parallel_for(0, batch, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t s = b; s < e; ++s)
          for (std::int64_t t = 0; t < count; ++t) {
            const T* from = x + (s * count + t) * n;
            T* to = y + s * total + t * hop;
            for (std::int64_t k = 0; k < n; ++k) to[k] += from[k];
          }
      });
    });
  }
  if (should_record({frames})) {
    attach_grad_fn(out, "istft overlap-add", {frames},
                   [n, hop, count](const Tensor& g) { return Grads{frames_of(g, n, hop, count)}; });
    mark_differentiable_backward(out);
  }
  return out;
}

}  // namespace

Tensor stft(const Tensor& x_in, std::int64_t n_fft, const StftOptions& o) {
  KILN_CHECK(x_in.dim() == 1 || x_in.dim() == 2, "stft: expects a signal (L) or a batch of them (B, L), got ",
             fmt(x_in.shape()));
  const Tensor x = is_floating(x_in.dtype()) ? x_in : x_in.to(kFloat32);
  const Framing f = framing(n_fft, o, x, "stft");
  Tensor signal = x.dim() == 1 ? x.unsqueeze(0) : x;  // (B, L)
  if (o.center) {
    const std::int64_t half = n_fft / 2;
    KILN_CHECK(o.pad_mode != PadMode::reflect || half < signal.size(1),
               "stft: reflect padding of n_fft / 2 = ", half, " needs a signal longer than that, got ",
               signal.size(1), " samples; use a shorter n_fft or another pad_mode");
    signal = pad(signal.unsqueeze(1), {half, half}, o.pad_mode).squeeze(1);
  }
  const std::int64_t length = signal.size(1);
  KILN_CHECK(length >= n_fft, "stft: a signal of ", length, " samples", o.center ? " (padded)" : "",
             " is shorter than n_fft = ", n_fft);
  const std::int64_t count = 1 + (length - n_fft) / f.hop;
  const Tensor frames = frames_of(signal, n_fft, f.hop, count);  // (B, T, n_fft)
  const Tensor windowed = frames * f.window;
  const fft::Norm norm = o.normalized ? fft::Norm::ortho : fft::Norm::backward;
  const Tensor spectrum = o.onesided ? fft::rfft(windowed, -1, -1, norm)
                                     : fft::fft(fft::complex(windowed, zeros_like(windowed)), -1, -1, norm);
  const Tensor by_frequency = spectrum.transpose(1, 2);  // (B, T, F, 2) -> (B, F, T, 2), a view
  return x.dim() == 1 ? by_frequency.squeeze(0) : by_frequency;
}

Tensor istft(const Tensor& spectrum, std::int64_t n_fft, const StftOptions& o) {
  KILN_CHECK((spectrum.dim() == 3 || spectrum.dim() == 4) && spectrum.size(-1) == 2,
             "istft: expects a complex spectrum (F, T, 2) or (B, F, T, 2), got ", fmt(spectrum.shape()));
  const Tensor z = spectrum.dim() == 3 ? spectrum.unsqueeze(0) : spectrum;
  const Framing f = framing(n_fft, o, z, "istft");
  const std::int64_t bins = z.size(1), count = z.size(2);
  KILN_CHECK(bins == (o.onesided ? n_fft / 2 + 1 : n_fft),
             "istft: ", o.onesided ? "a one-sided" : "a two-sided", " spectrum of n_fft = ", n_fft, " has ",
             o.onesided ? n_fft / 2 + 1 : n_fft, " frequencies, got ", bins);
  KILN_CHECK(count >= 1, "istft: the spectrum has no frames");
  const fft::Norm norm = o.normalized ? fft::Norm::ortho : fft::Norm::backward;
  // A two-sided spectrum of a real signal holds the conjugates of its lower half above n_fft / 2:
  // only the lower half is read, as torch.istft does for a real output.
  const Tensor half = (o.onesided ? z : z.narrow(1, 0, n_fft / 2 + 1)).transpose(1, 2);  // (B, T, F, 2)
  const Tensor frames = fft::irfft(half, n_fft, -1, norm);                               // (B, T, n_fft)
  const std::int64_t total = n_fft + f.hop * (count - 1);
  Tensor y = overlap_add(frames * f.window, f.hop, total);
  Tensor envelope = overlap_add((f.window * f.window).expand({1, count, n_fft}), f.hop, total);
  const std::int64_t start = o.center ? n_fft / 2 : 0;
  std::int64_t end = o.length >= 0 ? start + o.length : (o.center ? total - n_fft / 2 : total);
  const std::int64_t available = std::min(end, total);
  KILN_CHECK(available > start, "istft: the frames cover ", total, " samples, none of them after the first ",
             start, "; give more frames");
  y = y.narrow(1, start, available - start);
  envelope = envelope.narrow(1, start, available - start);
  const double lowest = kiln::min(kiln::abs(envelope)).item<double>();
  KILN_CHECK(
      lowest > 1e-11, "istft: the squared window sums to ", lowest,
      " where frames overlap (NOLA fails), so the signal cannot be recovered; use a shorter hop_length "
      "or another window");
  y = y / envelope;
  if (end > total) y = pad(y, {0, end - total});
  return spectrum.dim() == 3 ? y.squeeze(0) : y;
}

}  // namespace kiln
