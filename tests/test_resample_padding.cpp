// pad's modes, interpolate, pixel_shuffle and their layers: values against direct
// definitions and by hand, float64 gradchecks, errors.
#include <array>
#include <cmath>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// Where padded position i (from -before) of a dimension of size n reads, by walking:
// a reflection bounces off each end until it lands inside.
std::int64_t walk(std::int64_t i, std::int64_t n, PadMode mode) {
  if (mode == PadMode::replicate) return std::clamp<std::int64_t>(i, 0, n - 1);
  while (i < 0 || i >= n) {
    if (mode == PadMode::circular)
      i += i < 0 ? n : -n;
    else
      i = i < 0 ? -i : 2 * (n - 1) - i;
  }
  return i;
}

// pad over the last two dims of a 4-D x, element by element.
Tensor naive_pad2d(const Tensor& x, std::int64_t left, std::int64_t right, std::int64_t top,
                   std::int64_t bottom, PadMode mode) {
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t OH = H + top + bottom, OW = W + left + right;
  const auto xv = x.to_vector<double>();
  std::vector<double> out;
  for (std::int64_t n = 0; n < N * C; ++n)
    for (std::int64_t y = 0; y < OH; ++y)
      for (std::int64_t c = 0; c < OW; ++c)
        out.push_back(xv[n * H * W + walk(y - top, H, mode) * W + walk(c - left, W, mode)]);
  return from_vector(out, {N, C, OH, OW});
}

// PyTorch's bilinear definition, pixel by pixel: the source position of output index i,
// its two neighbours and their weights.
struct Tap {
  std::int64_t lo, hi;
  double lambda;  // the weight of hi
};
Tap tap(std::int64_t i, std::int64_t in, std::int64_t out, bool align_corners) {
  double src;
  if (align_corners)
    src = out > 1 ? double(i) * double(in - 1) / double(out - 1) : 0.0;
  else
    src = std::max((double(i) + 0.5) * double(in) / double(out) - 0.5, 0.0);
  const auto lo = static_cast<std::int64_t>(std::floor(src));
  return {lo, std::min(lo + 1, in - 1), src - double(lo)};
}
Tensor naive_bilinear(const Tensor& x, std::int64_t OH, std::int64_t OW, bool align_corners) {
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const auto xv = x.to_vector<double>();
  std::vector<double> out;
  for (std::int64_t p = 0; p < N * C; ++p)
    for (std::int64_t y = 0; y < OH; ++y)
      for (std::int64_t c = 0; c < OW; ++c) {
        const Tap ty = tap(y, H, OH, align_corners), tx = tap(c, W, OW, align_corners);
        const auto at = [&](std::int64_t r, std::int64_t q) { return xv[p * H * W + r * W + q]; };
        out.push_back((1 - ty.lambda) * ((1 - tx.lambda) * at(ty.lo, tx.lo) + tx.lambda * at(ty.lo, tx.hi)) +
                      ty.lambda * ((1 - tx.lambda) * at(ty.hi, tx.lo) + tx.lambda * at(ty.hi, tx.hi)));
      }
  return from_vector(out, {N, C, OH, OW});
}

}  // namespace

