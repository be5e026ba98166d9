// The differential test against PyTorch, continued: torch.fft's transforms, the window
// functions and stft / istft. kiln's complex (..., 2) tensors meet torch's complex ones
// through view_as_complex / view_as_real, so gradients flow through the same layout.
#include "torch_differential.hpp"

#include <algorithm>

using namespace differential;

namespace {

const char* norm_name(int which) { return which == 0 ? "backward" : which == 1 ? "ortho" : "forward"; }
kiln::fft::Norm norm_of(int which) {
  return which == 0   ? kiln::fft::Norm::backward
         : which == 1 ? kiln::fft::Norm::ortho
                      : kiln::fft::Norm::forward;
}
TT as_complex(const TT& t) { return torch::view_as_complex(t); }
TT as_real(const TT& t) { return torch::view_as_real(t); }
Sizes with_pair(Sizes s) {
  s.push_back(2);
  return s;
}
// Random distinct dims of a rank-r tensor, 1 to r of them, in random order.
Sizes random_dims(std::int64_t rank) {
  Sizes all;
  for (std::int64_t d = 0; d < rank; ++d) all.push_back(d);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(irand(1, rank)));
  for (std::int64_t& d : all)
    if (coin()) d -= rank;
  return all;
}

}  // namespace

TEST_CASE("torch differential: fft, ifft, rfft, irfft, hfft and ihfft along one dimension, with n and norm") {
  in_both_precisions(81, 40, [] {
    const Sizes shape = random_shape(1, 3);
    const auto rank = static_cast<std::int64_t>(shape.size());
    const std::int64_t dim = irand(-rank, rank - 1),
                       size = shape[static_cast<std::size_t>(dim < 0 ? dim + rank : dim)];
    const std::int64_t n = coin() ? -1 : irand(1, 2 * size + 1);
    const c10::optional<std::int64_t> tn = n == -1 ? c10::nullopt : c10::optional<std::int64_t>(n);
    const int w = static_cast<int>(irand(0, 2));
    compare(
        "fft", {leaf(with_pair(shape))},
        [=](const auto& a) { return kiln::fft::fft(a[0], n, dim, norm_of(w)); },
        [=](const auto& a) { return as_real(torch::fft::fft(as_complex(a[0]), tn, dim, norm_name(w))); });
    compare(
        "ifft", {leaf(with_pair(shape))},
        [=](const auto& a) { return kiln::fft::ifft(a[0], n, dim, norm_of(w)); },
        [=](const auto& a) { return as_real(torch::fft::ifft(as_complex(a[0]), tn, dim, norm_name(w))); });
    compare(
        "rfft", {leaf(shape)}, [=](const auto& a) { return kiln::fft::rfft(a[0], n, dim, norm_of(w)); },
        [=](const auto& a) { return as_real(torch::fft::rfft(a[0], tn, dim, norm_name(w))); });
    compare(
        "irfft", {leaf(with_pair(shape))},
        [=](const auto& a) { return kiln::fft::irfft(a[0], n, dim, norm_of(w)); },
        [=](const auto& a) { return torch::fft::irfft(as_complex(a[0]), tn, dim, norm_name(w)); });
    compare(
        "hfft", {leaf(with_pair(shape))},
        [=](const auto& a) { return kiln::fft::hfft(a[0], n, dim, norm_of(w)); },
        [=](const auto& a) { return torch::fft::hfft(as_complex(a[0]), tn, dim, norm_name(w)); });
    compare(
        "ihfft", {leaf(shape)}, [=](const auto& a) { return kiln::fft::ihfft(a[0], n, dim, norm_of(w)); },
        [=](const auto& a) {
          return as_real(torch::fft::ihfft(a[0], tn, dim, norm_name(w)).resolve_conj());
        });
  });
}

TEST_CASE("torch differential: fftn, ifftn, rfftn and irfftn over any dimensions") {
  in_both_precisions(82, 40, [] {
    const Sizes shape = random_shape(2, 3, side == 5 ? 5 : 12);
    const auto rank = static_cast<std::int64_t>(shape.size());
    const Sizes dims = random_dims(rank);
    Sizes s;
    if (coin())
      for (const std::int64_t d : dims)
        s.push_back(irand(1, 2 * shape[static_cast<std::size_t>(d < 0 ? d + rank : d)]));
    const int w = static_cast<int>(irand(0, 2));
    const auto ts = s.empty() ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(s);
    compare(
        "fftn", {leaf(with_pair(shape))},
        [=](const auto& a) { return kiln::fft::fftn(a[0], s, dims, norm_of(w)); },
        [=](const auto& a) { return as_real(torch::fft::fftn(as_complex(a[0]), ts, dims, norm_name(w))); });
    compare(
        "ifftn", {leaf(with_pair(shape))},
        [=](const auto& a) { return kiln::fft::ifftn(a[0], s, dims, norm_of(w)); },
        [=](const auto& a) { return as_real(torch::fft::ifftn(as_complex(a[0]), ts, dims, norm_name(w))); });
    compare(
        "rfftn", {leaf(shape)}, [=](const auto& a) { return kiln::fft::rfftn(a[0], s, dims, norm_of(w)); },
        [=](const auto& a) { return as_real(torch::fft::rfftn(a[0], ts, dims, norm_name(w))); });
    compare(
        "irfftn", {leaf(with_pair(shape))},
        [=](const auto& a) { return kiln::fft::irfftn(a[0], s, dims, norm_of(w)); },
        [=](const auto& a) { return torch::fft::irfftn(as_complex(a[0]), ts, dims, norm_name(w)); });
  });
}

