// The differential test against PyTorch, continued: the image resampling ops (pad's
// modes, interpolate, pixel_shuffle and pixel_unshuffle), adaptive and power-average pooling,
// max and average pooling's ceil_mode, count_include_pad, positions and unpooling,
// channel_shuffle, conv_transpose1d, local_response_norm, affine_grid and grid_sample, and
// the volumes' conv3d, pooling and interpolation against torch's.
#include "torch_differential.hpp"

using namespace differential;

TEST_CASE("torch differential: pad's modes, interpolate, pixel_shuffle, unfold and fold") {
  in_both_precisions(41, 200, [] {
    const std::int64_t batch = irand(1, 2), channels = irand(1, 3), h = irand(1, 6), w = irand(1, 6);
    // 1-d padding of (N, C, W) or 2-d of (N, C, H, W); pads up to the size and one past,
    // so that both sides must refuse the same reflections and wrap-arounds.
    const bool two_d = coin();
    Sizes pads = {irand(0, w), irand(0, w)};
    if (two_d) pads.insert(pads.end(), {irand(0, h), irand(0, h)});
    const Sizes shape = two_d ? Sizes{batch, channels, h, w} : Sizes{batch, channels, w};
    const std::int64_t pick = irand(0, 3);
    const kiln::PadMode mode = std::array{kiln::PadMode::constant, kiln::PadMode::reflect,
                                          kiln::PadMode::replicate, kiln::PadMode::circular}[pick];
    const F::PadFuncOptions::mode_t torch_mode = std::array<F::PadFuncOptions::mode_t, 4>{
        torch::kConstant, torch::kReflect, torch::kReplicate, torch::kCircular}[pick];
    const double value = mode == kiln::PadMode::constant ? unif(-1, 1) : 0.0;
    const View view = random_view(shape.size());
    compare(
        "pad", {leaf(shape)}, [&](const auto& a) { return kiln::pad(view.k(a[0]), pads, mode, value); },
        [&](const auto& a) {
          return F::pad(view.t(a[0]), F::PadFuncOptions(pads).mode(torch_mode).value(value));
        });

    const kiln::Pair size{irand(1, 12), irand(1, 12)};
    const bool corners = coin();
    compare(
        "interpolate, bilinear", {leaf({batch, channels, h, w})},
        [&](const auto& a) { return kiln::interpolate(a[0], size, kiln::Interpolation::bilinear, corners); },
        [&](const auto& a) {
          return F::interpolate(a[0], F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{size[0], size[1]})
                                          .mode(torch::kBilinear)
                                          .align_corners(corners));
        });
    compare(
        "interpolate, nearest", {leaf({batch, channels, h, w})},
        [&](const auto& a) { return kiln::interpolate(a[0], size); },
        [&](const auto& a) {
          return F::interpolate(a[0], F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{size[0], size[1]})
                                          .mode(torch::kNearest));
        });
    compare(
        "interpolate, bicubic", {leaf({batch, channels, h, w})},
        [&](const auto& a) { return kiln::interpolate(a[0], size, kiln::Interpolation::bicubic, corners); },
        [&](const auto& a) {
          return F::interpolate(a[0], F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{size[0], size[1]})
                                          .mode(torch::kBicubic)
                                          .align_corners(corners));
        });
    compare(
        "interpolate, nearest-exact", {leaf({batch, channels, h, w})},
        [&](const auto& a) { return kiln::interpolate(a[0], size, kiln::Interpolation::nearest_exact); },
        [&](const auto& a) {  // the op itself: 1.13's interpolate warns for this mode
          return torch::_upsample_nearest_exact2d(a[0], {size[0], size[1]});
        });
    compare(
        "interpolate, area", {leaf({batch, channels, h, w})},
        [&](const auto& a) { return kiln::interpolate(a[0], size, kiln::Interpolation::area); },
        [&](const auto& a) {
          return F::interpolate(a[0], F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{size[0], size[1]})
                                          .mode(torch::kArea));
        });

    // Channels a multiple of r^2 most of the time, and sometimes not.
    const std::int64_t r = irand(1, 3), deep = coin() || coin() ? channels * r * r : channels * r + 1;
    compare(
        "pixel_shuffle", {leaf({batch, deep, h, w})},
        [&](const auto& a) { return kiln::pixel_shuffle(a[0], r); },
        [&](const auto& a) { return torch::pixel_shuffle(a[0], r); });
    const Sizes unshuffled = coin() ? Sizes{batch, channels, h * r, w * r} : Sizes{batch, channels, h, w};
    compare(
        "pixel_unshuffle", {leaf(unshuffled)}, [&](const auto& a) { return kiln::pixel_unshuffle(a[0], r); },
        [&](const auto& a) { return torch::pixel_unshuffle(a[0], r); });

    // unfold and fold with their own window; too large a window must be refused by both.
    const kiln::Pair kernel{irand(1, 3), irand(1, 3)}, dilation{irand(1, 2), irand(1, 2)},
        padding{irand(0, 1), irand(0, 1)}, stride{irand(1, 2), irand(1, 2)};
    const auto pair = [](kiln::Pair p) { return Sizes{p[0], p[1]}; };
    compare(
        "unfold", {leaf({batch, channels, h, w})},
        [&](const auto& a) { return kiln::unfold(a[0], kernel, dilation, padding, stride); },
        [&](const auto& a) {
          return F::unfold(a[0], F::UnfoldFuncOptions(pair(kernel))
                                     .dilation(pair(dilation))
                                     .padding(pair(padding))
                                     .stride(pair(stride)));
        });
    const auto blocks = [](std::int64_t size, std::int64_t k, std::int64_t d, std::int64_t p,
                           std::int64_t s) {
      const std::int64_t span = size + 2 * p - d * (k - 1) - 1;
      return span < 0 ? 0 : span / s + 1;
    };
    const std::int64_t count = blocks(h, kernel[0], dilation[0], padding[0], stride[0]) *
                               blocks(w, kernel[1], dilation[1], padding[1], stride[1]);
    compare(
        "fold", {leaf({batch, channels * kernel[0] * kernel[1], std::max<std::int64_t>(count, 1)})},
        [&](const auto& a) {
          return kiln::fold(a[0], {h, w}, kernel, dilation, padding, stride);
        },
        [&](const auto& a) {
          return F::fold(a[0], F::FoldFuncOptions({h, w}, pair(kernel))
                                   .dilation(pair(dilation))
                                   .padding(pair(padding))
                                   .stride(pair(stride)));
        });
  });
}

