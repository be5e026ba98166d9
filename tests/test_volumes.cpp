// Volumes: conv3d (and conv_transpose3d as its adjoint), max_pool3d, avg_pool3d and the
// adaptive 3-D pools against direct definitions (every window of every output), float64 gradchecks, the
// layers, errors.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// conv3d by its definition: every output a sum over its channels' dilated boxes.
Tensor naive_conv3d(const Tensor& x, const Tensor& w, const Tensor& b, Triple s, Triple p, Triple d,
                    std::int64_t groups) {
  const std::int64_t n = x.size(0), c = x.size(1), o = w.size(0), cg = w.size(1);
  const Shape in{x.size(2), x.size(3), x.size(4)}, k{w.size(2), w.size(3), w.size(4)};
  Shape out(3);
  for (int i = 0; i < 3; ++i) out[i] = (in[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1;
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>(o, 0.0);
  std::vector<double> y;
  for (std::int64_t bi = 0; bi < n; ++bi)
    for (std::int64_t oc = 0; oc < o; ++oc)
      for (std::int64_t z = 0; z < out[0]; ++z)
        for (std::int64_t yy = 0; yy < out[1]; ++yy)
          for (std::int64_t xx = 0; xx < out[2]; ++xx) {
            double sum = bv[oc];
            const std::int64_t group = oc / (o / groups);
            for (std::int64_t ci = 0; ci < cg; ++ci)
              for (std::int64_t a = 0; a < k[0]; ++a)
                for (std::int64_t e = 0; e < k[1]; ++e)
                  for (std::int64_t f = 0; f < k[2]; ++f) {
                    const std::int64_t iz = z * s[0] - p[0] + a * d[0], iy = yy * s[1] - p[1] + e * d[1],
                                       ix = xx * s[2] - p[2] + f * d[2];
                    if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1] || ix < 0 || ix >= in[2]) continue;
                    const std::int64_t channel = group * cg + ci;
                    sum += xv[(((bi * c + channel) * in[0] + iz) * in[1] + iy) * in[2] + ix] *
                           wv[(((oc * cg + ci) * k[0] + a) * k[1] + e) * k[2] + f];
                  }
            y.push_back(sum);
          }
  return from_vector(y, {n, o, out[0], out[1], out[2]});
}

// One axis's windows as PyTorch's pooling forms them: [start, end) clipped to the input,
// and the divisor's share (the window clipped to the padded input, or to the input).
struct Window {
  std::int64_t start, end, share;
};
std::vector<Window> windows(std::int64_t size, std::int64_t k, std::int64_t s, std::int64_t p, bool ceil_mode,
                            bool count_include_pad) {
  const std::int64_t span = size + 2 * p - k;
  std::int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= size + p) --out;
  std::vector<Window> w;
  for (std::int64_t i = 0; i < out; ++i) {
    std::int64_t start = i * s - p, end = std::min(start + k, size + p);
    const std::int64_t padded_share = end - start;
    start = std::max<std::int64_t>(start, 0);
    end = std::min(end, size);
    w.push_back({start, end, count_include_pad ? padded_share : end - start});
  }
  return w;
}

Tensor naive_pool3d(const Tensor& x, Triple k, Triple s, Triple p, bool ceil_mode, bool count_include_pad,
                    bool average) {
  const std::int64_t planes = x.size(0) * x.size(1), d = x.size(2), h = x.size(3), w = x.size(4);
  const auto wd = windows(d, k[0], s[0], p[0], ceil_mode, count_include_pad);
  const auto wh = windows(h, k[1], s[1], p[1], ceil_mode, count_include_pad);
  const auto ww = windows(w, k[2], s[2], p[2], ceil_mode, count_include_pad);
  const auto xv = x.to_vector<double>();
  std::vector<double> y;
  for (std::int64_t pl = 0; pl < planes; ++pl)
    for (const Window& a : wd)
      for (const Window& b : wh)
        for (const Window& c : ww) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          for (std::int64_t z = a.start; z < a.end; ++z)
            for (std::int64_t yy = b.start; yy < b.end; ++yy)
              for (std::int64_t xx = c.start; xx < c.end; ++xx) {
                const double v = xv[((pl * d + z) * h + yy) * w + xx];
                best = std::max(best, v);
                sum += v;
              }
          y.push_back(average ? sum / static_cast<double>(a.share * b.share * c.share) : best);
        }
  return from_vector(y, {x.size(0), x.size(1), static_cast<std::int64_t>(wd.size()),
                         static_cast<std::int64_t>(wh.size()), static_cast<std::int64_t>(ww.size())});
}

}  // namespace