TEST_CASE("pad: reflect, replicate and circular frames, by hand and element by element") {
  const Tensor v = arange(0.0, 4.0, 1.0);
  check_values(pad(v, {2, 2}, PadMode::reflect), {2, 1, 0, 1, 2, 3, 2, 1});
  check_values(pad(v, {2, 2}, PadMode::replicate), {0, 0, 0, 1, 2, 3, 3, 3});
  check_values(pad(v, {2, 2}, PadMode::circular), {2, 3, 0, 1, 2, 3, 0, 1});
  check_values(pad(v, {1, 0}, PadMode::constant, 9.0), {9, 0, 1, 2, 3});
  check_values(pad(v, {3, 3}, PadMode::reflect), {3, 2, 1, 0, 1, 2, 3, 2, 1, 0});  // the largest reflection
  check_values(pad(v, {4, 0}, PadMode::circular), {0, 1, 2, 3, 0, 1, 2, 3});       // one whole turn
  check_values(pad(arange(4), {1, 1}, PadMode::reflect), {1, 0, 1, 2, 3, 2});      // integers too
  CHECK(pad(arange(4), {1, 1}, PadMode::reflect).dtype() == kInt64);
  manual_seed(71);
  const Tensor x = rand64({2, 3, 4, 5});
  for (PadMode mode : {PadMode::reflect, PadMode::replicate, PadMode::circular}) {
    CAPTURE(static_cast<int>(mode));
    check_same(pad(x, {1, 3, 2, 0}, mode), naive_pad2d(x, 1, 3, 2, 0, mode), 0);
    check_same(pad(x, {4, 4, 3, 3}, mode).narrow(2, 0, 1), naive_pad2d(x, 4, 4, 3, 3, mode).narrow(2, 0, 1),
               0);
    check_same(pad(x.to(kFloat32), {0, 2}, mode), naive_pad2d(x, 0, 2, 0, 0, mode), 1e-6);
    // A strided input: the transposed image, padded, is the padded transpose's transpose.
    check_same(pad(x.transpose(2, 3), {1, 2, 3, 1}, mode),
               naive_pad2d(x.transpose(2, 3).contiguous(), 1, 2, 3, 1, mode), 0);
    // Nothing to pad: a copy, not a view.
    const Tensor same = pad(x, {0, 0}, mode);
    check_same(same, x, 0);
    CHECK(same.data_ptr<double>() != x.data_ptr<double>());
  }
}

TEST_CASE("pad: an edge value's gradient sums over its copies; gradchecks") {
  const auto grad_of = [](const Tensor& v, const std::vector<std::int64_t>& pads, PadMode mode) {
    Tensor leaf = v.clone().requires_grad_();
    sum(pad(leaf, pads, mode)).backward();
    return leaf.grad();
  };
  const Tensor four = zeros({4}, kFloat64), three = zeros({3}, kFloat64);
  check_values(grad_of(four, {2, 1}, PadMode::reflect), {1, 2, 3, 1});  // reads 2 1 0 1 2 3 2
  check_values(grad_of(three, {2, 1}, PadMode::replicate), {3, 1, 2});
  check_values(grad_of(three, {1, 2}, PadMode::circular), {2, 2, 2});
  manual_seed(72);
  for (PadMode mode : {PadMode::reflect, PadMode::replicate, PadMode::circular}) {
    CAPTURE(static_cast<int>(mode));
    KILN_CHECK_GRAD([mode](const In& in) { return pad(in[0], {1, 2, 2, 1}, mode); }, {rand64({2, 2, 3, 4})});
    KILN_CHECK_GRAD(
        [mode](const In& in) {
          return pad(in[0].transpose(1, 2), {2, 0}, mode);
        },
        {rand64({2, 3, 4})});
  }
}

TEST_CASE("pad: each mode's reach and arguments are checked") {
  const Tensor x = zeros({1, 2, 3, 4});
  CHECK_THROWS_WITH_AS(
      pad(x, {1, 1, 3, 0}, PadMode::reflect),
      "pad: reflect padding (3, 0) for dimension 2 of a tensor of shape (1, 2, 3, 4) must be "
      "smaller than that dimension's size; pad less, or use constant padding",
      Error);
  CHECK_THROWS_WITH_AS(pad(x, {5, 0}, PadMode::circular),
                       doctest::Contains("circular padding (5, 0) for dimension 3 of a tensor of shape "
                                         "(1, 2, 3, 4) must not exceed that dimension's size"),
                       Error);
  CHECK_THROWS_WITH_AS(pad(zeros({2, 0}), {1, 0}, PadMode::replicate),
                       doctest::Contains("needs a nonempty dimension to copy"), Error);
  CHECK_THROWS_WITH_AS(pad(x, {1, 1}, PadMode::reflect, 2.0),
                       "pad: reflect padding takes no value (got 2); the value is for PadMode::constant",
                       Error);
  CHECK_THROWS_WITH_AS(pad(x, {1}, PadMode::replicate), doctest::Contains("1 pad sizes"), Error);
  CHECK_THROWS_WITH_AS(pad(x, {-1, 0}, PadMode::circular), doctest::Contains("must be >= 0"), Error);
  CHECK(pad(zeros({2, 0}), {0, 0, 1, 1}, PadMode::reflect).shape() == Shape{4, 0});  // empty rows pad fine
}