TEST_CASE("torch differential: instance_norm (running statistics too), bilinear and prelu") {
  in_both_precisions(43, 120, [] {
    const std::int64_t batch = irand(1, 3), channels = irand(1, 4);
    // At least two values per plane: with one, torch's C++ instance_norm gives 0 and a NaN
    // running variance where kiln refuses (as Python's F.instance_norm does).
    Sizes shape = {batch, channels, irand(2, 5)};
    if (coin()) shape.push_back(irand(1, 5));
    const bool affine = coin(), track = coin(), use_input_stats = !track || coin();
    const double momentum = unif(0.05, 0.5), eps = 1e-5;
    std::vector<Both> in = {leaf(shape)};
    if (affine) {
      in.push_back(leaf({channels}));
      in.push_back(leaf({channels}));
    }
    // The running statistics start the same on both sides and must end the same.
    const Both mean0 = leaf({channels}, -1, 1, false), var0 = leaf({channels}, 0.5, 2, false);
    const KT kiln_mean = mean0.k.clone(), kiln_var = var0.k.clone();
    const TT torch_mean = mean0.t.clone(), torch_var = var0.t.clone();
    compare(
        "instance_norm", in,
        [&](const auto& a) {
          return kiln::instance_norm(a[0], track ? kiln_mean : KT(), track ? kiln_var : KT(),
                                     affine ? a[1] : KT(), affine ? a[2] : KT(), use_input_stats, momentum,
                                     eps);
        },
        [&](const auto& a) {
          return torch::instance_norm(a[0], affine ? a[1] : TT(), affine ? a[2] : TT(),
                                      track ? torch_mean : TT(), track ? torch_var : TT(), use_input_stats,
                                      momentum, eps, false);
        },
        true, 1e-7);
    agree(kiln_mean, torch_mean, "instance_norm running mean", 1e-9, 1e-11);
    agree(kiln_var, torch_var, "instance_norm running variance", 1e-9, 1e-11);

    // bilinear: rows of two widths, the same leading shape.
    const std::int64_t in1 = irand(1, 4), in2 = irand(1, 4), out = irand(1, 4);
    const Sizes lead = random_shape(0, 2);
    Sizes s1 = lead, s2 = lead;
    s1.push_back(in1);
    s2.push_back(in2);
    const bool with_bias = coin();
    std::vector<Both> bi = {leaf(s1), leaf(s2), leaf({out, in1, in2})};
    if (with_bias) bi.push_back(leaf({out}));
    compare(
        "bilinear", bi,
        [&](const auto& a) { return kiln::bilinear(a[0], a[1], a[2], with_bias ? a[3] : KT()); },
        [&](const auto& a) { return torch::bilinear(a[0], a[1], a[2], with_bias ? a[3] : TT()); });

    // prelu: one slope, or one per channel (dimension 1).
    Sizes xs = random_shape(1, 4);
    const std::int64_t slopes = xs.size() >= 2 && coin() ? xs[1] : 1;
    compare(
        "prelu", {leaf(xs), leaf({slopes}, -1, 1)}, [&](const auto& a) { return kiln::prelu(a[0], a[1]); },
        [&](const auto& a) { return torch::prelu(a[0], a[1]); });
  });
}

