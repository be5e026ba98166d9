// affine_grid and grid_sample: the identity and shifts by hand, every mode against a
// direct scalar definition, float64 gradchecks in theta, the input and the grid, errors.
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// PyTorch's grid_sample_2d_cpu by its definition, one output value at a time.
double reflect_coordinate(double x, double twice_low, double twice_high) {
  if (twice_low == twice_high) return 0;
  const double low = twice_low / 2, span = (twice_high - twice_low) / 2;
  x = std::fabs(x - low);
  const double extra = std::fmod(x, span);
  const auto flips = static_cast<long>(std::floor(x / span));
  return flips % 2 == 0 ? extra + low : span - extra + low;
}
double source_position(double coord, std::int64_t size, GridPadding padding, bool align_corners) {
  const auto n = static_cast<double>(size);
  double at = align_corners ? (coord + 1) / 2 * (n - 1) : ((coord + 1) * n - 1) / 2;
  if (padding == GridPadding::reflection)
    at = align_corners ? reflect_coordinate(at, 0, 2 * (n - 1)) : reflect_coordinate(at, -1, 2 * n - 1);
  if (padding != GridPadding::zeros) at = std::min(std::max(at, 0.0), n - 1);
  return at;
}
Tensor naive_grid_sample(const Tensor& input, const Tensor& grid, Interpolation mode, GridPadding padding,
                         bool align_corners) {
  const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  const std::int64_t oh = grid.size(1), ow = grid.size(2);
  const auto in = input.contiguous().to_vector<double>(), g = grid.contiguous().to_vector<double>();
  std::vector<double> out;
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          const std::size_t at = static_cast<std::size_t>(((b * oh + i) * ow + j) * 2);
          const double x = source_position(g[at], w, padding, align_corners);
          const double y = source_position(g[at + 1], h, padding, align_corners);
          const auto value = [&](double px, double py) {
            if (px < 0 || px > static_cast<double>(w - 1) || py < 0 || py > static_cast<double>(h - 1))
              return 0.0;
            return in[static_cast<std::size_t>(((b * c + ch) * h + static_cast<std::int64_t>(py)) * w +
                                               static_cast<std::int64_t>(px))];
          };
          if (mode == Interpolation::nearest) {
            out.push_back(value(std::nearbyint(x), std::nearbyint(y)));
            continue;
          }
          const double x0 = std::floor(x), y0 = std::floor(y);
          out.push_back(
              value(x0, y0) * (x0 + 1 - x) * (y0 + 1 - y) + value(x0 + 1, y0) * (x - x0) * (y0 + 1 - y) +
              value(x0, y0 + 1) * (x0 + 1 - x) * (y - y0) + value(x0 + 1, y0 + 1) * (x - x0) * (y - y0));
        }
  return from_vector(out, {n, c, oh, ow});
}

Tensor identity_theta(std::int64_t n) {
  return from_vector(std::vector<double>{1, 0, 0, 0, 1, 0}, {1, 2, 3}).expand({n, 2, 3}).contiguous();
}

}  // namespace

TEST_CASE("affine_grid and grid_sample: the identity, a shift by one pixel, by hand") {
  manual_seed(60);
  const Tensor x = rand64({2, 3, 4, 5});
  for (const bool corners : {false, true}) {
    CAPTURE(corners);
    const Tensor grid = affine_grid(identity_theta(2), {2, 3, 4, 5}, corners);
    CHECK(grid.shape() == Shape{2, 4, 5, 2});
    check_same(grid_sample(x, grid, Interpolation::bilinear, GridPadding::zeros, corners), x, 1e-12);
    check_same(grid_sample(x, grid, Interpolation::nearest, GridPadding::zeros, corners), x, 0.0);
  }
  // Pixel centres: x = -1 + (2 j + 1) / W; corners: -1 .. 1 evenly.
  const Tensor centres = affine_grid(identity_theta(1), {1, 1, 1, 4});
  check_values(centres.select(3, 0), {-0.75, -0.25, 0.25, 0.75}, 1e-15);
  check_values(affine_grid(identity_theta(1), {1, 1, 1, 3}, true).select(3, 0), {-1, 0, 1}, 1e-15);
  // A shift of 2 / W (one pixel) reads each row from its right neighbour; past the edge
  // zeros, the border, or the reflection.
  const Tensor row = from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 1, 4});
  const Tensor shift = from_vector(std::vector<double>{1, 0, 0.5, 0, 1, 0}, {1, 2, 3});
  const Tensor shifted = affine_grid(shift, {1, 1, 1, 4});
  check_values(grid_sample(row, shifted), {2, 3, 4, 0}, 1e-12);
  check_values(grid_sample(row, shifted, Interpolation::bilinear, GridPadding::border), {2, 3, 4, 4}, 1e-12);
  check_values(grid_sample(row, shifted, Interpolation::bilinear, GridPadding::reflection), {2, 3, 4, 4},
               1e-12);
  // Half a pixel: the mean of neighbours.
  const Tensor half =
      affine_grid(from_vector(std::vector<double>{1, 0, 0.25, 0, 1, 0}, {1, 2, 3}), {1, 1, 1, 4});
  check_values(grid_sample(row, half), {1.5, 2.5, 3.5, 2}, 1e-12);
  check_values(grid_sample(row, half, Interpolation::bilinear, GridPadding::border), {1.5, 2.5, 3.5, 4},
               1e-12);
}