TEST_CASE("torch differential: windows, fftfreq and fftshift") {
  for (std::int64_t n = 0; n <= 12; ++n)
    for (const bool periodic : {true, false}) {
      INFO("length " << n << (periodic ? " periodic" : " symmetric"));
      const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
      agree(kiln::hann_window(n, periodic, kiln::kFloat64), torch::hann_window(n, periodic, f64), "hann",
            1e-14, 1e-15);
      agree(kiln::hamming_window(n, periodic, kiln::kFloat64), torch::hamming_window(n, periodic, f64),
            "hamming", 1e-14, 1e-15);
      agree(kiln::blackman_window(n, periodic, kiln::kFloat64), torch::blackman_window(n, periodic, f64),
            "blackman", 1e-14, 1e-15);
      agree(kiln::bartlett_window(n, periodic, kiln::kFloat64), torch::bartlett_window(n, periodic, f64),
            "bartlett", 1e-14, 1e-15);
      agree(kiln::kaiser_window(n, periodic, 8.5, kiln::kFloat64),
            torch::kaiser_window(n, periodic, 8.5, f64), "kaiser", 1e-12, 1e-15);
      if (n == 0) continue;
      agree(kiln::fft::fftfreq(n, 0.3, kiln::kFloat64), torch::fft::fftfreq(n, 0.3, f64), "fftfreq", 1e-14,
            1e-15);
      agree(kiln::fft::rfftfreq(n, 0.3, kiln::kFloat64), torch::fft::rfftfreq(n, 0.3, f64), "rfftfreq", 1e-14,
            1e-15);
      const Both x = leaf({n, 3}, -2, 2, false);
      agree(kiln::fft::fftshift(x.k, {0, 1}), torch::fft::fftshift(x.t), "fftshift", 0, 0);
      agree(kiln::fft::ifftshift(x.k, {0}), torch::fft::ifftshift(x.t, 0), "ifftshift", 0, 0);
    }
}

TEST_CASE("torch differential: stft and istft, gradients to the signal, the window and the spectrum") {
  in_both_precisions(83, 40, [] {
    const std::int64_t n_fft = irand(2, 12), hop = irand(1, n_fft), win = irand(1, n_fft);
    const bool batched = coin(), center = coin(), normalized = coin(), onesided = coin(), windowed = coin();
    const int mode = static_cast<int>(irand(0, 1));  // reflect, constant
    const std::int64_t length = irand(n_fft / 2 + 1, 40);
    const Sizes signal = batched ? Sizes{irand(1, 3), length} : Sizes{length};
    std::vector<Both> in{leaf(signal)};
    if (windowed) in.push_back(leaf({win}, 0.1, 1.0));
    kiln::StftOptions o;
    o.set_hop_length(hop)
        .set_win_length(win)
        .set_center(center)
        .set_normalized(normalized)
        .set_onesided(onesided);
    o.set_pad_mode(mode == 0 ? kiln::PadMode::reflect : kiln::PadMode::constant);
    compare(
        "stft", in,
        [=](const auto& a) {
          return kiln::stft(a[0], n_fft, windowed ? kiln::StftOptions(o).set_window(a[1]) : o);
        },
        [=](const auto& a) {
          const c10::optional<TT> window = windowed ? c10::optional<TT>(a[1]) : c10::nullopt;
          return as_real(torch::stft(a[0], n_fft, hop, win, window, center,
                                     mode == 0 ? "reflect" : "constant", normalized, onesided, true));
        });
    // istft of a random spectrum (not one stft made): the same sums on both sides
    const std::int64_t frames = irand(1, 8), bins = onesided ? n_fft / 2 + 1 : n_fft;
    const std::int64_t out_length = coin() ? -1 : irand(1, 30);
    const Sizes spectrum = batched ? Sizes{2, bins, frames, 2} : Sizes{bins, frames, 2};
    std::vector<Both> spec{leaf(spectrum)};
    const Both hann{kiln::hann_window(n_fft, true, single ? kiln::kFloat32 : kiln::kFloat64),
                    torch::hann_window(
                        n_fft, true, torch::TensorOptions().dtype(single ? torch::kFloat : torch::kDouble))};
    kiln::StftOptions io;
    io.set_hop_length(std::max<std::int64_t>(1, n_fft / 4)).set_window(hann.k).set_center(center);
    io.set_normalized(normalized).set_onesided(onesided).set_length(out_length);
    compare(
        "istft", spec, [=](const auto& a) { return kiln::istft(a[0], n_fft, io); },
        [=](const auto& a) {
          const c10::optional<std::int64_t> len =
              out_length == -1 ? c10::nullopt : c10::optional<std::int64_t>(out_length);
          return torch::istft(as_complex(a[0]), n_fft, std::max<std::int64_t>(1, n_fft / 4), n_fft, hann.t,
                              center, normalized, onesided, len, false);
        });
  });
}