TEST_CASE(
    "torch differential: adaptive max pooling, 1-D adaptive pooling, lp pooling, conv_transpose1d, "
    "local_response_norm") {
  in_both_precisions(44, 150, [] {
    const std::int64_t batch = irand(0, 2), channels = irand(1, 3), h = irand(1, 7), w = irand(1, 7);
    const std::int64_t oh = irand(1, 8), ow = irand(1, 8);
    const Both image = leaf({batch, channels, h, w});
    compare(
        "adaptive_max_pool2d", {image},
        [&](const auto& a) {
          return kiln::adaptive_max_pool2d(a[0], {oh, ow});
        },
        [&](const auto& a) {
          return std::get<0>(torch::adaptive_max_pool2d(a[0], {oh, ow}));
        });
    compare(
        "adaptive_max_pool2d's positions", {leaf({batch, channels, h, w}, -2, 2, false)},
        [&](const auto& a) {
          return kiln::adaptive_max_pool2d_with_indices(a[0], {oh, ow}).indices.to(kiln::kFloat64);
        },
        [&](const auto& a) {
          return std::get<1>(torch::adaptive_max_pool2d(a[0], {oh, ow})).to(torch::kDouble);
        },
        false);
    const Both seq = leaf({batch, channels, w});
    compare(
        "adaptive_max_pool1d", {seq}, [&](const auto& a) { return kiln::adaptive_max_pool1d(a[0], ow); },
        [&](const auto& a) { return std::get<0>(torch::adaptive_max_pool1d(a[0], {ow})); });
    compare(
        "adaptive_avg_pool1d", {seq}, [&](const auto& a) { return kiln::adaptive_avg_pool1d(a[0], ow); },
        [&](const auto& a) { return torch::adaptive_avg_pool1d(a[0], {ow}); });

    // Power-average pooling of positive inputs (odd powers of negative ones give NaN on both).
    const double p = std::array{1.0, 2.0, 3.0, 1.5}[irand(0, 3)];
    const kiln::Pair kernel{irand(1, 3), irand(1, 3)}, stride{irand(1, 3), irand(1, 3)};
    compare(
        "lp_pool2d", {leaf({batch, channels, h, w}, 0.2, 2)},
        [&](const auto& a) { return kiln::lp_pool2d(a[0], p, kernel, stride); },
        [&](const auto& a) {
          return F::lp_pool2d(
              a[0], F::LPPool2dFuncOptions(p, {kernel[0], kernel[1]}).stride({stride[0], stride[1]}));
        });
    compare(
        "lp_pool1d", {leaf({batch, channels, w}, 0.2, 2)},
        [&](const auto& a) { return kiln::lp_pool1d(a[0], p, kernel[1], stride[1]); },
        [&](const auto& a) {
          return F::lp_pool1d(a[0], F::LPPool1dFuncOptions(p, kernel[1]).stride(stride[1]));
        });

    // conv_transpose1d with its own settings; some are refused by both.
    const std::int64_t groups = irand(1, 2), in_c = groups * irand(1, 2), out_g = irand(1, 3),
                       k = irand(1, 3);
    const std::int64_t s = irand(1, 3), pad = irand(0, 2), d = irand(1, 2), op = irand(0, 1);
    const bool with_bias = coin();
    std::vector<Both> conv = {leaf({std::max<std::int64_t>(batch, 1), in_c, w}), leaf({in_c, out_g, k})};
    if (with_bias) conv.push_back(leaf({out_g * groups}));
    compare(
        "conv_transpose1d", conv,
        [&](const auto& a) {
          return kiln::conv_transpose1d(a[0], a[1], with_bias ? a[2] : KT(), s, pad, op, groups, d);
        },
        [&](const auto& a) {
          return torch::conv_transpose1d(a[0], a[1], with_bias ? a[2] : TT(), s, pad, op, groups, d);
        });

    // max_pool2d and avg_pool2d with ceil_mode and count_include_pad; the maxima's positions
    // and max_unpool2d.
    const kiln::Pair pk{irand(1, 3), irand(1, 3)}, ps{irand(1, 3), irand(1, 3)}, pp{irand(0, 1), irand(0, 1)};
    const bool ceil_mode = coin(), include_pad = coin();
    const auto sizes = [](kiln::Pair p) { return Sizes{p[0], p[1]}; };
    compare(
        "max_pool2d", {image}, [&](const auto& a) { return kiln::max_pool2d(a[0], pk, ps, pp, ceil_mode); },
        [&](const auto& a) {
          return torch::max_pool2d(a[0], sizes(pk), sizes(ps), sizes(pp), {1, 1}, ceil_mode);
        });
    compare(
        "avg_pool2d", {image},
        [&](const auto& a) { return kiln::avg_pool2d(a[0], pk, ps, pp, ceil_mode, include_pad); },
        [&](const auto& a) {
          return torch::avg_pool2d(a[0], sizes(pk), sizes(ps), sizes(pp), ceil_mode, include_pad);
        });
    compare(
        "max_pool2d's positions", {leaf({batch, channels, h, w}, -2, 2, false)},
        [&](const auto& a) {
          return kiln::max_pool2d_with_indices(a[0], pk, ps, pp, ceil_mode).indices.to(kiln::kFloat64);
        },
        [&](const auto& a) {
          return std::get<1>(
                     torch::max_pool2d_with_indices(a[0], sizes(pk), sizes(ps), sizes(pp), {1, 1}, ceil_mode))
              .to(torch::kDouble);
        },
        false);
    if (h >= pk[0] && w >= pk[1]) {  // unpooling what max_pool2d found, at x's own size
      const Both source = leaf({std::max<std::int64_t>(batch, 1), channels, h, w}, -2, 2, false);
      const KT k_idx = kiln::max_pool2d_with_indices(source.k, pk, ps).indices;
      const TT t_idx = std::get<1>(torch::max_pool2d_with_indices(source.t, sizes(pk), sizes(ps)));
      compare(
          "max_unpool2d", {leaf(sizes_of(k_idx))},
          [&](const auto& a) {
            return kiln::max_unpool2d(a[0], k_idx, pk, ps, {0, 0}, kiln::Pair{h, w});
          },
          [&](const auto& a) {
            return torch::max_unpool2d(a[0], t_idx, {h, w});
          });
    }

    const std::int64_t shuffle_groups = irand(1, 3);
    // Values only: torch 1.13's channel_shuffle has no derivative.
    compare(
        "channel_shuffle",
        {leaf({std::max<std::int64_t>(batch, 1), shuffle_groups * irand(1, 3), h, w}, -2, 2, false)},
        [&](const auto& a) { return kiln::channel_shuffle(a[0], shuffle_groups); },
        [&](const auto& a) { return torch::channel_shuffle(a[0], shuffle_groups); }, false);

    const std::int64_t size = irand(1, 5);
    const double alpha = unif(0.1, 2), beta = unif(0.3, 1), kk = unif(0.5, 2);
    // At least one sample: torch views an empty 4-d batch as (0, 1, C, H, -1), which it refuses.
    Sizes lrn_shape = {std::max<std::int64_t>(batch, 1), irand(1, 6), irand(1, 4)};
    if (coin()) lrn_shape.push_back(irand(1, 3));
    compare(
        "local_response_norm", {leaf(lrn_shape)},
        [&](const auto& a) { return kiln::local_response_norm(a[0], size, alpha, beta, kk); },
        [&](const auto& a) {
          return F::local_response_norm(a[0],
                                        F::LocalResponseNormFuncOptions(size).alpha(alpha).beta(beta).k(kk));
        });
  });
}