TEST_CASE("grid_sample: every mode and padding against the direct definition") {
  manual_seed(61);
  const Tensor x = rand64({2, 3, 5, 6});
  const Tensor grid = rand(Shape{2, 4, 7, 2}, kFloat64) * 3.0 - 1.5;  // partly outside
  for (const Interpolation mode : {Interpolation::bilinear, Interpolation::nearest})
    for (const GridPadding padding : {GridPadding::zeros, GridPadding::border, GridPadding::reflection})
      for (const bool corners : {false, true}) {
        CAPTURE(static_cast<int>(mode));
        CAPTURE(static_cast<int>(padding));
        CAPTURE(corners);
        const Tensor expected = naive_grid_sample(x, grid, mode, padding, corners);
        check_same(grid_sample(x, grid, mode, padding, corners), expected, 1e-12);
        check_same(grid_sample(x.to(kFloat32), grid.to(kFloat32), mode, padding, corners), expected, 1e-5);
      }
  // Far outside, the reflection still lands inside; a NaN point reads 0.
  const Tensor far = from_vector(std::vector<double>{7.3, -5.1, -9.6, 3.3}, {1, 1, 2, 2});
  check_same(
      grid_sample(x.narrow(0, 0, 1), far, Interpolation::bilinear, GridPadding::reflection),
      naive_grid_sample(x.narrow(0, 0, 1), far, Interpolation::bilinear, GridPadding::reflection, false),
      1e-12);
  const Tensor nan_point = from_vector(std::vector<double>{std::nan(""), 0.2}, {1, 1, 1, 2});
  check_values(grid_sample(x.narrow(0, 0, 1).narrow(1, 0, 1), nan_point), {0.0});
}

TEST_CASE("gradcheck: affine_grid, grid_sample in the input and the grid, a spatial transformer") {
  manual_seed(62);
  KILN_CHECK_GRAD([](const In& in) { return affine_grid(in[0], {2, 1, 3, 4}); }, {rand64({2, 2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return affine_grid(in[0], {1, 2, 3, 3}, true); }, {rand64({1, 2, 3})});
  for (const GridPadding padding : {GridPadding::zeros, GridPadding::border, GridPadding::reflection})
    for (const bool corners : {false, true}) {
      CAPTURE(static_cast<int>(padding));
      CAPTURE(corners);
      KILN_CHECK_GRAD(
          [padding, corners](const In& in) {
            return grid_sample(in[0], in[1], Interpolation::bilinear, padding, corners);
          },
          {rand64({2, 2, 4, 5}), rand(Shape{2, 3, 3, 2}, kFloat64) * 2.4 - 1.2});
    }
  KILN_CHECK_GRAD([](const In& in) { return grid_sample(in[0], in[1], Interpolation::nearest); },
                  {rand64({1, 2, 4, 4}), rand(Shape{1, 3, 2, 2}, kFloat64) * 1.6 - 0.8});
  // theta -> grid -> sample, as a spatial transformer's localisation output is used.
  KILN_CHECK_GRAD(
      [](const In& in) {
        return grid_sample(in[0], affine_grid(in[1], {2, 3, 4, 4}));
      },
      {rand64({2, 3, 5, 5}), identity_theta(2) + rand64({2, 2, 3}) * 0.2});
}

TEST_CASE("gradgradcheck: grid_sample in the input and the grid, every padding, and through affine_grid") {
  // While a walk records, the kernel's rule is the composite's gradient (gather, where), recorded.
  manual_seed(63);
  for (const GridPadding padding : {GridPadding::zeros, GridPadding::border, GridPadding::reflection})
    for (const bool corners : {false, true}) {
      CAPTURE(static_cast<int>(padding));
      CAPTURE(corners);
      KILN_CHECK_GRADGRAD(
          [padding, corners](const In& in) {
            return square(grid_sample(in[0], in[1], Interpolation::bilinear, padding, corners));
          },
          {rand64({1, 2, 3, 4}), rand(Shape{1, 2, 3, 2}, kFloat64) * 2.4 - 1.2});
    }
  KILN_CHECK_GRADGRAD([](const In& in) { return square(grid_sample(in[0], in[1], Interpolation::nearest)); },
                      {rand64({1, 2, 4, 4}), rand(Shape{1, 3, 2, 2}, kFloat64) * 1.6 - 0.8});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(grid_sample(in[0], affine_grid(in[1], {1, 2, 3, 3})));
      },
      {rand64({1, 2, 4, 4}), identity_theta(1) + rand64({1, 2, 3}) * 0.2});
}

TEST_CASE("affine_grid and grid_sample: errors name the op and the shapes") {
  const Tensor x = zeros({2, 3, 4, 4}, kFloat64);
  CHECK_THROWS_WITH_AS(affine_grid(zeros({2, 3, 3}), {2, 1, 4, 4}), doctest::Contains("must be (N, 2, 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(affine_grid(zeros({2, 2, 3}), {2, 1, 4, 4, 4}), doctest::Contains("(N, C, H, W)"),
                       Error);
  CHECK_THROWS_WITH_AS(affine_grid(zeros({3, 2, 3}), {2, 1, 4, 4}), doctest::Contains("N = 2"), Error);
  CHECK_THROWS_WITH_AS(grid_sample(x, zeros({2, 4, 4, 3}, kFloat64)),
                       doctest::Contains("(N, H_out, W_out, 2)"), Error);
  CHECK_THROWS_WITH_AS(grid_sample(x, zeros({1, 4, 4, 2}, kFloat64)), doctest::Contains("N = 2"), Error);
  CHECK_THROWS_WITH_AS(grid_sample(zeros({3, 4, 4}, kFloat64), zeros({3, 4, 4, 2}, kFloat64)),
                       doctest::Contains("(N, C, H, W)"), Error);
  CHECK_THROWS_AS(grid_sample(x, zeros({2, 4, 4, 2}, kFloat32)), Error);
}