TEST_CASE("conv3d against its definition: strides, padding, dilation, groups, bias; float32; unbatched") {
  manual_seed(600);
  struct Case {
    Triple s, p, d;
    std::int64_t groups;
  };
  const Tensor x = rand64({2, 4, 5, 6, 7});
  for (const Case& c : {Case{{1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1}, Case{{2, 1, 2}, {1, 0, 2}, {1, 1, 1}, 1},
                        Case{{1, 2, 1}, {2, 1, 1}, {2, 1, 2}, 2}, Case{{3, 3, 3}, {1, 1, 1}, {1, 2, 1}, 4}}) {
    CAPTURE(c.groups);
    const Tensor w = rand64({4, 4 / c.groups, 3, 2, 3}), b = rand64({4});
    const Tensor expected = naive_conv3d(x, w, b, c.s, c.p, c.d, c.groups);
    check_same(conv3d(x, w, b, c.s, c.p, c.d, c.groups), expected, 1e-12);
    check_same(conv3d(x.to(kFloat32), w.to(kFloat32), b.to(kFloat32), c.s, c.p, c.d, c.groups).to(kFloat64),
               expected, 1e-4);
  }
  // One slice deep with a kernel one slice deep: conv2d.
  const Tensor flat = rand64({2, 3, 1, 6, 6}), w2 = rand64({5, 3, 1, 3, 3});
  check_same(conv3d(flat, w2, Tensor(), {1, 2, 2}, {0, 1, 1}).squeeze(2),
             conv2d(flat.squeeze(2), w2.squeeze(2), Tensor(), {2, 2}, {1, 1}), 1e-13);
  const Tensor w3 = rand64({3, 4, 2, 2, 2});
  const Tensor single = conv3d(x.select(0, 1), w3);  // unbatched (C, D, H, W)
  CHECK(single.shape() == Shape{3, 4, 5, 6});
  check_same(single, conv3d(x, w3).select(0, 1), 0);
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv3d(in[0], in[1], in[2], {2, 1, 1}, {1, 0, 1}, {1, 1, 2}, 2);
      },
      {rand64({1, 2, 4, 3, 4}), rand64({4, 1, 2, 2, 2}), rand64({4})});
  // Output planes of 8 x 64 doubles: each col row spans 4 KiB, and the buffer's rows are
  // spaced a cache line further apart. Two images of three slices, so that the threads
  // split the (image, slice) pairs unevenly.
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv3d(in[0], in[1], in[2], {1, 1, 1}, {1, 1, 1});
      },
      {rand64({2, 1, 3, 8, 64}), rand64({2, 1, 3, 3, 3}), rand64({2})});
  // A 1x1x1 kernel, with and without a depth stride.
  const Tensor w1 = rand64({4, 2, 1, 1, 1}), b = rand64({4});
  check_same(conv3d(x, w1, b, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2),
             naive_conv3d(x, w1, b, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2), 1e-12);
  check_same(conv3d(x, w1, b, {2, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2),
             naive_conv3d(x, w1, b, {2, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2), 1e-12);
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv3d(in[0], in[1], in[2], {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2);
      },
      {rand64({3, 4, 2, 2, 3}), rand64({2, 2, 1, 1, 1}), rand64({2})});
  const Tensor deep = rand64({2, 2, 3, 32, 32}), w4 = rand64({3, 2, 3, 3, 3});
  check_same(conv3d(deep.to(kFloat32), w4.to(kFloat32), Tensor(), {1, 1, 1}, {1, 1, 1}).to(kFloat64),
             naive_conv3d(deep, w4, Tensor(), {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1), 1e-4);
}

TEST_CASE("conv_transpose3d is conv3d's adjoint: <conv3d(x, w), y> = <x, conv_transpose3d(y, w)>") {
  manual_seed(603);
  struct Case {
    Triple s, p, d;
    std::int64_t groups;
  };
  for (const Case& c : {Case{{1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1}, Case{{2, 1, 2}, {1, 0, 1}, {1, 1, 1}, 1},
                        Case{{2, 2, 1}, {1, 1, 0}, {2, 1, 2}, 2}}) {
    CAPTURE(c.groups);
    const Tensor x = rand64({2, 4, 7, 6, 5}), w = rand64({6, 4 / c.groups, 3, 2, 3});
    const Tensor y = conv3d(x, w, Tensor(), c.s, c.p, c.d, c.groups);
    // The output padding that gives back x's own sizes.
    Triple extra{};
    for (int i = 0; i < 3; ++i)
      extra[i] =
          x.size(2 + i) - ((y.size(2 + i) - 1) * c.s[i] - 2 * c.p[i] + c.d[i] * (w.size(2 + i) - 1) + 1);
    const Tensor g = rand64(y.shape());
    const Tensor back = conv_transpose3d(g, w, Tensor(), c.s, c.p, extra, c.groups, c.d);
    REQUIRE(back.shape() == x.shape());
    CHECK(sum(y * g).item() == doctest::Approx(sum(x * back).item()).epsilon(1e-12));
    // And it is the gradient conv3d's backward gives x.
    const Tensor leaf = x.clone().requires_grad_(true);
    sum(conv3d(leaf, w, Tensor(), c.s, c.p, c.d, c.groups) * g).backward();
    check_same(leaf.grad(), back, 1e-12);
  }
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv_transpose3d(in[0], in[1], in[2], {2, 1, 2}, {1, 0, 0}, {1, 0, 1}, 2);
      },
      {rand64({1, 2, 2, 3, 2}), rand64({2, 2, 3, 2, 2}), rand64({4})});
  nn::ConvTranspose3d up(nn::ConvTranspose3dOptions(4, 2, 2).stride(2));
  CHECK(up.weight.shape() == Shape{4, 2, 2, 2, 2});
  CHECK(up.description() == "ConvTranspose3d(4, 2, kernel_size=(2, 2, 2), stride=(2, 2, 2))");
  CHECK(up(randn({1, 4, 3, 4, 5})).shape() == Shape{1, 2, 6, 8, 10});
  CHECK_THROWS_WITH_AS(conv_transpose3d(rand64({1, 3, 2, 2, 2}), rand64({4, 2, 2, 2, 2})),
                       doctest::Contains("has 3 channels but weight of shape (4, 2, 2, 2, 2) expects 4"),
                       Error);
  CHECK_THROWS_WITH_AS(conv_transpose3d(rand64({1, 4, 2, 2, 2}), rand64({4, 2, 2, 2, 2}), Tensor(), {1, 1, 1},
                                        {0, 0, 0}, {1, 0, 0}),
                       doctest::Contains("output_padding below the stride or the dilation"), Error);
  CHECK_THROWS_WITH_AS(
      conv_transpose3d(rand64({1, 4, 2, 1, 1}), rand64({4, 2, 1, 3, 3}), Tensor(), {1, 1, 1}, {0, 2, 2}),
      doctest::Contains("gives an output of size (2, -1, -1); lower the padding"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose3d(rand64({1, 4, 2, 2, 2}), rand64({4, 2, 1, 1, 1}), rand64({3})),
                       doctest::Contains("bias of shape (3) does not match 2 output channels"), Error);
}

TEST_CASE("max_pool3d, avg_pool3d and the adaptive 3-D pools against their definitions") {
  manual_seed(601);
  const Tensor x = rand64({2, 3, 7, 6, 9});
  struct Case {
    Triple k, s, p;
  };
  for (const Case& c : {Case{{2, 2, 2}, {2, 2, 2}, {0, 0, 0}}, Case{{3, 2, 3}, {2, 1, 2}, {1, 1, 1}},
                        Case{{3, 3, 3}, {3, 2, 2}, {1, 0, 1}}})
    for (const bool ceil_mode : {false, true}) {
      CAPTURE(ceil_mode);
      check_same(max_pool3d(x, c.k, c.s, c.p, ceil_mode),
                 naive_pool3d(x, c.k, c.s, c.p, ceil_mode, true, false), 0);
      for (const bool include : {true, false})
        check_same(avg_pool3d(x, c.k, c.s, c.p, ceil_mode, include),
                   naive_pool3d(x, c.k, c.s, c.p, ceil_mode, include, true), 1e-14);
    }
  // The adaptive forms: whole-window cases equal the plain pools; an overlapping one by
  // its windows along each axis.
  check_same(adaptive_avg_pool3d(x.narrow(4, 0, 6), {7, 3, 2}), avg_pool3d(x.narrow(4, 0, 6), {1, 2, 3}),
             1e-14);
  check_same(adaptive_max_pool3d(x, {1, 1, 1}), amax(x, {2, 3, 4}, true), 0);
  const Tensor pooled = adaptive_avg_pool3d(x, {3, 4, 5});
  CHECK(pooled.shape() == Shape{2, 3, 3, 4, 5});
  // Output (1, 1, 1) reads slices floor(7/3) .. ceil(14/3) - 1 = 2 .. 4, rows floor(6/4) ..
  // ceil(12/4) - 1 = 1 .. 2, columns floor(9/5) .. ceil(18/5) - 1 = 1 .. 3.
  CHECK(pooled[1][2][1][1][1].item() ==
        doctest::Approx(mean(x[1][2].narrow(0, 2, 3).narrow(1, 1, 2).narrow(2, 1, 3)).item()).epsilon(1e-13));
  KILN_CHECK_GRAD(
      [](const In& in) {
        return max_pool3d(in[0], {2, 2, 2}, {1, 2, 1}, {1, 1, 0}, true);
      },
      {rand64({1, 2, 3, 4, 3})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return avg_pool3d(in[0], {2, 3, 2}, {2, 1, 1}, {1, 1, 0}, false, false);
      },
      {rand64({1, 2, 3, 4, 3})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return adaptive_avg_pool3d(in[0], {2, 3, 2});
      },
      {rand64({1, 2, 3, 4, 3})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return adaptive_max_pool3d(in[0], {2, 2, 2});
      },
      {rand64({1, 2, 3, 4, 3})});
}

TEST_CASE("Conv3d, MaxPool3d, AvgPool3d and the adaptive 3-D layers; errors name the 3-D shapes") {
  manual_seed(602);
  nn::Conv3d conv(nn::Conv3dOptions(2, 4, 3).padding(1).stride({1, 2, 2}));
  CHECK(conv.weight.shape() == Shape{4, 2, 3, 3, 3});
  CHECK(conv.description() == "Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1))");
  const Tensor clip = randn({2, 2, 5, 8, 8});
  CHECK(conv(clip).shape() == Shape{2, 4, 5, 4, 4});
  check_same(conv(clip), conv3d(clip, conv.weight, conv.bias, {1, 2, 2}, {1, 1, 1}), 0);
  nn::MaxPool3d max_layer(nn::Pool3dOptions(2).ceil_mode(true));
  CHECK(max_layer.description() == "MaxPool3d(kernel_size=(2, 2, 2), ceil_mode=true)");
  CHECK(max_layer(clip).shape() == Shape{2, 2, 3, 4, 4});
  nn::AvgPool3d avg_layer(nn::Pool3dOptions(3).stride(1).padding(1).count_include_pad(false));
  check_same(avg_layer(clip), avg_pool3d(clip, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, false, false), 0);
  CHECK(nn::AdaptiveAvgPool3d(1)(clip).shape() == Shape{2, 2, 1, 1, 1});
  CHECK(nn::AdaptiveMaxPool3d({2, 3, 4}).description() == "AdaptiveMaxPool3d(output_size=(2, 3, 4))");

  CHECK_THROWS_WITH_AS(conv3d(clip, rand64({4, 3, 3, 3, 3}).to(kFloat32)),
                       doctest::Contains("has 2 channels but weight of shape (4, 3, 3, 3, 3)"), Error);
  CHECK_THROWS_WITH_AS(conv3d(clip, randn({4, 2, 7, 1, 1})),
                       doctest::Contains("shallower than the dilated kernel"), Error);
  CHECK_THROWS_WITH_AS(conv3d(randn({2, 5, 8, 8}), randn({4, 3, 3, 3, 3})),
                       doctest::Contains("has 2 channels"), Error);
  CHECK_THROWS_WITH_AS(conv3d(clip, randn({4, 2, 1, 9, 3})),
                       doctest::Contains("(2, 2, 5, 8, 8) has planes smaller than the dilated 9x3 kernel"),
                       Error);
  CHECK_THROWS_WITH_AS(conv3d(clip, randn({4, 2, 1, 1, 1}), randn({3})),
                       doctest::Contains("conv3d: bias of shape (3) does not match 4 output channels"),
                       Error);
  CHECK_THROWS_WITH_AS(max_pool3d(clip, {2, 2, 2}, {0, 0, 0}, {2, 0, 0}),
                       doctest::Contains("padding at most half the kernel"), Error);
  CHECK_THROWS_WITH_AS(avg_pool3d(clip, {6, 2, 2}), doctest::Contains("smaller than the window (6, 2, 2)"),
                       Error);
  CHECK_THROWS_WITH_AS(max_pool3d(randn({8, 8}), {2, 2, 2}),
                       doctest::Contains("(N, C, D, H, W) or (C, D, H, W)"), Error);
}

TEST_CASE("BatchNorm3d, InstanceNorm3d, and Upsample of volumes and sequences") {
  manual_seed(603);
  const Tensor clip = rand64({2, 3, 4, 5, 6}) * 2.0 + 1.0;
  nn::BatchNorm3d bn(3);
  CHECK(bn.description() == "BatchNorm3d(3, eps=1e-05, momentum=0.1)");
  const Tensor y = bn(clip.to(kFloat32));
  // Each channel over (N, D, H, W): mean 0 and (biased) variance 1 after; the running
  // mean moves a tenth of the way to the batch's.
  const auto xv = clip.to_vector<double>();
  const auto yv = y.to_vector<double>();
  const std::int64_t per = 4 * 5 * 6;
  for (std::int64_t c = 0; c < 3; ++c) {
    double mean_x = 0, mean_y = 0, sq_y = 0;
    for (std::int64_t n = 0; n < 2; ++n)
      for (std::int64_t i = 0; i < per; ++i) {
        const std::size_t at = static_cast<std::size_t>((n * 3 + c) * per + i);
        mean_x += xv[at];
        mean_y += yv[at];
        sq_y += yv[at] * yv[at];
      }
    mean_x /= 2 * per;
    mean_y /= 2 * per;
    CHECK(std::abs(mean_y) < 1e-5);
    CHECK(std::abs(sq_y / (2 * per) - 1.0) < 1e-3);
    CHECK(std::abs(bn.running_mean.to_vector<double>()[c] - 0.1 * mean_x) < 1e-5);
  }
  bn.eval();
  check_same(bn(clip.to(kFloat32)),
             batch_norm(clip.to(kFloat32), bn.running_mean, bn.running_var, bn.weight, bn.bias, false), 1e-6);
  CHECK_THROWS_WITH_AS(bn(randn({2, 3, 4, 5})), doctest::Contains("expected (N, C, D, H, W) input"), Error);

  nn::InstanceNorm3d in3(3);
  const Tensor single = clip.select(0, 1);  // unbatched (C, D, H, W)
  check_same(in3(single), instance_norm(clip, Tensor(), Tensor(), Tensor(), Tensor(), true).select(0, 1),
             1e-12);
  const auto iv = in3(clip).to_vector<double>();
  for (std::int64_t slab = 0; slab < 6; ++slab) {
    double mean = 0;
    for (std::int64_t i = 0; i < per; ++i) mean += iv[static_cast<std::size_t>(slab * per + i)];
    CHECK(std::abs(mean / per) < 1e-12);
  }
  CHECK_THROWS_WITH_AS(in3(randn({3, 4, 5})), doctest::Contains("(N, C, D, H, W) or unbatched (C, D, H, W)"),
                       Error);

  nn::Upsample twice(2);
  check_same(twice(clip), interpolate3d(clip, {8, 10, 12}), 0);
  nn::Upsample tri(
      nn::UpsampleOptions().scale_factor({1, 2, 3}).mode(Interpolation::trilinear).align_corners(true));
  check_same(tri(clip), interpolate3d(clip, {4, 10, 18}, Interpolation::trilinear, true), 0);
  CHECK(tri.description() == "Upsample(scale_factor=(1, 2, 3), mode=trilinear, align_corners=true)");
  nn::Upsample sized(nn::UpsampleOptions().size({3, 7, 2}).mode(Interpolation::area));
  check_same(sized(clip), interpolate3d(clip, {3, 7, 2}, Interpolation::area), 0);
  const Tensor seq = clip.select(2, 0).select(2, 0);  // (N, C, L)
  nn::Upsample lin(nn::UpsampleOptions().scale_factor(3).mode(Interpolation::linear));
  check_same(lin(seq), interpolate1d(seq, 18, Interpolation::linear), 0);
  check_same(twice(seq), interpolate1d(seq, 12), 0);
  CHECK_THROWS_WITH_AS(
      nn::Upsample(nn::UpsampleOptions().scale_factor({2, 2}))(clip),
      doctest::Contains("scale_factor has 2 values but the input (2, 3, 4, 5, 6) has 3 spatial "
                        "dimensions; give one value or 3"),
      Error);
  CHECK_THROWS_WITH_AS(twice(randn({2, 3})), doctest::Contains("input must be (N, C, L), (N, C, H, W)"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::Upsample(nn::UpsampleOptions().scale_factor(0)),
                       doctest::Contains("whole numbers >= 1, got 0"), Error);
}