TEST_CASE("torch differential: affine_grid and grid_sample") {
  in_both_precisions(45, 150, [] {
    const std::int64_t batch = irand(1, 2), channels = irand(1, 3), h = irand(1, 6), w = irand(1, 6);
    const std::int64_t oh = irand(1, 5), ow = irand(1, 5);
    const bool corners = coin();
    compare(
        "affine_grid", {leaf({batch, 2, 3})},
        [&](const auto& a) {
          return kiln::affine_grid(a[0], {batch, channels, oh, ow}, corners);
        },
        [&](const auto& a) {
          return F::affine_grid(a[0], {batch, channels, oh, ow}, corners);
        });
    const std::int64_t pick_mode = irand(0, 1), pick_padding = irand(0, 2);
    const kiln::Interpolation mode =
        pick_mode == 0 ? kiln::Interpolation::bilinear : kiln::Interpolation::nearest;
    const kiln::GridPadding padding = std::array{kiln::GridPadding::zeros, kiln::GridPadding::border,
                                                 kiln::GridPadding::reflection}[pick_padding];
    auto options = F::GridSampleFuncOptions().align_corners(corners);
    if (pick_mode == 0)
      options.mode(torch::kBilinear);
    else
      options.mode(torch::kNearest);
    if (pick_padding == 0)
      options.padding_mode(torch::kZeros);
    else if (pick_padding == 1)
      options.padding_mode(torch::kBorder);
    else
      options.padding_mode(torch::kReflection);
    // Points partly outside; nearest's gradient in the grid is 0 on both sides.
    compare(
        "grid_sample", {leaf({batch, channels, h, w}), leaf({batch, oh, ow, 2}, -1.5, 1.5)},
        [&](const auto& a) { return kiln::grid_sample(a[0], a[1], mode, padding, corners); },
        [&](const auto& a) { return F::grid_sample(a[0], a[1], options); });
  });
}