TEST_CASE("interpolate: nearest and bilinear against the definitions, by hand, and their gradients") {
  const Tensor row = tensor<double>({0, 1}).reshape({1, 1, 1, 2});
  check_values(interpolate(row, {1, 4}, Interpolation::bilinear), {0, 0.25, 0.75, 1});
  check_values(interpolate(row, {1, 4}, Interpolation::bilinear, true), {0, 1.0 / 3, 2.0 / 3, 1}, 1e-12);
  check_values(interpolate(row, {1, 3}), {0, 0, 1});  // floor(i * 2 / 3)
  check_values(interpolate(row, {1, 1}, Interpolation::bilinear, true), {0});
  manual_seed(73);
  const Tensor x = rand64({2, 3, 5, 4});
  for (const Pair size : {Pair{10, 8}, Pair{7, 3}, Pair{2, 9}, Pair{5, 4}, Pair{1, 1}, Pair{3, 2}}) {
    CAPTURE(size[0]);
    CAPTURE(size[1]);
    for (bool corners : {false, true}) {
      check_same(interpolate(x, size, Interpolation::bilinear, corners),
                 naive_bilinear(x, size[0], size[1], corners), 1e-12);
      check_same(interpolate(x.to(kFloat32), size, Interpolation::bilinear, corners),
                 naive_bilinear(x, size[0], size[1], corners), 1e-5);
    }
    const Tensor nearest = interpolate(x, size);
    for (std::int64_t y = 0; y < size[0]; ++y)
      for (std::int64_t c = 0; c < size[1]; ++c)
        CHECK(nearest[1][2][y][c].item() == x[1][2][y * 5 / size[0]][c * 4 / size[1]].item());
  }
  check_same(interpolate(x, {10, 12}), upsample_nearest2d(x, {2, 3}), 0);
  // Each output's weights add up to 1, so the gradient of a sum adds up to the outputs' count.
  Tensor leaf = x.clone().requires_grad_();
  sum(interpolate(leaf, {7, 9}, Interpolation::bilinear)).backward();
  CHECK(sum(leaf.grad()).item() == doctest::Approx(2 * 3 * 7 * 9).epsilon(1e-12));
  for (bool corners : {false, true})
    KILN_CHECK_GRAD(
        [corners](const In& in) {
          return interpolate(in[0], {5, 3}, Interpolation::bilinear, corners);
        },
        {rand64({1, 2, 3, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return interpolate(in[0].transpose(2, 3), {3, 5});
      },
      {rand64({2, 1, 4, 2})});
  CHECK(interpolate(zeros({0, 3, 4, 4}), {2, 2}, Interpolation::bilinear).shape() == Shape{0, 3, 2, 2});
  CHECK_THROWS_WITH_AS(interpolate(x, {0, 2}), doctest::Contains("output size (0, 2) must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(interpolate(ones({2, 3}), {1, 1}), doctest::Contains("(N, C, H, W)"), Error);
  CHECK_THROWS_WITH_AS(interpolate(x, {2, 2}, Interpolation::nearest, true),
                       doctest::Contains("align_corners is for bilinear"), Error);
  CHECK_THROWS_WITH_AS(interpolate(zeros({1, 1, 0, 2}), {2, 2}), doctest::Contains("empty image"), Error);
}

TEST_CASE("interpolate: bicubic, nearest-exact and area, against the definitions and by hand") {
  // A spike at 2 of 5, to 9 with the corners aligned: the kernel's values at 0, 0.5, 1, 1.5
  // and 2 (1, 0.59375, 0, -0.09375, 0 with a = -0.75).
  const Tensor spike = tensor<double>({0, 0, 1, 0, 0}).reshape({1, 1, 1, 5});
  check_values(interpolate(spike, {1, 9}, Interpolation::bicubic, true),
               {0, -0.09375, 0, 0.59375, 1, 0.59375, 0, -0.09375, 0}, 1e-15);
  // 3 to 5: nearest-exact reads under each output's centre, nearest at floor(i * 3 / 5).
  const Tensor three = tensor<double>({10, 20, 30}).reshape({1, 1, 1, 3});
  check_values(interpolate(three, {1, 5}, Interpolation::nearest_exact), {10, 10, 20, 30, 30});
  check_values(interpolate(three, {1, 5}), {10, 10, 20, 20, 30});

  manual_seed(75);
  const Tensor x = rand64({2, 3, 5, 4});
  // torch's upsample_bicubic2d, one output pixel at a time.
  const auto naive_bicubic = [&](std::int64_t oh, std::int64_t ow, bool corners) {
    const auto weights = [](double t) {
      constexpr double a = -0.75;
      const auto near = [](double v) { return ((a + 2) * v - (a + 3)) * v * v + 1; };
      const auto far = [](double v) { return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a; };
      return std::array<double, 4>{far(t + 1), near(t), near(1 - t), far(2 - t)};
    };
    const auto source = [corners](std::int64_t i, std::int64_t in, std::int64_t out) {
      if (corners) return out > 1 ? double(i) * double(in - 1) / double(out - 1) : 0.0;
      return (double(i) + 0.5) * double(in) / double(out) - 0.5;
    };
    const auto xv = x.to_vector<double>();
    std::vector<double> out;
    for (std::int64_t plane = 0; plane < 6; ++plane)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          const double sy = source(i, 5, oh), sx = source(j, 4, ow);
          const auto wy = weights(sy - std::floor(sy)), wx = weights(sx - std::floor(sx));
          double v = 0;
          for (int k = 0; k < 4; ++k)
            for (int l = 0; l < 4; ++l) {
              const std::int64_t r = std::clamp<std::int64_t>(std::int64_t(std::floor(sy)) - 1 + k, 0, 4);
              const std::int64_t c = std::clamp<std::int64_t>(std::int64_t(std::floor(sx)) - 1 + l, 0, 3);
              v += wy[std::size_t(k)] * wx[std::size_t(l)] * xv[std::size_t(plane * 20 + r * 4 + c)];
            }
          out.push_back(v);
        }
    return from_vector(out, {2, 3, oh, ow});
  };
  for (const Pair size : {Pair{10, 8}, Pair{7, 3}, Pair{2, 9}, Pair{5, 4}, Pair{1, 1}, Pair{13, 2}}) {
    CAPTURE(size[0]);
    CAPTURE(size[1]);
    for (bool corners : {false, true}) {
      check_same(interpolate(x, size, Interpolation::bicubic, corners),
                 naive_bicubic(size[0], size[1], corners), 1e-12);
      check_same(interpolate(x.to(kFloat32), size, Interpolation::bicubic, corners),
                 naive_bicubic(size[0], size[1], corners), 1e-5);
    }
    const Tensor exact = interpolate(x, size, Interpolation::nearest_exact);
    for (std::int64_t y = 0; y < size[0]; ++y)
      for (std::int64_t c = 0; c < size[1]; ++c)
        CHECK(exact[1][2][y][c].item() == x[1][2][std::min<std::int64_t>((2 * y + 1) * 5 / (2 * size[0]), 4)]
                                           [std::min<std::int64_t>((2 * c + 1) * 4 / (2 * size[1]), 3)]
                                               .item());
    check_same(interpolate(x, size, Interpolation::area), adaptive_avg_pool2d(x, size), 0);
  }
  // Unchanged size: bicubic is the identity (the kernel is 1 at 0 and 0 at 1 and 2).
  check_same(interpolate(x, {5, 4}, Interpolation::bicubic), x, 1e-15);
  for (bool corners : {false, true})
    KILN_CHECK_GRAD(
        [corners](const In& in) {
          return interpolate(in[0], {5, 7}, Interpolation::bicubic, corners);
        },
        {rand64({1, 2, 3, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return interpolate(in[0], {5, 2}, Interpolation::nearest_exact);
      },
      {rand64({1, 2, 3, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return interpolate(in[0], {2, 3}, Interpolation::area);
      },
      {rand64({1, 2, 3, 4})});
  CHECK_THROWS_WITH_AS(interpolate(x, {2, 2}, Interpolation::area, true),
                       doctest::Contains("area takes none"), Error);
  CHECK_THROWS_WITH_AS(grid_sample(x, zeros({2, 3, 3, 2}, kFloat64), Interpolation::bicubic),
                       doctest::Contains("grid_sample: mode bicubic is not supported"), Error);
  nn::Upsample up(
      nn::UpsampleOptions().scale_factor({2, 2}).mode(Interpolation::bicubic).align_corners(true));
  CHECK(up.description() == "Upsample(scale_factor=(2, 2), mode=bicubic, align_corners=true)");
  check_same(up(x), interpolate(x, {10, 8}, Interpolation::bicubic, true), 0);
}

TEST_CASE("interpolate1d and interpolate3d: linear and trilinear blends, nearest, area") {
  manual_seed(76);
  const Tensor seq = rand64({2, 3, 7});
  for (const std::int64_t size : {std::int64_t{3}, std::int64_t{7}, std::int64_t{12}})
    for (const bool corners : {false, true}) {
      check_same(interpolate1d(seq, size, Interpolation::linear, corners),
                 interpolate(seq.unsqueeze(2), {1, size}, Interpolation::bilinear, corners).squeeze(2),
                 1e-14);
      if (corners) continue;
      check_same(interpolate1d(seq, size), interpolate(seq.unsqueeze(2), {1, size}).squeeze(2), 0);
      check_same(interpolate1d(seq, size, Interpolation::nearest_exact),
                 interpolate(seq.unsqueeze(2), {1, size}, Interpolation::nearest_exact).squeeze(2), 0);
      check_same(interpolate1d(seq, size, Interpolation::area), adaptive_avg_pool1d(seq, size), 0);
    }
  // Trilinear with the corners aligned reproduces an affine function of the position.
  const std::int64_t d = 4, h = 5, w = 3;
  std::vector<double> ramp;
  for (std::int64_t z = 0; z < d; ++z)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) ramp.push_back(0.5 * z - 2.0 * y + 3.0 * x + 1.0);
  const Tensor volume = from_vector(ramp, {1, 1, d, h, w});
  const Triple out{7, 3, 6};
  const Tensor up = interpolate3d(volume, out, Interpolation::trilinear, true);
  const std::vector<double> got = up.to_vector<double>();
  std::size_t at = 0;
  for (std::int64_t z = 0; z < out[0]; ++z)
    for (std::int64_t y = 0; y < out[1]; ++y)
      for (std::int64_t x = 0; x < out[2]; ++x, ++at) {
        const double sz = double(z) * (d - 1) / (out[0] - 1), sy = double(y) * (h - 1) / (out[1] - 1),
                     sx = double(x) * (w - 1) / (out[2] - 1);
        CHECK(got[at] == doctest::Approx(0.5 * sz - 2.0 * sy + 3.0 * sx + 1.0).epsilon(1e-12));
      }
  // One slice deep to one slice: each plane as interpolate's; nearest by floor(i in / out) per axis.
  const Tensor vol = rand64({2, 3, 4, 5, 6});
  check_same(interpolate3d(vol.narrow(2, 0, 1), {1, 7, 4}, Interpolation::trilinear),
             interpolate(vol.select(2, 0), {7, 4}, Interpolation::bilinear).unsqueeze(2), 1e-14);
  const Tensor near = interpolate3d(vol, {3, 7, 4});
  for (std::int64_t z = 0; z < 3; ++z)
    for (std::int64_t y = 0; y < 7; ++y)
      for (std::int64_t x = 0; x < 4; ++x)
        CHECK(near[1][2][z][y][x].item() == vol[1][2][z * 4 / 3][y * 5 / 7][x * 6 / 4].item());
  check_same(interpolate3d(vol, {2, 3, 3}, Interpolation::area), adaptive_avg_pool3d(vol, {2, 3, 3}), 0);
  KILN_CHECK_GRAD([](const In& in) { return interpolate1d(in[0], 5, Interpolation::linear, true); },
                  {rand64({1, 2, 3})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return interpolate3d(in[0], {3, 2, 4}, Interpolation::trilinear);
      },
      {rand64({1, 2, 2, 3, 3})});
  CHECK_THROWS_WITH_AS(interpolate1d(seq, 4, Interpolation::bicubic),
                       doctest::Contains("mode bicubic is not one of"), Error);
  CHECK_THROWS_WITH_AS(interpolate3d(vol, {2, 2, 2}, Interpolation::nearest, true),
                       doctest::Contains("align_corners is for trilinear"), Error);
  CHECK_THROWS_WITH_AS(interpolate(vol.select(2, 0), {2, 2}, Interpolation::trilinear),
                       doctest::Contains("is for volumes (interpolate3d)"), Error);
}

TEST_CASE("pixel_shuffle and pixel_unshuffle: channel groups as pixel blocks, and back") {
  const Tensor x = arange(0.0, 8.0, 1.0).reshape({1, 8, 1, 1});
  const Tensor y = pixel_shuffle(x, 2);
  CHECK(y.shape() == Shape{1, 2, 2, 2});
  check_values(y, {0, 1, 2, 3, 4, 5, 6, 7});  // channels 0..3 make the first 2 x 2 block
  const Tensor wide = arange(0.0, 16.0, 1.0).reshape({1, 4, 2, 2});
  // Output (0, 0, i, j) = input channel (i % 2) * 2 + j % 2 at pixel (i / 2, j / 2).
  check_values(pixel_shuffle(wide, 2), {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15});
  manual_seed(74);
  const Tensor batch = rand64({2, 3, 18, 2, 4});  // two leading dims
  CHECK(pixel_shuffle(batch, 3).shape() == Shape{2, 3, 2, 6, 12});
  check_same(pixel_unshuffle(pixel_shuffle(batch, 3), 3), batch, 0);
  check_same(pixel_shuffle(pixel_unshuffle(batch.transpose(3, 4), 2), 2), batch.transpose(3, 4), 0);
  CHECK(pixel_shuffle(rand64({4, 3, 5}), 2).shape() == Shape{1, 6, 10});  // unbatched
  KILN_CHECK_GRAD([](const In& in) { return pixel_shuffle(in[0], 2); }, {rand64({2, 8, 2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return pixel_unshuffle(in[0], 2); }, {rand64({1, 2, 4, 2})});
  CHECK_THROWS_WITH_AS(
      pixel_shuffle(zeros({1, 6, 2, 2}), 2),
      "pixel_shuffle: 6 channels (input shape (1, 6, 2, 2)) must be a multiple of the factor "
      "squared, 4",
      Error);
  CHECK_THROWS_WITH_AS(pixel_unshuffle(zeros({1, 1, 3, 4}), 2),
                       doctest::Contains("multiples of the factor, 2"), Error);
  CHECK_THROWS_WITH_AS(pixel_shuffle(zeros({4, 4}), 2), doctest::Contains("(*, C, H, W)"), Error);
  CHECK_THROWS_WITH_AS(pixel_shuffle(zeros({1, 4, 2, 2}), 0), doctest::Contains("factor must be >= 1"),
                       Error);
}

TEST_CASE("padding, upsampling and pixel-shuffle layers; convolutions' padding_mode") {
  manual_seed(75);
  const Tensor x = rand64({2, 3, 4, 5});
  nn::ReflectionPad2d reflect(1);
  check_same(reflect(x), pad(x, {1, 1, 1, 1}, PadMode::reflect), 0);
  CHECK(reflect.description() == "ReflectionPad2d((1, 1, 1, 1))");
  CHECK(reflect(x[0]).shape() == Shape{3, 6, 7});  // unbatched
  nn::ReplicationPad1d replicate({2, 0});
  check_same(replicate(x[0]), pad(x[0], {2, 0}, PadMode::replicate), 0);
  CHECK(replicate.description() == "ReplicationPad1d((2, 0))");
  CHECK(nn::CircularPad2d({1, 0, 0, 2}).description() == "CircularPad2d((1, 0, 0, 2))");
  nn::ConstantPad2d frame(1, 0.5);
  CHECK(frame(x)[0][0][0][0].item() == 0.5);
  CHECK(frame.description() == "ConstantPad2d((1, 1, 1, 1), value=0.5)");
  CHECK(nn::ZeroPad2d(2).description() == "ZeroPad2d((2, 2, 2, 2))");
  CHECK_THROWS_WITH_AS(
      reflect(x[0][0]),
      "ReflectionPad2d((1, 1, 1, 1)): input must have 3 or 4 dimensions (unbatched or batched) "
      "but has shape (4, 5)",
      Error);
  CHECK_THROWS_WITH_AS(nn::ReflectionPad2d({1, 1}), doctest::Contains("give one size or 4"), Error);
  CHECK_THROWS_AS(nn::ReflectionPad1d(1, 2.0), Error);

  nn::Upsample bilinear(
      nn::UpsampleOptions().scale_factor(2).mode(Interpolation::bilinear).align_corners(true));
  check_same(bilinear(x), interpolate(x, {8, 10}, Interpolation::bilinear, true), 0);
  CHECK(bilinear.description() == "Upsample(scale_factor=2, mode=bilinear, align_corners=true)");
  nn::Upsample sized(nn::UpsampleOptions().size({3, 7}));
  check_same(sized(x), interpolate(x, {3, 7}), 0);
  CHECK(sized.description() == "Upsample(size=(3, 7), mode=nearest)");
  CHECK_THROWS_WITH_AS(nn::Upsample(nn::UpsampleOptions().align_corners(true)),
                       doctest::Contains("align_corners is for the linear, bilinear"), Error);

  nn::PixelShuffle shuffle(2);
  const Tensor deep = rand64({2, 12, 3, 3});
  check_same(shuffle(deep), pixel_shuffle(deep, 2), 0);
  CHECK(shuffle.description() == "PixelShuffle(upscale_factor=2)");
  check_same(nn::PixelUnshuffle(2)(shuffle(deep)), deep, 0);
  CHECK(nn::PixelUnshuffle(3).description() == "PixelUnshuffle(downscale_factor=3)");

  // padding_mode: the frame first, then the convolution with no zero padding.
  const Tensor x32 = x.to(kFloat32);
  for (PadMode mode : {PadMode::reflect, PadMode::replicate, PadMode::circular}) {
    nn::Conv2d conv(nn::Conv2dOptions(3, 4, 3).padding({1, 2}).padding_mode(mode));
    const Tensor y = conv(x32);
    CHECK(y.shape() == Shape{2, 4, 4, 7});
    check_same(y, conv2d(pad(x32, {2, 2, 1, 1}, mode), conv.weight, conv.bias), 1e-6);
    nn::Conv1d conv1(nn::Conv1dOptions(3, 2, 3).padding(1).padding_mode(mode));
    const Tensor seq = x32[0].transpose(0, 1);  // (4, 3, 5): 4 sequences of 3 channels
    check_same(conv1(seq), conv1d(pad(seq, {1, 1}, mode), conv1.weight, conv1.bias), 1e-6);
  }
  CHECK(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).padding(1).padding_mode(PadMode::reflect)).description() ==
        "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), padding_mode=reflect)");
  CHECK(nn::Conv1d(nn::Conv1dOptions(3, 4, 3).padding_mode(PadMode::circular)).description() ==
        "Conv1d(3, 4, kernel_size=(3,), stride=(1,), padding_mode=circular)");
}

TEST_CASE("unfold and fold: sliding blocks as columns, by definition; fold adds them back; gradients") {
  manual_seed(76);
  const Tensor x = rand64({2, 3, 5, 6});
  const Pair k{2, 3}, d{1, 2}, p{1, 0}, s{2, 1};
  const Tensor cols = unfold(x, k, d, p, s);
  // OH = (5 + 2 - 1 - 1) / 2 + 1 = 3, OW = (6 - 4 - 1) / 1 + 1 = 2
  REQUIRE(cols.shape() == Shape{2, 3 * 6, 6});
  const auto xv = x.to_vector<double>(), cv = cols.to_vector<double>();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t i = 0; i < 2; ++i)
        for (std::int64_t j = 0; j < 3; ++j)
          for (std::int64_t by = 0; by < 3; ++by)
            for (std::int64_t bx = 0; bx < 2; ++bx) {
              const std::int64_t iy = by * 2 - 1 + i, ix = bx + j * 2;
              const double want = iy < 0 || iy >= 5 ? 0.0 : xv[((n * 3 + c) * 5 + iy) * 6 + ix];
              CHECK(cv[((n * 18) + (c * 6 + i * 3 + j)) * 6 + by * 2 + bx] == want);
            }
  // fold is unfold's adjoint: <unfold(x), y> = <x, fold(y)>.
  const Tensor y = rand64(cols.shape());
  CHECK(sum(cols * y).item() == doctest::Approx(sum(x * fold(y, {5, 6}, k, d, p, s)).item()).epsilon(1e-12));
  // fold(unfold(ones)) counts the blocks covering each pixel: 2 x 2 blocks, stride 1, on 3 x 3.
  check_values(fold(unfold(ones({1, 1, 3, 3}), {2, 2}), {3, 3}, {2, 2}), {1, 2, 1, 2, 4, 2, 1, 2, 1});
  // Exact copies: a NaN stays in its own entries.
  Tensor with_nan = zeros({1, 1, 3, 3});
  with_nan.narrow(2, 0, 1).narrow(3, 0, 1).fill_(std::nan(""));
  CHECK(sum(isnan(unfold(with_nan, {2, 2}))).item() == 1.0);
  KILN_CHECK_GRAD([=](const In& in) { return unfold(in[0], k, d, p, s); }, {rand64({1, 2, 5, 6})});
  KILN_CHECK_GRAD([=](const In& in) { return fold(in[0], {5, 6}, k, d, p, s); }, {rand64({1, 12, 6})});
  CHECK_THROWS_WITH_AS(unfold(x, {6, 1}), doctest::Contains("smaller than the dilated 6x1 window"), Error);
  CHECK_THROWS_WITH_AS(
      fold(rand64({1, 7, 4}), {3, 3}, {2, 2}),
      doctest::Contains("7 rows (input shape (1, 7, 4)) are not a multiple of the kernel's 2x2"), Error);
  CHECK_THROWS_WITH_AS(
      fold(rand64({1, 4, 5}), {3, 3}, {2, 2}),
      doctest::Contains("has 5 blocks, but an output of (3, 3) with this window holds 2 x 2 = 4"), Error);
  nn::Unfold layer({2, 2});
  check_same(layer(x), unfold(x, {2, 2}), 0);
  CHECK(layer.description() == "Unfold(kernel_size=(2, 2), dilation=(1, 1), padding=(0, 0), stride=(1, 1))");
  nn::Fold back({5, 6}, {2, 2});
  check_same(back(layer(x)), fold(unfold(x, {2, 2}), {5, 6}, {2, 2}), 0);
  CHECK(back.description() ==
        "Fold(output_size=(5, 6), kernel_size=(2, 2), dilation=(1, 1), padding=(0, 0), stride=(1, 1))");
}