TEST_CASE(
    "torch differential: conv3d, max_pool3d, avg_pool3d, the adaptive 3-D pools, interpolate1d and "
    "interpolate3d") {
  in_both_precisions(47, 40, [] {
    const std::int64_t batch = irand(1, 2), groups = irand(1, 2), channels = groups * irand(1, 2);
    const Sizes volume = {batch, channels, irand(2, 5), irand(2, 5), irand(2, 5)};
    const kiln::Triple k{irand(1, 2), irand(1, 3), irand(1, 2)}, s{irand(1, 2), irand(1, 2), irand(1, 2)},
        p{irand(0, 1), irand(0, 1), irand(0, 1)}, d{irand(1, 2), 1, irand(1, 2)};
    const std::int64_t out = groups * irand(1, 2);
    const auto t3 = [](const kiln::Triple& t) { return std::vector<std::int64_t>{t[0], t[1], t[2]}; };
    const bool bias = coin();
    std::vector<Both> in = {leaf(volume), leaf({out, channels / groups, k[0], k[1], k[2]})};
    if (bias) in.push_back(leaf({out}));
    compare(
        "conv3d", in,
        [&](const auto& a) { return kiln::conv3d(a[0], a[1], bias ? a[2] : KT(), s, p, d, groups); },
        [&](const auto& a) {
          return torch::conv3d(a[0], a[1], bias ? a[2] : TT(), t3(s), t3(p), t3(d), groups);
        });
    const kiln::Triple extra{irand(0, std::max(s[0], d[0]) - 1), irand(0, std::max(s[1], d[1]) - 1),
                             irand(0, std::max(s[2], d[2]) - 1)};
    std::vector<Both> tin = {leaf(volume), leaf({channels, out / groups, k[0], k[1], k[2]})};
    if (bias) tin.push_back(leaf({out}));
    compare(
        "conv_transpose3d", tin,
        [&](const auto& a) {
          return kiln::conv_transpose3d(a[0], a[1], bias ? a[2] : KT(), s, p, extra, groups, d);
        },
        [&](const auto& a) {
          return torch::conv_transpose3d(a[0], a[1], bias ? a[2] : TT(), t3(s), t3(p), t3(extra), groups,
                                         t3(d));
        });
    const kiln::Triple pk{irand(1, 3), irand(1, 3), irand(1, 3)};
    const kiln::Triple pp{irand(0, pk[0] / 2), irand(0, pk[1] / 2), irand(0, pk[2] / 2)};
    const bool ceil_mode = coin(), include = coin();
    compare(
        "max_pool3d", {leaf(volume)},
        [&](const auto& a) { return kiln::max_pool3d(a[0], pk, s, pp, ceil_mode); },
        [&](const auto& a) {
          return torch::max_pool3d(a[0], t3(pk), t3(s), t3(pp), {1, 1, 1}, ceil_mode);
        });
    compare(
        "max_pool3d's positions", {leaf(volume, -2, 2, false)},
        [&](const auto& a) {
          return kiln::max_pool3d_with_indices(a[0], pk, s, pp, ceil_mode).indices.to(kiln::kFloat64);
        },
        [&](const auto& a) {
          return std::get<1>(
                     torch::max_pool3d_with_indices(a[0], t3(pk), t3(s), t3(pp), {1, 1, 1}, ceil_mode))
              .to(torch::kDouble);
        },
        false);
    {  // unpooling what max_pool3d found, at the volume's own size
      const Both source = leaf(volume, -2, 2, false);
      const kiln::Triple ss{std::max<std::int64_t>(s[0], pk[0]), std::max<std::int64_t>(s[1], pk[1]),
                            std::max<std::int64_t>(s[2], pk[2])};  // windows that do not overlap
      if (volume[2] >= pk[0] && volume[3] >= pk[1] && volume[4] >= pk[2]) {
        const KT k_idx = kiln::max_pool3d_with_indices(source.k, pk, ss).indices;
        const TT t_idx = std::get<1>(torch::max_pool3d_with_indices(source.t, t3(pk), t3(ss)));
        const kiln::Triple own{volume[2], volume[3], volume[4]};
        compare(
            "max_unpool3d", {leaf(sizes_of(k_idx))},
            [&](const auto& a) {
              return kiln::max_unpool3d(a[0], k_idx, pk, ss, {0, 0, 0}, own);
            },
            [&](const auto& a) {
              return torch::max_unpool3d(a[0], t_idx, t3(own), t3(ss), {0, 0, 0});
            });
      }
      const Both seq = leaf({volume[0], volume[1], volume[4]}, -2, 2, false);
      if (volume[4] >= pk[2]) {
        const KT k_idx = kiln::max_pool1d_with_indices(seq.k, pk[2], ss[2], 0, ceil_mode).indices;
        const TT t_idx =
            std::get<1>(torch::max_pool1d_with_indices(seq.t, {pk[2]}, {ss[2]}, {0}, {1}, ceil_mode));
        compare(
            "max_pool1d's positions", {seq}, [&](const auto&) { return k_idx.to(kiln::kFloat64); },
            [&](const auto&) { return t_idx.to(torch::kDouble); }, false);
        compare(
            "max_unpool1d", {leaf(sizes_of(k_idx))},
            [&](const auto& a) { return kiln::max_unpool1d(a[0], k_idx, pk[2], ss[2], 0, volume[4]); },
            [&](const auto& a) {
              return torch::max_unpool2d(a[0].unsqueeze(2), t_idx.unsqueeze(2), {1, volume[4]}).squeeze(2);
            });
      }
    }
    compare(
        "avg_pool3d", {leaf(volume)},
        [&](const auto& a) { return kiln::avg_pool3d(a[0], pk, s, pp, ceil_mode, include); },
        [&](const auto& a) { return torch::avg_pool3d(a[0], t3(pk), t3(s), t3(pp), ceil_mode, include); });
    const kiln::Triple size{irand(1, 4), irand(1, 4), irand(1, 4)};
    compare(
        "adaptive_avg_pool3d", {leaf(volume)},
        [&](const auto& a) { return kiln::adaptive_avg_pool3d(a[0], size); },
        [&](const auto& a) { return torch::adaptive_avg_pool3d(a[0], t3(size)); });
    compare(
        "adaptive_max_pool3d", {leaf(volume)},
        [&](const auto& a) { return kiln::adaptive_max_pool3d(a[0], size); },
        [&](const auto& a) { return std::get<0>(torch::adaptive_max_pool3d(a[0], t3(size))); });
    const bool corners = coin();
    compare(
        "interpolate3d, trilinear", {leaf(volume)},
        [&](const auto& a) {
          return kiln::interpolate3d(a[0], size, kiln::Interpolation::trilinear, corners);
        },
        [&](const auto& a) {
          return F::interpolate(
              a[0],
              F::InterpolateFuncOptions().size(t3(size)).mode(torch::kTrilinear).align_corners(corners));
        });
    compare(
        "interpolate3d, nearest and nearest-exact", {leaf(volume)},
        [&](const auto& a) {
          return kiln::interpolate3d(a[0], size) +
                 kiln::interpolate3d(a[0], size, kiln::Interpolation::nearest_exact);
        },
        [&](const auto& a) {
          return F::interpolate(a[0], F::InterpolateFuncOptions().size(t3(size)).mode(torch::kNearest)) +
                 torch::_upsample_nearest_exact3d(a[0], t3(size));
        });
    const Sizes sequence = {batch, channels, irand(1, 6)};
    const std::int64_t length = irand(1, 9);
    compare(
        "interpolate1d, linear", {leaf(sequence)},
        [&](const auto& a) {
          return kiln::interpolate1d(a[0], length, kiln::Interpolation::linear, corners);
        },
        [&](const auto& a) {
          return F::interpolate(a[0], F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{length})
                                          .mode(torch::kLinear)
                                          .align_corners(corners));
        });
    compare(
        "interpolate1d, nearest, nearest-exact and area", {leaf(sequence)},
        [&](const auto& a) {
          return kiln::interpolate1d(a[0], length) +
                 kiln::interpolate1d(a[0], length, kiln::Interpolation::nearest_exact) +
                 kiln::interpolate1d(a[0], length, kiln::Interpolation::area);
        },
        [&](const auto& a) {
          const std::vector<std::int64_t> sized{length};
          return F::interpolate(a[0], F::InterpolateFuncOptions().size(sized).mode(torch::kNearest)) +
                 torch::_upsample_nearest_exact1d(a[0], sized) +
                 F::interpolate(a[0], F::InterpolateFuncOptions().size(sized).mode(torch::kArea));
        });
  });
}
