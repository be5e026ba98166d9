// Layer and loss ops: values against direct definitions, and float64 gradchecks.
#include <cmath>
#include <limits>

#include "helpers.hpp"
#include "kernels/cuda/counter_random.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
// out[n][o][y][x] = b[o] + sum_{c,i,j} x[n][g*C/G + c][y*s - p + i*d][x*s - p + j*d] * w[o][c][i][j]
Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor& b, Pair s, Pair p, Pair d, std::int64_t groups) {
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), O = w.size(0), KH = w.size(2),
                     KW = w.size(3), CG = C / groups, OG = O / groups;
  const std::int64_t OH = (H + 2 * p[0] - d[0] * (KH - 1) - 1) / s[0] + 1, OW = (W + 2 * p[1] - d[1] * (KW - 1) - 1) / s[1] + 1;
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const auto bv = b.defined() ? b.to_vector<double>() : std::vector<double>(O, 0.0);
  std::vector<double> out(N * O * OH * OW);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t y = 0; y < OH; ++y)
        for (std::int64_t xx = 0; xx < OW; ++xx) {
          double acc = bv[o];
          for (std::int64_t c = 0; c < CG; ++c)
            for (std::int64_t i = 0; i < KH; ++i)
              for (std::int64_t j = 0; j < KW; ++j) {
                const std::int64_t iy = y * s[0] - p[0] + i * d[0], ix = xx * s[1] - p[1] + j * d[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const std::int64_t ci = (o / OG) * CG + c;
                acc += xv[((n * C + ci) * H + iy) * W + ix] * wv[((o * CG + c) * KH + i) * KW + j];
              }
          out[((n * O + o) * OH + y) * OW + xx] = acc;
        }
  return from_vector(out, {N, O, OH, OW});
}
// out[n][g*OG + o][y][x] = b + sum over ci in group g, i, j with y = iy*s - p + i*d, x = ix*s - p + j*d
// of x[n][ci][iy][ix] * w[ci][o][i][j]: each input pixel scatters its kernel-sized stamp.
Tensor naive_conv_transpose(const Tensor& x, const Tensor& w, const Tensor& b, Pair s, Pair p, Pair op,
                            Pair d, std::int64_t groups) {
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OG = w.size(1),
                     KH = w.size(2), KW = w.size(3), O = OG * groups, CG = C / groups;
  const std::int64_t OH = (H - 1) * s[0] - 2 * p[0] + d[0] * (KH - 1) + op[0] + 1;
  const std::int64_t OW = (W - 1) * s[1] - 2 * p[1] + d[1] * (KW - 1) + op[1] + 1;
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const auto bv = b.defined() ? b.to_vector<double>() : std::vector<double>(O, 0.0);
  std::vector<double> out(N * O * OH * OW);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t q = 0; q < OH * OW; ++q) out[(n * O + o) * OH * OW + q] = bv[o];
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t ci = 0; ci < C; ++ci)
      for (std::int64_t iy = 0; iy < H; ++iy)
        for (std::int64_t ix = 0; ix < W; ++ix)
          for (std::int64_t o = 0; o < OG; ++o)
            for (std::int64_t i = 0; i < KH; ++i)
              for (std::int64_t j = 0; j < KW; ++j) {
                const std::int64_t y = iy * s[0] - p[0] + i * d[0], xx = ix * s[1] - p[1] + j * d[1];
                if (y < 0 || y >= OH || xx < 0 || xx >= OW) continue;
                const std::int64_t oc = ci / CG * OG + o;
                out[((n * O + oc) * OH + y) * OW + xx] +=
                    xv[((n * C + ci) * H + iy) * W + ix] * wv[((ci * OG + o) * KH + i) * KW + j];
              }
  return from_vector(out, {N, O, OH, OW});
}
}  // namespace

TEST_CASE("linear matches x W^T + b and has correct gradients") {
  manual_seed(41);
  const Tensor x = rand64({4, 3}), w = rand64({5, 3}), b = rand64({5});
  check_same(linear(x, w, b), matmul(x, w.t()) + b, 1e-12);
  check_same(linear(x, w), matmul(x, w.t()), 1e-12);
  CHECK(linear(rand64({2, 4, 3}), w).shape() == Shape{2, 4, 5});
  KILN_CHECK_GRAD([](const In& in) { return linear(in[0], in[1], in[2]); }, {rand64({4, 3}), rand64({2, 3}), rand64({2})});
  KILN_CHECK_GRAD([](const In& in) { return linear(in[0], in[1]); }, {rand64({2, 2, 3}), rand64({2, 3})});
  CHECK_THROWS_WITH_AS(linear(zeros({2, 3}), zeros({4, 5})), doctest::Contains("has 3 features but weight of shape (4, 5) expects 5"),
                       Error);
}

TEST_CASE("linear with no input features gives the bias in every row, and gradients of the right shapes") {
  manual_seed(43);
  const Tensor b = rand64({4});
  check_same(linear(zeros({3, 0}, kFloat64), zeros({4, 0}, kFloat64), b), b.expand({3, 4}), 0);
  check_same(linear(zeros({2, 3, 0}, kFloat64), zeros({4, 0}, kFloat64)), zeros({2, 3, 4}, kFloat64), 0);
  check_same(linear(zeros({0}, kFloat64), zeros({4, 0}, kFloat64), b), b, 0);  // a 1-D input: one row
  Tensor x = zeros({3, 0}, kFloat64).requires_grad_(), w = zeros({4, 0}, kFloat64).requires_grad_();
  Tensor bias = b.clone().requires_grad_();
  sum(linear(x, w, bias) * rand64({3, 4})).backward();
  CHECK(x.grad().shape() == Shape{3, 0});
  CHECK(w.grad().shape() == Shape{4, 0});
  CHECK(bias.grad().shape() == Shape{4});
  KILN_CHECK_GRAD([](const In& in) { return linear(in[0], in[1], in[2]); },
                  {rand64({3, 0}), rand64({2, 0}), rand64({2})});
  // No output features, or no rows: empty results.
  CHECK(linear(rand64({3, 5}), zeros({0, 5}, kFloat64)).shape() == Shape{3, 0});
  CHECK(linear(zeros({0, 5}, kFloat64), rand64({2, 5}), rand64({2})).shape() == Shape{0, 2});
}

TEST_CASE("conv2d equals the direct definition for stride, padding, dilation, groups") {
  manual_seed(42);
  struct Case {
    Pair s, p, d;
    std::int64_t groups, c, o;
  };
  for (const Case& k : {Case{{1, 1}, {0, 0}, {1, 1}, 1, 2, 3}, Case{{2, 1}, {1, 2}, {1, 1}, 1, 3, 2},
                        Case{{1, 1}, {2, 1}, {2, 2}, 1, 1, 2}, Case{{2, 2}, {1, 1}, {1, 1}, 2, 4, 6},
                        // stride 1 with as many output as input columns: the whole-row copy path
                        Case{{1, 1}, {1, 1}, {1, 1}, 1, 3, 2}, Case{{1, 1}, {2, 2}, {2, 2}, 1, 2, 2},
                        Case{{1, 1}, {0, 1}, {1, 1}, 1, 2, 3}, Case{{1, 1}, {3, 1}, {1, 1}, 2, 2, 4}}) {
    const Tensor x = rand64({2, k.c, 7, 6}), w = rand64({k.o, k.c / k.groups, 3, 3}), b = rand64({k.o});
    check_same(conv2d(x, w, b, k.s, k.p, k.d, k.groups), naive_conv(x, w, b, k.s, k.p, k.d, k.groups), 1e-12);
    check_same(conv2d(x.to(kFloat32), w.to(kFloat32), Tensor(), k.s, k.p, k.d, k.groups),
               naive_conv(x, w, Tensor(), k.s, k.p, k.d, k.groups), 1e-5);
  }
}

TEST_CASE("gradcheck: conv2d") {
  manual_seed(43);
  KILN_CHECK_GRAD([](const In& in) { return conv2d(in[0], in[1], in[2], {1, 1}, {1, 1}); },
                  {rand64({2, 2, 4, 4}), rand64({3, 2, 3, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return conv2d(in[0], in[1], Tensor(), {2, 1}, {1, 0}, {1, 2}); },
                  {rand64({1, 2, 5, 6}), rand64({2, 2, 2, 2})});
  KILN_CHECK_GRAD([](const In& in) { return conv2d(in[0], in[1], in[2], {1, 1}, {0, 0}, {1, 1}, 2); },
                  {rand64({2, 4, 3, 3}), rand64({4, 2, 2, 2}), rand64({4})});
  // Stride 1, "same" along x, with dilation and uneven padding along y (whole-row im2col / col2im).
  KILN_CHECK_GRAD([](const In& in) { return conv2d(in[0], in[1], in[2], {1, 1}, {0, 2}, {1, 2}); },
                  {rand64({2, 2, 5, 6}), rand64({3, 2, 3, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return conv2d(in[0], in[1], Tensor(), {1, 1}, {3, 1}); },
                  {rand64({1, 2, 4, 5}), rand64({2, 2, 3, 3})});
}

TEST_CASE("conv2d and conv_transpose2d on planes of 4 KiB rows (a padded im2col buffer)") {
  manual_seed(46);
  // 32 x 32 float32 and 8 x 64 float64 outputs: one col row spans 4 KiB, so its rows are
  // spaced a cache line further apart.
  const Tensor x = rand64({2, 3, 32, 32}), w = rand64({4, 3, 3, 3}), b = rand64({4});
  check_same(conv2d(x.to(kFloat32), w.to(kFloat32), b.to(kFloat32), {1, 1}, {1, 1}).to(kFloat64),
             naive_conv(x, w, b, {1, 1}, {1, 1}, {1, 1}, 1), 1e-4);
  const Tensor wide = rand64({2, 4, 8, 64}), w2 = rand64({2, 4, 3, 3});
  check_same(conv2d(wide, w2, Tensor(), {1, 1}, {1, 1}),
             naive_conv(wide, w2, Tensor(), {1, 1}, {1, 1}, {1, 1}, 1), 1e-12);
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv2d(in[0], in[1], in[2], {1, 1}, {1, 1}, {1, 1}, 2);
      },
      {rand64({1, 2, 8, 64}), rand64({2, 1, 3, 3}), rand64({2})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv_transpose2d(in[0], in[1], in[2], {1, 1}, {1, 1});
      },
      {rand64({1, 2, 8, 64}), rand64({2, 1, 3, 3}), rand64({1})});
}

TEST_CASE("pointwise (1x1) convolutions, with and without stride and padding") {
  manual_seed(47);
  const Tensor x = rand64({3, 4, 5, 6}), w = rand64({6, 2, 1, 1}), b = rand64({6});
  check_same(conv2d(x, w, b, {1, 1}, {0, 0}, {1, 1}, 2), naive_conv(x, w, b, {1, 1}, {0, 0}, {1, 1}, 2),
             1e-12);
  check_same(conv2d(x, w, b, {2, 1}, {0, 0}, {1, 1}, 2), naive_conv(x, w, b, {2, 1}, {0, 0}, {1, 1}, 2),
             1e-12);
  check_same(conv2d(x, w, b, {1, 1}, {1, 0}, {1, 1}, 2), naive_conv(x, w, b, {1, 1}, {1, 0}, {1, 1}, 2),
             1e-12);
  const Tensor wt = rand64({4, 3, 1, 1});
  check_same(conv_transpose2d(x, wt, b.narrow(0, 0, 3)),
             naive_conv_transpose(x, wt, b.narrow(0, 0, 3), {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1), 1e-12);
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv2d(in[0], in[1], in[2], {1, 1}, {0, 0}, {1, 1}, 2);
      },
      {rand64({3, 4, 2, 3}), rand64({4, 2, 1, 1}), rand64({4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv_transpose2d(in[0], in[1], in[2], {1, 1}, {0, 0}, {0, 0}, 2);
      },
      {rand64({3, 4, 2, 3}), rand64({4, 1, 1, 1}), rand64({2})});
}

TEST_CASE("conv_transpose2d equals the direct definition, and is conv2d's adjoint") {
  manual_seed(44);
  struct Case {
    Pair s, p, op, d;
    std::int64_t groups, c, o;
  };
  for (const Case& k :
       {Case{{1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, 2, 3}, Case{{2, 2}, {0, 0}, {0, 0}, {1, 1}, 1, 3, 2},
        Case{{2, 1}, {1, 2}, {1, 0}, {1, 1}, 1, 3, 2}, Case{{1, 1}, {2, 1}, {0, 1}, {2, 2}, 1, 1, 2},
        Case{{2, 2}, {1, 1}, {1, 1}, {1, 1}, 2, 4, 6}, Case{{3, 2}, {0, 1}, {2, 1}, {1, 1}, 1, 2, 2},
        // stride 1 with as many output as input columns: the whole-row col2im path
        Case{{1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, 3, 2}, Case{{1, 1}, {3, 1}, {0, 0}, {1, 1}, 2, 2, 4}}) {
    CAPTURE(k.s[0]);
    CAPTURE(k.op[0]);
    const Tensor x = rand64({2, k.c, 5, 4}), w = rand64({k.c, k.o / k.groups, 3, 3}), b = rand64({k.o});
    const Tensor y = conv_transpose2d(x, w, b, k.s, k.p, k.op, k.groups, k.d);
    check_same(y, naive_conv_transpose(x, w, b, k.s, k.p, k.op, k.d, k.groups), 1e-12);
    check_same(conv_transpose2d(x.to(kFloat32), w.to(kFloat32), Tensor(), k.s, k.p, k.op, k.groups, k.d),
               naive_conv_transpose(x, w, Tensor(), k.s, k.p, k.op, k.d, k.groups), 1e-5);
    // <conv2d(z, w), x> = <z, conv_transpose2d(x, w)> for every z of the output's shape,
    // when output_padding is 0 (otherwise conv2d of z has more rows than x).
    if (k.op == Pair{0, 0}) {
      const Tensor z = rand64(y.shape());
      const Tensor cz = conv2d(z, w, Tensor(), k.s, k.p, k.d, k.groups);
      REQUIRE(cz.shape() == x.shape());
      CHECK(sum(cz * x).item() ==
            doctest::Approx(sum(z * conv_transpose2d(x, w, Tensor(), k.s, k.p, {0, 0}, k.groups, k.d)).item())
                .epsilon(1e-12));
    }
  }
  // Stride 2, kernel 2: each pixel becomes its own 2x2 block.
  const Tensor one =
      conv_transpose2d(tensor<float>({1, 2}).reshape({1, 1, 1, 2}), ones({1, 1, 2, 2}), Tensor(), {2, 2});
  CHECK(one.shape() == Shape{1, 1, 2, 4});
  check_values(one, {1, 1, 2, 2, 1, 1, 2, 2});
}

TEST_CASE("gradcheck: conv_transpose2d") {
  manual_seed(45);
  // Three images: with two threads one task adds two images' weight gradients.
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv_transpose2d(in[0], in[1], in[2], {2, 2}, {1, 1}, {1, 1});
      },
      {rand64({3, 2, 3, 3}), rand64({2, 3, 3, 3}), rand64({3})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv_transpose2d(in[0], in[1], Tensor(), {1, 2}, {0, 1}, {0, 0}, 2, {2, 1});
      },
      {rand64({1, 4, 3, 4}), rand64({4, 1, 2, 3})});
  // Stride 1, "same" along x (whole-row im2col / col2im in both directions).
  KILN_CHECK_GRAD(
      [](const In& in) {
        return conv_transpose2d(in[0], in[1], in[2], {1, 1}, {2, 1});
      },
      {rand64({2, 2, 4, 5}), rand64({2, 2, 3, 3}), rand64({2})});
}

TEST_CASE("conv2d and conv_transpose2d: an empty batch gives empty outputs and zero weight gradients") {
  manual_seed(47);
  const Tensor x = randn({0, 2, 5, 5}).requires_grad_();
  const Tensor w = randn({3, 2, 3, 3}).requires_grad_(), b = randn({3}).requires_grad_();
  const Tensor y = conv2d(x, w, b, {1, 1}, {1, 1});
  CHECK(y.shape() == Shape{0, 3, 5, 5});
  sum(y).backward();
  CHECK(x.grad().shape() == x.shape());
  check_values(w.grad(), std::vector<double>(w.numel(), 0.0));
  check_values(b.grad(), {0, 0, 0});
  const Tensor wt = randn({2, 3, 3, 3}).requires_grad_();
  const Tensor yt = conv_transpose2d(x, wt);
  CHECK(yt.shape() == Shape{0, 3, 7, 7});
  sum(yt).backward();
  check_values(wt.grad(), std::vector<double>(wt.numel(), 0.0));
}

TEST_CASE("conv_transpose2d: errors name the shapes; the module") {
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(ones({1, 2, 3, 3}), ones({3, 2, 2, 2})),
      "conv_transpose2d: input of shape (1, 2, 3, 3) has 2 channels but weight of shape (3, 2, 2, 2) "
      "expects 3 (its first dimension is C_in)",
      Error);
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(ones({1, 2, 3, 3}), ones({2, 2, 2, 2}), Tensor(), {2, 2}, {0, 0}, {2, 0}),
      doctest::Contains("output_padding >= 0 and smaller than the stride or the dilation"), Error);
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(ones({1, 2, 1, 1}), ones({2, 2, 2, 2}), Tensor(), {1, 1}, {1, 1}),
      "conv_transpose2d: input of shape (1, 2, 1, 1) with a 2x2 kernel and padding (1, 1) gives an "
      "empty output (0 x 0); reduce the padding",
      Error);
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(ones({1, 3, 2, 2}), ones({3, 2, 2, 2}), Tensor(), {1, 1}, {0, 0}, {0, 0}, 2),
      doctest::Contains("groups = 2 must divide the input channels (3)"), Error);
  CHECK_THROWS_AS(conv_transpose2d(ones({1, 2, 2, 2}), ones({2, 2, 2, 2}), ones({3})), Error);

  manual_seed(46);
  nn::ConvTranspose2d up(nn::ConvTranspose2dOptions(4, 6, 2).stride(2).groups(2));
  CHECK(up.weight.shape() == Shape{4, 3, 2, 2});
  CHECK(up.bias.shape() == Shape{6});
  const double bound = 1.0 / std::sqrt(3.0 * 4.0);  // fan_in from dimension 1, as PyTorch's
  CHECK(max(abs(up.weight)).item() <= bound);
  CHECK(max(abs(up.weight)).item() > 0.8 * bound);
  const Tensor y = up(randn({2, 4, 5, 3}));
  CHECK(y.shape() == Shape{2, 6, 10, 6});
  CHECK(up.description() == "ConvTranspose2d(4, 6, kernel_size=(2, 2), stride=(2, 2), groups=2)");
  nn::ConvTranspose2d odd(
      nn::ConvTranspose2dOptions(2, 1, 3).stride(2).padding(1).output_padding(1).bias(false));
  CHECK(odd(randn({1, 2, 7, 7})).shape() == Shape{1, 1, 14, 14});  // 7 -> 14 with a 3x3 kernel
  CHECK_FALSE(odd.bias.defined());
  CHECK(odd.description() ==
        "ConvTranspose2d(2, 1, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), "
        "bias=false)");
}

TEST_CASE("upsample_nearest2d: blocks of each pixel, summed gradients, the module") {
  const Tensor x = tensor<float>({1, 2, 3, 4}).reshape({1, 1, 2, 2});
  const Tensor y = upsample_nearest2d(x, {2, 3});
  CHECK(y.shape() == Shape{1, 1, 4, 6});
  check_values(y, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  manual_seed(49);
  KILN_CHECK_GRAD([](const In& in) { return upsample_nearest2d(in[0], {2, 1}); }, {rand64({2, 2, 3, 2})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return upsample_nearest2d(in[0].transpose(2, 3), {3, 2});
      },
      {rand64({1, 2, 2, 3})});
  Tensor leaf = zeros({1, 1, 2, 2}).requires_grad_();
  sum(upsample_nearest2d(leaf, {2, 2}) * 1.0).backward();
  check_values(leaf.grad(), {4, 4, 4, 4});  // each pixel's block holds 4 copies
  check_same(upsample_nearest2d(x, {1, 1}), x, 0);
  CHECK_THROWS_WITH_AS(upsample_nearest2d(x, {0, 2}), doctest::Contains("whole numbers >= 1, got (0, 2)"),
                       Error);
  CHECK_THROWS_WITH_AS(upsample_nearest2d(ones({2, 2}), {2, 2}), doctest::Contains("(N, C, H, W)"), Error);
  nn::Upsample up(2);
  CHECK(up(randn({2, 3, 4, 5})).shape() == Shape{2, 3, 8, 10});
  CHECK(up.description() == "Upsample(scale_factor=2, mode=nearest)");
}

TEST_CASE("pooling: values, padding, ties, gradients") {
  const Tensor x = arange(0.0, 16.0, 1.0, kFloat64).reshape({1, 1, 4, 4});
  check_values(max_pool2d(x, {2, 2}), {5, 7, 13, 15});
  check_values(avg_pool2d(x, {2, 2}), {2.5, 4.5, 10.5, 12.5});
  check_values(max_pool2d(x, {3, 3}, {1, 1}), {10, 11, 14, 15});
  // Padding: max ignores it, avg counts it as zeros (PyTorch's count_include_pad).
  check_values(max_pool2d(x, {2, 2}, {2, 2}, {1, 1}), {0, 2, 3, 8, 10, 11, 12, 14, 15});
  check_values(avg_pool2d(x, {2, 2}, {2, 2}, {1, 1}), {0, 0.75, 0.75, 3, 7.5, 4.5, 3, 6.75, 3.75});
  // Ties: the gradient goes to the first maximum of each window, only.
  Tensor t = ones({1, 1, 2, 4}, kFloat64).requires_grad_();
  sum(max_pool2d(t, {2, 2})).backward();
  check_values(t.grad(), {1, 0, 1, 0, 0, 0, 0, 0});
  manual_seed(44);
  KILN_CHECK_GRAD([](const In& in) { return max_pool2d(in[0], {2, 2}); }, {rand64({2, 2, 4, 4})});
  KILN_CHECK_GRAD([](const In& in) { return max_pool2d(in[0], {3, 2}, {2, 1}, {1, 1}); }, {rand64({1, 2, 5, 4})});
  KILN_CHECK_GRAD([](const In& in) { return avg_pool2d(in[0], {2, 2}); }, {rand64({2, 1, 4, 4})});
  KILN_CHECK_GRAD([](const In& in) { return avg_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}); }, {rand64({1, 2, 5, 5})});
  CHECK_THROWS_AS(max_pool2d(zeros({1, 1, 1, 1}), {2, 2}), Error);
}

namespace {
// adaptive_avg_pool2d by its definition: each output cell is the plain mean of its window.
Tensor naive_adaptive_avg(const Tensor& x, std::int64_t oh, std::int64_t ow) {
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const Tensor xd = x.to(kFloat64).contiguous();
  Tensor out = zeros({n, c, oh, ow}, kFloat64);
  const double* in = xd.data_ptr<double>();
  double* o = out.data_ptr<double>();
  for (std::int64_t p = 0; p < n * c; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t y0 = i * h / oh, y1 = ((i + 1) * h + oh - 1) / oh;
        const std::int64_t x0 = j * w / ow, x1 = ((j + 1) * w + ow - 1) / ow;
        double total = 0;
        for (std::int64_t y = y0; y < y1; ++y)
          for (std::int64_t xx = x0; xx < x1; ++xx) total += in[(p * h + y) * w + xx];
        o[(p * oh + i) * ow + j] = total / static_cast<double>((y1 - y0) * (x1 - x0));
      }
  return out;
}
}  // namespace

TEST_CASE("adaptive_avg_pool2d: window means for any sizes, gradients, the module") {
  manual_seed(50);
  const Tensor x = rand64({2, 3, 7, 5});
  // Global, equal windows, overlapping windows (7 -> 3, 5 -> 2), more outputs than inputs.
  for (const Pair out : {Pair{1, 1}, Pair{7, 5}, Pair{3, 2}, Pair{2, 4}, Pair{9, 6}, Pair{1, 3}}) {
    CAPTURE(out[0]);
    CAPTURE(out[1]);
    check_same(adaptive_avg_pool2d(x, out), naive_adaptive_avg(x, out[0], out[1]), 1e-12);
    check_same(adaptive_avg_pool2d(x.to(kFloat32), out), naive_adaptive_avg(x, out[0], out[1]), 1e-6);
  }
  const Tensor even = rand64({1, 2, 6, 4});
  check_same(adaptive_avg_pool2d(even, {3, 2}), avg_pool2d(even, {2, 2}), 1e-12);
  check_same(adaptive_avg_pool2d(even, {1, 1}), mean(even, {2, 3}, true), 1e-12);
  KILN_CHECK_GRAD([](const In& in) { return adaptive_avg_pool2d(in[0], {3, 2}); }, {rand64({2, 2, 7, 5})});
  KILN_CHECK_GRAD([](const In& in) { return adaptive_avg_pool2d(in[0], {1, 1}); }, {rand64({2, 3, 3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return adaptive_avg_pool2d(in[0], {2, 2}); }, {rand64({1, 2, 4, 6})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return adaptive_avg_pool2d(in[0].transpose(2, 3), {4, 3});
      },
      {rand64({1, 2, 5, 3})});
  CHECK(adaptive_avg_pool2d(zeros({0, 3, 5, 5}), {2, 2}).shape() == Shape{0, 3, 2, 2});
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, {0, 2}), doctest::Contains("output size (0, 2) must be >= 1"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(zeros({1, 2, 0, 3}), {1, 1}), doctest::Contains("empty image"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(ones({2, 3}), {1, 1}), doctest::Contains("(N, C, H, W)"), Error);
  nn::AdaptiveAvgPool2d gap(1);
  CHECK(gap(x).shape() == Shape{2, 3, 1, 1});
  CHECK(gap.description() == "AdaptiveAvgPool2d(output_size=(1, 1))");
  CHECK(nn::AdaptiveAvgPool2d(Pair{3, 2})(x).shape() == Shape{2, 3, 3, 2});
  CHECK_THROWS_AS(nn::AdaptiveAvgPool2d(0), Error);
}

TEST_CASE("group_norm: groups of channels normalised as defined, gradients, the module") {
  manual_seed(51);
  const Tensor x = rand64({3, 6, 4, 2}) * 3.0 + 1.0;
  const Tensor w = rand64({6}), b = rand64({6});
  for (const std::int64_t groups : {1, 2, 3, 6}) {
    CAPTURE(groups);
    // The definition: statistics over each sample's group of channels, then per-channel affine.
    const Tensor xg = x.reshape({3, groups, 6 / groups, 4, 2});
    const Tensor mu = mean(xg, {2, 3, 4}, true), v = var(xg, {2, 3, 4}, true, 0);
    const Tensor expected =
        ((xg - mu) / sqrt(v + 1e-4)).reshape({3, 6, 4, 2}) * w.reshape({6, 1, 1}) + b.reshape({6, 1, 1});
    check_same(group_norm(x, groups, w, b, 1e-4), expected, 1e-12);
    check_same(group_norm(x.to(kFloat32), groups, w.to(kFloat32), b.to(kFloat32), 1e-4), expected, 1e-5);
  }
  // One group is layer_norm over (C, H, W); 2-D and 3-D inputs.
  check_same(group_norm(x, 1), layer_norm(x, {6, 4, 2}), 1e-12);
  const Tensor x2 = rand64({5, 4});
  check_same(group_norm(x2, 2), layer_norm(x2.reshape({5, 2, 2}), {2}).reshape({5, 4}), 1e-12);
  CHECK(group_norm(rand64({2, 4, 3}), 4).shape() == Shape{2, 4, 3});
  KILN_CHECK_GRAD([](const In& in) { return group_norm(in[0], 2, in[1], in[2]); },
                  {rand64({2, 4, 3, 2}), rand64({4}), rand64({4})});
  KILN_CHECK_GRAD([](const In& in) { return group_norm(in[0], 3, in[1], Tensor(), 0.1); },
                  {rand64({2, 6, 3}), rand64({6})});
  KILN_CHECK_GRAD([](const In& in) { return group_norm(in[0].transpose(2, 3), 1); }, {rand64({1, 2, 3, 2})});
  CHECK(group_norm(zeros({0, 4, 3}), 2).shape() == Shape{0, 4, 3});
  KILN_CHECK_GRAD([](const In& in) { return group_norm(in[0], 2, Tensor(), in[1]); },
                  {rand64({2, 4, 5}), rand64({4})});
  {
    // float32 (vector kernels, planes of 35 values: a ragged tail) against float64, values
    // and gradients; and the parameters' gradients alone, x needing none.
    const Tensor x64 = rand64({4, 6, 5, 7}) * 2.0 + 50.0, w64 = rand64({6}), b64 = rand64({6});
    const Tensor up = rand64({4, 6, 5, 7});
    std::vector<Tensor> grads64, grads32;
    for (const auto dtype : {kFloat64, kFloat32}) {
      const Tensor xi = x64.to(dtype).clone().requires_grad_(), wi = w64.to(dtype).clone().requires_grad_(),
                   bi = b64.to(dtype).clone().requires_grad_();
      const Tensor y = group_norm(xi, 3, wi, bi);
      sum(y * up.to(dtype)).backward();
      auto& out = dtype == kFloat64 ? grads64 : grads32;
      out = {y.detach(), xi.grad(), wi.grad(), bi.grad()};
    }
    for (std::size_t i = 0; i < grads64.size(); ++i) {
      CAPTURE(i);
      check_same(grads32[i].to(kFloat64), grads64[i], 2e-4);
    }
    const Tensor wi = w64.clone().requires_grad_(), bi = b64.clone().requires_grad_();
    sum(group_norm(x64, 3, wi, bi) * up).backward();
    check_same(wi.grad(), grads64[2], 1e-12);
    check_same(bi.grad(), grads64[3], 1e-12);
  }

  nn::GroupNorm gn(2, 6);
  CHECK(gn.description() == "GroupNorm(2, 6, eps=1e-05, affine=true)");
  CHECK(gn.parameters().size() == 2);
  CHECK(gn.state_dict().count("weight") == 1);
  check_values(gn.bias, std::vector<double>(6, 0.0), 0);
  check_same(gn(x.to(kFloat32)), group_norm(x, 2), 1e-5);
  CHECK(nn::GroupNorm(nn::GroupNormOptions(3, 6).affine(false)).parameters().empty());

  CHECK_THROWS_WITH_AS(group_norm(x, 4),
                       doctest::Contains("6 channels (input shape (3, 6, 4, 2)) do not split into 4 groups"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 2, rand64({3})), doctest::Contains("weight of shape (3) must be (6)"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(ones({4}), 1), doctest::Contains("(N, C, ...)"), Error);
  CHECK_THROWS_WITH_AS(nn::GroupNorm(4, 6), doctest::Contains("6 channels do not split into 4 groups"),
                       Error);
  CHECK_THROWS_WITH_AS(gn(rand64({2, 4, 3}).to(kFloat32)),
                       doctest::Contains("has 4 channels but the layer was built for 6"), Error);
}

namespace {
// conv1d by its definition: out[n][o][t] = b[o] + sum over the group's channels c and taps j of
// w[o][c][j] * x[n][g * C/G + c][t * stride - padding + j * dilation] (0 outside).
Tensor naive_conv1d(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t s, std::int64_t p,
                    std::int64_t d, std::int64_t groups) {
  const std::int64_t n = x.size(0), c = x.size(1), l = x.size(2), o = w.size(0), k = w.size(2);
  const std::int64_t cg = c / groups, og = o / groups, ol = (l + 2 * p - d * (k - 1) - 1) / s + 1;
  const Tensor xd = x.to(kFloat64).contiguous(), wd = w.to(kFloat64).contiguous();
  Tensor out = zeros({n, o, ol}, kFloat64);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t oc = 0; oc < o; ++oc)
      for (std::int64_t t = 0; t < ol; ++t) {
        double acc = b.defined() ? b.to(kFloat64).at<double>({oc}) : 0.0;
        for (std::int64_t ci = 0; ci < cg; ++ci)
          for (std::int64_t j = 0; j < k; ++j) {
            const std::int64_t at = t * s - p + j * d;
            if (at >= 0 && at < l)
              acc += wd.at<double>({oc, ci, j}) * xd.at<double>({i, oc / og * cg + ci, at});
          }
        out.at<double>({i, oc, t}) = acc;
      }
  return out;
}
}  // namespace

TEST_CASE("conv1d and 1-D pooling: the definition, gradients, errors in 1-D terms, the modules") {
  manual_seed(52);
  struct Case {
    std::int64_t s, p, d, groups, c, o, k;
  };
  for (const Case& k : {Case{1, 0, 1, 1, 2, 3, 3}, Case{2, 1, 1, 1, 3, 2, 4}, Case{1, 2, 2, 1, 1, 2, 3},
                        Case{2, 1, 1, 2, 4, 6, 3}, Case{3, 0, 2, 3, 3, 3, 1}}) {
    const Tensor x = rand64({2, k.c, 11}), w = rand64({k.o, k.c / k.groups, k.k}), b = rand64({k.o});
    check_same(conv1d(x, w, b, k.s, k.p, k.d, k.groups), naive_conv1d(x, w, b, k.s, k.p, k.d, k.groups),
               1e-12);
    check_same(conv1d(x.to(kFloat32), w.to(kFloat32), Tensor(), k.s, k.p, k.d, k.groups),
               naive_conv1d(x, w, Tensor(), k.s, k.p, k.d, k.groups), 1e-5);
  }
  KILN_CHECK_GRAD([](const In& in) { return conv1d(in[0], in[1], in[2], 2, 1, 1, 1); },
                  {rand64({3, 2, 7}), rand64({3, 2, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return conv1d(in[0], in[1], Tensor(), 1, 2, 2, 2); },
                  {rand64({2, 4, 6}), rand64({2, 2, 2})});
  const Tensor seq = arange(0.0, 8.0, 1.0, kFloat64).reshape({1, 1, 8});
  check_values(max_pool1d(seq, 2), {1, 3, 5, 7});
  check_values(avg_pool1d(seq, 3, 2), {1, 3, 5});
  check_values(avg_pool1d(seq, 2, 2, 1), {0, 1.5, 3.5, 5.5, 3.5});  // padding counts as zeros
  check_values(max_pool1d(seq, 3, 3, 1), {1, 4, 7});
  KILN_CHECK_GRAD([](const In& in) { return max_pool1d(in[0], 3, 2, 1); }, {rand64({2, 2, 7})});
  KILN_CHECK_GRAD([](const In& in) { return avg_pool1d(in[0], 2); }, {rand64({2, 3, 6})});

  CHECK_THROWS_WITH_AS(
      conv1d(rand64({2, 3, 5}), rand64({4, 2, 3})),
      doctest::Contains("conv1d: input of shape (2, 3, 5) has 3 channels but weight of shape "
                        "(4, 2, 3) with groups = 1 expects 2"),
      Error);
  CHECK_THROWS_WITH_AS(conv1d(rand64({2, 3, 2}), rand64({4, 3, 3})),
                       doctest::Contains("shorter than the dilated kernel of 3"), Error);
  CHECK_THROWS_WITH_AS(conv1d(rand64({2, 3, 5, 1}), rand64({4, 3, 3})), doctest::Contains("(N, C, L)"),
                       Error);
  CHECK_THROWS_WITH_AS(conv1d(rand64({2, 3, 5}), rand64({4, 3, 3}), Tensor(), 0),
                       doctest::Contains("got stride 0, padding 0, dilation 1"), Error);
  CHECK_THROWS_WITH_AS(max_pool1d(seq, 9),
                       doctest::Contains("max_pool1d: input of shape (1, 1, 8) is shorter"), Error);
  CHECK_THROWS_WITH_AS(avg_pool1d(seq, 2, 1, 2),
                       doctest::Contains("avg_pool1d: kernel 2, stride 1, padding 2"), Error);

  nn::Conv1d conv(nn::Conv1dOptions(4, 6, 5).padding(2).groups(2));
  CHECK(conv.weight.shape() == Shape{6, 2, 5});
  CHECK(conv(randn({3, 4, 20})).shape() == Shape{3, 6, 20});
  CHECK(conv.description() == "Conv1d(4, 6, kernel_size=(5,), stride=(1,), padding=(2,), groups=2)");
  const double bound = 1.0 / std::sqrt(10.0);  // fan_in = 2 channels x 5 taps
  CHECK(max(abs(conv.weight)).item() <= bound);
  CHECK(max(abs(conv.weight)).item() > 0.8 * bound);
  CHECK_THROWS_AS(nn::Conv1d(nn::Conv1dOptions(3, 4, 3).groups(2)), Error);
  nn::MaxPool1d pool(nn::Pool1dOptions(3).stride(2));
  CHECK(pool(randn({2, 3, 9})).shape() == Shape{2, 3, 4});
  CHECK(pool.description() == "MaxPool1d(kernel_size=3, stride=2, padding=0)");
  CHECK(nn::AvgPool1d(2).description() == "AvgPool1d(kernel_size=2, stride=2, padding=0)");
}

TEST_CASE("max_pool2d: NaN wins its window") {
  const Tensor x = tensor<float>({1, NAN, 3, 4}).reshape({1, 1, 2, 2});
  CHECK(std::isnan(max_pool2d(x, {2, 2}).item()));
}

TEST_CASE("batch_norm: training statistics, running update, evaluation, gradients") {
  manual_seed(45);
  const Tensor x = rand64({6, 3, 2, 2}) * 2.0 + 1.0;
  Tensor rm = zeros({3}, kFloat64), rv = ones({3}, kFloat64);
  const Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5);
  // Each channel of y has mean 0 and (biased) variance 1.
  check_values(mean(y, {0, 2, 3}), {0, 0, 0}, 1e-9);
  check_values(var(y, {0, 2, 3}, false, 0), {1, 1, 1}, 1e-4);
  check_same(rm, mean(x, {0, 2, 3}) * 0.1, 1e-12);
  check_same(rv, var(x, {0, 2, 3}) * 0.1 + 0.9, 1e-12);  // unbiased variance in the running estimate
  const Tensor w = rand64({3}), b = rand64({3});
  const Tensor ye = batch_norm(x, rm, rv, w, b, false);
  check_same(ye, (x - rm.reshape({3, 1, 1})) / sqrt(rv.reshape({3, 1, 1}) + 1e-5) * w.reshape({3, 1, 1}) +
                     b.reshape({3, 1, 1}), 1e-12);
  KILN_CHECK_GRAD([](const In& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
                  {rand64({4, 3}), rand64({3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
                  {rand64({3, 2, 2, 3}), rand64({2}), rand64({2})});
  const Tensor rm2 = rand64({2}), rv2 = abs(rand64({2})) + 0.5;
  KILN_CHECK_GRAD([rm2, rv2](const In& in) { return batch_norm(in[0], rm2, rv2, in[1], in[2], false); },
                  {rand64({3, 2, 2}), rand64({2}), rand64({2})});
  CHECK_THROWS_WITH_AS(batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("more than one value per channel"), Error);
}

TEST_CASE("layer_norm: rows normalised as defined, float32 rows far from 0, gradients, the module") {
  manual_seed(47);
  const Tensor x = rand64({4, 3, 5}) * 3.0 + 2.0;
  // Over the last dimension: every row of 5 gets mean 0 and biased variance 1 (less eps).
  const Tensor y = layer_norm(x, {5});
  check_values(mean(y, {2}).flatten(), std::vector<double>(12, 0.0), 1e-9);
  check_values(var(y, {2}, false, 0).flatten(), std::vector<double>(12, 1.0), 1e-4);
  // Over the last two, with weight and bias, against the definition written with ops.
  const Tensor w = rand64({3, 5}), b = rand64({3, 5});
  const Tensor mu = mean(x, {1, 2}, true), v = var(x, {1, 2}, true, 0);
  const Tensor expected = (x - mu) / sqrt(v + 1e-3) * w + b;
  check_same(layer_norm(x, {3, 5}, w, b, 1e-3), expected, 1e-12);
  check_same(layer_norm(x.to(kFloat32), {3, 5}, w.to(kFloat32), b.to(kFloat32), 1e-3), expected, 1e-5);
  // Statistics and centring in double: float32 rows around 10^4, spread 0.03, keep
  // their detail (a float32 mean alone would be off by up to 5e-4, 2 % of the spread).
  const Tensor far = (x * 0.01 + 1e4).to(kFloat32);
  check_same(layer_norm(far, {5}), layer_norm(far.to(kFloat64), {5}), 1e-5);
  // A constant row has variance 0: it becomes the bias.
  check_values(layer_norm(full({1, 3}, 7.0, kFloat64), {3}, Tensor(), tensor<double>({1, 2, 3})), {1, 2, 3}, 0);
  // Gradients in x, weight and bias; each affine part alone; a non-contiguous input.
  KILN_CHECK_GRAD([](const In& in) { return layer_norm(in[0], {5}, in[1], in[2]); },
                  {rand64({3, 5}), rand64({5}), rand64({5})});
  KILN_CHECK_GRAD([](const In& in) { return layer_norm(in[0], {2, 3}, in[1], in[2], 0.1); },
                  {rand64({2, 2, 3}) * 2.0, rand64({2, 3}), rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return layer_norm(in[0], {4}); }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return layer_norm(in[0].t(), {3}, Tensor(), in[1]); },
                  {rand64({3, 4}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return layer_norm(in[0], {3}, in[1]); }, {rand64({2, 3}), rand64({3})});

  nn::LayerNorm ln(5);
  CHECK(ln.description() == "LayerNorm((5), eps=1e-05, elementwise_affine=true)");
  CHECK(ln.parameters().size() == 2);
  check_values(ln.weight, {1, 1, 1, 1, 1});
  check_same(ln(x.to(kFloat32)), y, 1e-5);
  nn::LayerNorm plain(nn::LayerNormOptions({3, 5}).elementwise_affine(false).eps(1e-3));
  CHECK(plain.parameters().empty());
  check_same(plain(x.to(kFloat32)), layer_norm(x, {3, 5}, Tensor(), Tensor(), 1e-3), 1e-5);

  CHECK_THROWS_WITH_AS(layer_norm(x, {4}), doctest::Contains("must be the last dimensions of the input"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {5}, rand64({4})), doctest::Contains("weight of shape (4) must have"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({2, 3}, kInt64), {3}), doctest::Contains("layer_norm"), Error);
  CHECK_THROWS_WITH_AS(nn::LayerNorm(0), doctest::Contains("all positive"), Error);
}

TEST_CASE("dropout: identity in eval, scaled mask in training") {
  manual_seed(46);
  const Tensor x = ones({10000});
  CHECK(dropout(x, 0.3, false).shares_storage(x));
  Tensor xr = ones({10000}).requires_grad_();
  const Tensor y = dropout(xr, 0.3, true);
  const auto v = y.to_vector<double>();
  double kept = 0;
  for (double e : v) {
    CHECK((e == 0.0 || std::abs(e - 1 / 0.7) < 1e-6));
    kept += e != 0;
  }
  CHECK(std::abs(kept / 10000 - 0.7) < 0.02);
  sum(y).backward();
  check_same(xr.grad(), y, 1e-6);  // d/dx (x * mask) = mask
  check_values(dropout(ones({3}), 1.0, true), {0, 0, 0});
  CHECK_THROWS_AS(dropout(x, 1.5, true), Error);

  // Any upstream gradient meets the forward's mask, drawn again from its seed; a
  // strided input is read in its logical order.
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor base = randn({40, 30}, dt);
    const Tensor xt = base.t().requires_grad_();  // (30, 40), strided
    const Tensor yt = dropout(xt, 0.5, true);
    const Tensor up = randn({30, 40}, dt);
    yt.backward(up);
    const Tensor scaled_mask = where(ne(yt.detach(), zeros_like(yt)), full({}, 2.0, dt), zeros({}, dt));
    check_same(yt.detach(), xt.detach() * scaled_mask, 0.0);
    check_same(xt.grad(), up * scaled_mask, 0.0);
  }
}

TEST_CASE("dropout: the mask is the counter-based stream of one seed, whatever the thread count") {
  const int threads = get_num_threads();
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = randn({300, 257}, dt);  // more elements than one parallel chunk
    manual_seed(7);
    const std::uint64_t seed = default_generator().next_u64();
    const double after = default_generator().uniform();  // dropout draws exactly one number
    set_num_threads(1);
    manual_seed(7);
    const Tensor one = dropout(x, 0.4, true);
    CHECK(default_generator().uniform() == after);
    set_num_threads(2);
    manual_seed(7);
    const Tensor two = dropout(x, 0.4, true);
    set_num_threads(threads);
    check_same(one, two, 0.0);
    // Element i is x[i] * T(1 / 0.6) where uniform number i of the stream is >= 0.4, else 0.
    std::int64_t mismatches = 0;
    visit_floating(dt, "test", [&]<class T>() {
      const auto xs = x.to_vector<T>(), ys = one.to_vector<T>();
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const bool keep = cuda_kernels::counter_uniform<T>(seed, i) >= static_cast<T>(0.4);
        mismatches += ys[i] != (keep ? xs[i] * static_cast<T>(1 / 0.6) : T(0));
      }
    });
    CHECK(mismatches == 0);
  }
}

TEST_CASE("counter-based uniform numbers: in [0, 1), evenly spread, independent of their neighbours; dropout's threshold") {
  // The stream behind the GPU's rand and randn and every dropout mask.
  const std::uint64_t seed = 0x1234567;
  constexpr int kBins = 64;
  constexpr std::int64_t kN = 1 << 20;
  std::vector<double> bins(kBins, 0.0);
  double sum = 0, lag = 0, prev = 0;
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < kN; ++i) {
    const double u = cuda_kernels::counter_uniform<double>(seed, i);
    const float f = cuda_kernels::counter_uniform<float>(seed, i);
    // In [0, 1), and the float is the same draw cut to 24 bits.
    if (!(u >= 0.0 && u < 1.0 && f < 1.0f && std::abs(static_cast<double>(f) - u) < 0x1.0p-24)) {
      ++bad;
      continue;
    }
    bins[static_cast<int>(u * kBins)] += 1;
    sum += u;
    lag += (u - 0.5) * (prev - 0.5);
    prev = u;
  }
  REQUIRE(bad == 0);
  double chi2 = 0;
  for (double c : bins) chi2 += (c - kN / kBins) * (c - kN / kBins) / (kN / kBins);
  CHECK(chi2 < 120);  // 63 degrees of freedom: above 120 has probability about 2e-5
  CHECK(std::abs(sum / kN - 0.5) < 0.002);
  CHECK(std::abs(lag / kN) < 0.002);  // neighbours uncorrelated (the variance of u is 1/12)
  // Dropout's integer threshold decides as the comparison u >= p would, also where p
  // is itself a possible u, or lies just beside one.
  std::int64_t disagreements = 0;
  for (int j = 0; j <= 4096; ++j) {
    const float k24 = static_cast<float>(j * 4096);  // integer numerators, 2^12 apart
    for (float p : {k24 * 0x1.0p-24f, std::nextafter(k24 * 0x1.0p-24f, 0.0f), std::nextafter(k24 * 0x1.0p-24f, 1.0f)}) {
      if (p > 1.0f) continue;
      const std::uint64_t t = cuda_kernels::dropout_threshold(p);
      for (std::int64_t k = std::max<std::int64_t>(0, j * 4096 - 2); k <= j * 4096 + 2 && k < (1 << 24); ++k)
        disagreements += (static_cast<float>(k) * 0x1.0p-24f >= p) != (static_cast<std::uint64_t>(k) >= t);
    }
    const double pd = static_cast<double>(j) / 4096.0;
    const std::uint64_t td = cuda_kernels::dropout_threshold(pd);
    for (std::int64_t d = -2; d <= 2; ++d) {
      const std::int64_t k = j * (std::int64_t(1) << 41) + d;
      if (k < 0 || k >= (std::int64_t(1) << 53)) continue;
      disagreements += (static_cast<double>(k) * 0x1.0p-53 >= pd) != (static_cast<std::uint64_t>(k) >= td);
    }
  }
  CHECK(disagreements == 0);
  CHECK(cuda_kernels::dropout_threshold(1.0f) == (std::uint64_t(1) << 24));  // p = 1 keeps nothing
  CHECK(cuda_kernels::dropout_threshold(0.0) == 0);

  // Another seed gives another stream.
  int same = 0;
  for (std::int64_t i = 0; i < 1000; ++i)
    same += cuda_kernels::counter_bits(seed, i) == cuda_kernels::counter_bits(seed + 1, i);
  CHECK(same == 0);
}

TEST_CASE("embedding picks rows; its gradient adds back") {
  const Tensor w = arange(0.0, 8.0, 1.0, kFloat64).reshape({4, 2});
  const Tensor idx = tensor<std::int64_t>({{3, 0}, {3, 1}});
  const Tensor e = embedding(w, idx);
  CHECK(e.shape() == Shape{2, 2, 2});
  check_values(e, {6, 7, 0, 1, 6, 7, 2, 3});
  KILN_CHECK_GRAD([idx](const In& in) { return embedding(in[0], idx); }, {rand64({4, 2})});
  CHECK_THROWS_AS(embedding(w, tensor<std::int64_t>({4})), Error);
  // padding_idx: the same rows forward; the padding row gets no gradient, the others all theirs.
  for (const std::int64_t pad : {3, -1}) {
    CAPTURE(pad);
    const Tensor table = rand64({4, 2}).requires_grad_(), plain = table.detach().clone().requires_grad_();
    const Tensor up = rand64({2, 2, 2});
    const Tensor padded = embedding(table, idx, pad);
    check_same(padded, embedding(plain, idx), 0);
    sum(padded * up).backward();
    sum(embedding(plain, idx) * up).backward();
    check_values(table.grad()[3], {0, 0}, 0);
    CHECK(sum(abs(plain.grad()[3])).item() > 0);
    check_same(table.grad().narrow(0, 0, 3), plain.grad().narrow(0, 0, 3), 0);
  }
  KILN_CHECK_GRAD([idx](const In& in) { return embedding(in[0], idx, 2); }, {rand64({4, 2})});  // 2 unused
  CHECK_THROWS_WITH_AS(embedding(w, idx, 4),
                       doctest::Contains("embedding: padding_idx 4 is outside the 4 rows of weight (4, 2)"),
                       Error);
  nn::Embedding padded(nn::EmbeddingOptions(5, 3).padding_idx(-2));
  check_values(padded.weight[3], {0, 0, 0}, 0);
  CHECK(sum(abs(padded.weight[2])).item() > 0);
  CHECK(padded.description() == "Embedding(5, 3, padding_idx=-2)");
  CHECK_THROWS_WITH_AS(nn::Embedding(nn::EmbeddingOptions(5, 3).padding_idx(5)),
                       doctest::Contains("Embedding: padding_idx 5 must be in -5 .. 4"), Error);
}

TEST_CASE("cross_entropy: value, label smoothing, reductions, gradients") {
  const Tensor logits = tensor<double>({{1, 2, 3}, {1, -1, 0}});
  const Tensor t = tensor<std::int64_t>({2, 0});
  const Tensor lp = log_softmax(logits, 1);
  const double l0 = -lp.at<double>({0, 2}), l1 = -lp.at<double>({1, 0});
  CHECK(cross_entropy(logits, t).item() == doctest::Approx((l0 + l1) / 2));
  CHECK(cross_entropy(logits, t, Reduction::sum).item() == doctest::Approx(l0 + l1));
  check_values(cross_entropy(logits, t, Reduction::none), {l0, l1}, 1e-12);
  // Smoothing e: (1 - e) NLL + e * mean over classes of -log p.
  const double e = 0.1, u0 = -mean(lp.select(0, 0)).item(), u1 = -mean(lp.select(0, 1)).item();
  CHECK(cross_entropy(logits, t, Reduction::mean, e).item() ==
        doctest::Approx(((1 - e) * l0 + e * u0 + (1 - e) * l1 + e * u1) / 2));
  check_same(nll_loss(lp, t, Reduction::none), cross_entropy(logits, t, Reduction::none), 1e-12);
  manual_seed(47);
  const Tensor tt = tensor<std::int64_t>({0, 2, 1, 2});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    KILN_CHECK_GRAD([tt, r](const In& in) { return cross_entropy(in[0], tt, r); }, {rand64({4, 3})});
    KILN_CHECK_GRAD([tt, r](const In& in) { return cross_entropy(in[0], tt, r, 0.2); }, {rand64({4, 3})});
    KILN_CHECK_GRAD([tt, r](const In& in) { return nll_loss(log_softmax(in[0], 1), tt, r); }, {rand64({4, 3})});
  }
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), tensor<std::int64_t>({0, 3})),
                       doctest::Contains("target 3 of sample 1 is not a class index in [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), tensor<float>({0, 1})), doctest::Contains("int64 or int32"), Error);
}

TEST_CASE("mse and binary cross-entropy with logits") {
  const Tensor a = tensor<double>({1, 2, 3}), b = tensor<double>({1, 0, 5});
  CHECK(mse_loss(a, b).item() == doctest::Approx(8.0 / 3));
  CHECK(mse_loss(a, b, Reduction::sum).item() == doctest::Approx(8.0));
  CHECK_THROWS_AS(mse_loss(a, zeros({2}, kFloat64)), Error);
  // Against the textbook formula with sigmoids.
  const Tensor x = tensor<double>({-2, 0.5, 3}), y = tensor<double>({0, 1, 1}), pw = tensor<double>({2, 2, 2});
  double expect = 0;
  for (int i = 0; i < 3; ++i) {
    const double s = 1 / (1 + std::exp(-x.at<double>({i}))), yy = y.at<double>({i});
    expect += -(2 * yy * std::log(s) + (1 - yy) * std::log(1 - s));
  }
  CHECK(binary_cross_entropy_with_logits(x, y, pw, Reduction::sum).item() == doctest::Approx(expect));
  // Stable for large logits.
  CHECK(std::isfinite(binary_cross_entropy_with_logits(tensor<double>({1000, -1000}), tensor<double>({0, 1})).item()));
  manual_seed(48);
  KILN_CHECK_GRAD([](const In& in) { return mse_loss(in[0], in[1]); }, {rand64({2, 3}), rand64({2, 3})});
  KILN_CHECK_GRAD([y, pw](const In& in) { return binary_cross_entropy_with_logits(in[0], y, pw); }, {rand64({3})});
  // An empty batch: the mean is NaN (0 / 0) and the sum 0, as PyTorch; backward gives an empty gradient.
  for (Reduction r : {Reduction::mean, Reduction::sum}) {
    Tensor none = zeros({0, 3}).requires_grad_();
    const Tensor loss = binary_cross_entropy_with_logits(none, zeros({0, 3}), Tensor(), r);
    CHECK((r == Reduction::mean ? std::isnan(loss.item()) : loss.item() == 0));
    loss.backward();
    CHECK(none.grad().shape() == Shape{0, 3});
  }
}

TEST_CASE("l1, smooth L1 and Huber losses: values by hand, gradients, bad input") {
  // |input - target| = 0, 2, 2, 0.5
  const Tensor x = tensor<double>({1, 2, 3, -1}), y = tensor<double>({1, 0, 5, -1.5});
  CHECK(l1_loss(x, y).item() == doctest::Approx(4.5 / 4));
  CHECK(l1_loss(x, y, Reduction::sum).item() == doctest::Approx(4.5));
  // beta 1: 0.5 d^2 below 1 (0 and 0.125), d - 0.5 above (1.5 twice).
  check_values(smooth_l1_loss(x, y, Reduction::none), {0, 1.5, 1.5, 0.125}, 1e-12);
  CHECK(smooth_l1_loss(x, y, Reduction::sum, 0.0).item() == doctest::Approx(4.5));  // beta 0: L1
  CHECK(smooth_l1_loss(x, y, Reduction::sum, 3.0).item() == doctest::Approx(8.25 / 6));  // all quadratic
  // delta 1.5: 0.5 d^2 below (0, 0.125), 1.5 (d - 0.75) above (1.875 twice).
  check_values(huber_loss(x, y, Reduction::none, 1.5), {0, 1.875, 1.875, 0.125}, 1e-12);
  CHECK(huber_loss(x, y, Reduction::mean, 1.5).item() == doctest::Approx(3.875 / 4));
  // The gradient: sign(d) for L1 (0 where equal), d / beta inside beta, sign(d) beyond.
  const Tensor xg = x.clone().requires_grad_();
  smooth_l1_loss(xg, y, Reduction::sum).backward();
  check_values(xg.grad(), {0, 1, -1, 0.5}, 1e-12);

  manual_seed(49);
  KILN_CHECK_GRAD([](const In& in) { return l1_loss(in[0], in[1]); }, {rand64({2, 3}), rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return smooth_l1_loss(in[0], in[1], Reduction::sum, 0.5); },
                  {rand64({3, 4}), rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return huber_loss(in[0], in[1], Reduction::mean, 0.7); },
                  {rand64({3, 4}), rand64({3, 4})});

  CHECK_THROWS_WITH_AS(l1_loss(x, zeros({2}, kFloat64)),
                       "l1_loss: input of shape (4) and target of shape (2) differ; they must match", Error);
  CHECK_THROWS_WITH_AS(smooth_l1_loss(x, y, Reduction::mean, -1.0), doctest::Contains("beta must be finite"), Error);
  CHECK_THROWS_WITH_AS(huber_loss(x, y, Reduction::mean, 0.0), doctest::Contains("delta must be finite and > 0"),
                       Error);
  CHECK_THROWS_AS(l1_loss(zeros({2}, kInt64), zeros({2}, kInt64)), Error);
}

TEST_CASE("binary cross-entropy with logits: the fused CPU path equals the composite bit for bit") {
  // The composite formula, written out with public ops.
  const auto composite = [](const Tensor& x, const Tensor& y, const Tensor& pw, Reduction r) {
    Tensor weight_pos = scalar_like(y, 1.0);
    if (pw.defined()) weight_pos = add(weight_pos, mul(sub(pw, scalar_like(pw, 1.0)), y));
    const Tensor l = add(mul(sub(scalar_like(y, 1.0), y), x), mul(weight_pos, softplus(neg(x))));
    return r == Reduction::mean ? mean(l) : r == Reduction::sum ? sum(l) : l;
  };
  const auto bits_equal = [](const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    const auto u = a.to_vector<double>(), v = b.to_vector<double>();
    std::int64_t differ = 0;
    for (std::size_t i = 0; i < u.size(); ++i) differ += !(u[i] == v[i] || (std::isnan(u[i]) && std::isnan(v[i])));
    return differ;
  };
  const int threads = get_num_threads();
  manual_seed(49);
  // Sizes around the 2048-element chunks and the SIMD widths; logits wide enough that
  // softplus takes both branches and saturates.
  for (DType dt : {kFloat32, kFloat64})
    for (std::int64_t n : {1, 15, 2047, 2049, 40000})
      for (int weighting = 0; weighting < 3; ++weighting)  // none, one value, one per element
        for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
          for (int th : {1, 2}) {
            INFO("dtype " << dt << " n " << n << " weighting " << weighting << " threads " << th);
            set_num_threads(th);
            const Tensor x = randn({n}, dt) * 8.0, y = ge(rand({n}, dt), scalar_like(x, 0.7)).to(dt);
            const Tensor pw = weighting == 0 ? Tensor() : weighting == 1 ? full({1}, 3.7, dt) : rand({n}, dt) * 5.0;
            Tensor x1 = x.clone().requires_grad_(), x2 = x.clone().requires_grad_();
            const Tensor fused = binary_cross_entropy_with_logits(x1, y, pw, r);
            const Tensor plain = composite(x2, y, pw, r);
            CHECK(bits_equal(fused, plain) == 0);
            // A gradient of every shape the loss hands down: one value or one per element.
            const Tensor seed_grad = r == Reduction::none ? randn({n}, dt) : full({}, 0.3, dt);
            fused.backward(seed_grad);
            plain.backward(seed_grad);
            CHECK(bits_equal(x1.grad(), x2.grad()) == 0);
          }
  set_num_threads(threads);
  // Targets that need a gradient, or a weight broadcast along a dimension, take the
  // composite path: gradients reach them, and the values agree.
  const Tensor x = randn({4, 3}, kFloat64);
  Tensor y = rand({4, 3}, kFloat64).requires_grad_();
  binary_cross_entropy_with_logits(x, y).backward();
  CHECK(y.grad().defined());
  const Tensor pw_row = tensor<double>({1.0, 2.0, 3.0}), yy = y.detach();
  check_same(binary_cross_entropy_with_logits(x, yy, pw_row),
             composite(x, yy, pw_row.reshape({1, 3}).expand({4, 3}).contiguous(), Reduction::mean), 1e-15);
  KILN_CHECK_GRAD([yy](const In& in) { return binary_cross_entropy_with_logits(in[0], yy, Tensor(), Reduction::sum); },
                  {rand64({4, 3})});
  KILN_CHECK_GRAD([yy](const In& in) { return binary_cross_entropy_with_logits(in[0], yy, full({1}, 2.5, kFloat64)); },
                  {rand64({4, 3})});
}

TEST_CASE("max_pool2d: the inference path (no gradient) gives the training path's values") {
  manual_seed(8);
  Tensor x = randn({2, 3, 6, 8});
  x.at<float>({1, 2, 3, 4}) = std::numeric_limits<float>::quiet_NaN();
  const Tensor plain = max_pool2d(x, {2, 2});
  const Tensor tracked = max_pool2d(x.detach().requires_grad_(), {2, 2});
  REQUIRE(tracked.grad_fn() != nullptr);
  const auto a = plain.to_vector<float>(), b = tracked.detach().to_vector<float>();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK((a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))));
  CHECK(std::isnan(plain.at<float>({1, 2, 1, 2})));
}

TEST_CASE("kl_div and cosine_similarity: values by hand, zero targets and vectors, gradients") {
  // kl_div: target (log target - input), 0 where target is 0.
  const Tensor input = log(tensor<double>({{0.2, 0.3, 0.5}, {0.6, 0.3, 0.1}}));
  const Tensor target = tensor<double>({{0.5, 0.5, 0.0}, {0.25, 0.25, 0.5}});
  const double row0 = 0.5 * std::log(0.5 / 0.2) + 0.5 * std::log(0.5 / 0.3);
  const double row1 = 0.25 * std::log(0.25 / 0.6) + 0.25 * std::log(0.25 / 0.3) + 0.5 * std::log(0.5 / 0.1);
  check_values(kl_div(input, target, Reduction::none)[0],
               {0.5 * std::log(0.5 / 0.2), 0.5 * std::log(0.5 / 0.3), 0}, 1e-12);
  CHECK(kl_div(input, target, Reduction::sum).item() == doctest::Approx(row0 + row1).epsilon(1e-12));
  CHECK(kl_div(input, target).item() == doctest::Approx((row0 + row1) / 6).epsilon(1e-12));
  // log_target: the same divergence from log-probabilities (rows without zeros).
  CHECK(kl_div(input[1], log(target[1]), Reduction::sum, true).item() ==
        doctest::Approx(row1).epsilon(1e-12));
  // A zero target: no NaN in either gradient (d/d input = -target, d/d target = log t + 1 - input there).
  const Tensor t = target.clone().requires_grad_(), x = input.clone().requires_grad_();
  kl_div(x, t, Reduction::sum).backward();
  CHECK(std::isfinite(sum(t.grad()).item()));
  check_same(x.grad(), -target, 1e-15);
  KILN_CHECK_GRAD([](const In& in) { return kl_div(in[0], in[1], Reduction::none); },
                  {rand64({2, 3}), rand({2, 3}, kFloat64) + 0.1});
  KILN_CHECK_GRAD([](const In& in) { return kl_div(in[0], in[1], Reduction::mean, true); },
                  {rand64({2, 3}), rand64({2, 3})});
  CHECK_THROWS_WITH_AS(kl_div(rand64({2, 3}), rand64({3, 2})),
                       doctest::Contains("kl_div: input of shape (2, 3) and target of shape (3, 2) differ"),
                       Error);

  // cosine_similarity: along a dimension of the broadcast shape, which it removes.
  const Tensor a = tensor<double>({{1, 0}, {1, 2}, {0, 0}}), b = tensor<double>({{0, 1}, {2, 4}, {1, 1}});
  check_values(cosine_similarity(a, b), {0, 1, 0}, 1e-12);  // the zero vector: 0, not NaN
  const Tensor u = tensor<double>({1, 2, 3}), v = tensor<double>({4, 5, 6});
  CHECK(cosine_similarity(u, v, 0).item() == doctest::Approx(32 / std::sqrt(14.0 * 77.0)).epsilon(1e-12));
  const Tensor rows = rand64({4, 3});
  check_same(cosine_similarity(rows, u, -1), cosine_similarity(rows, u.expand({4, 3}), 1), 0);
  CHECK(cosine_similarity(rand64({2, 5, 3}), rand64({2, 5, 3}), 1).shape() == Shape{2, 3});
  KILN_CHECK_GRAD([](const In& in) { return cosine_similarity(in[0], in[1], 1); },
                  {rand64({3, 4}), rand64({1, 4})});
  KILN_CHECK_GRAD([](const In& in) { return cosine_similarity(in[0], in[1], 0); },
                  {rand64({5, 2}), rand64({5, 2})});
}

TEST_CASE("gelu's tanh form, mish, the hard activations, and their layers") {
  const Tensor x = tensor<double>({-4, -3.5, -1, -0.25, 0, 0.5, 2, 3.5, 7});
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double v = x[i].item();
    CAPTURE(v);
    const double g = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    CHECK(gelu(x, GeluApproximation::tanh)[i].item() == doctest::Approx(g).epsilon(1e-14));
    CHECK(std::abs(gelu(x, GeluApproximation::tanh)[i].item() - gelu(x)[i].item()) < 1e-3);  // close to exact
    CHECK(mish(x)[i].item() == doctest::Approx(v * std::tanh(std::log1p(std::exp(v)))).epsilon(1e-14));
    const double hs = std::min(1.0, std::max(0.0, v / 6 + 0.5));
    CHECK(hardsigmoid(x)[i].item() == doctest::Approx(hs).epsilon(1e-15));
    CHECK(hardswish(x)[i].item() == doctest::Approx(v * hs).epsilon(1e-15));
    CHECK(hardtanh(x, -0.5, 2)[i].item() == std::min(2.0, std::max(-0.5, v)));
    CHECK(relu6(x)[i].item() == std::min(6.0, std::max(0.0, v)));
  }
  // Away from the kinks, each is differentiable as defined.
  const Tensor smooth = tensor<double>({-4, -1.2, -0.3, 0.4, 1.7, 4.2, 7.5});
  KILN_CHECK_GRAD([](const In& in) { return gelu(in[0], GeluApproximation::tanh); }, {smooth});
  KILN_CHECK_GRAD([](const In& in) { return mish(in[0]); }, {smooth});
  KILN_CHECK_GRAD([](const In& in) { return hardswish(in[0]); }, {smooth});
  KILN_CHECK_GRAD([](const In& in) { return hardsigmoid(in[0]) + hardtanh(in[0], -0.5, 2) + relu6(in[0]); },
                  {smooth});
  CHECK_THROWS_WITH_AS(hardtanh(x, 1, -1),
                       doctest::Contains("hardtanh: min_val 1 must not exceed max_val -1"), Error);
  // The layers.
  const Tensor logits = rand64({2, 5});
  check_same(nn::Softmax(1)(logits), softmax(logits, 1), 0);
  check_same(nn::LogSoftmax(-1)(logits), log_softmax(logits, -1), 0);
  check_same(nn::GELU(GeluApproximation::tanh)(x), gelu(x, GeluApproximation::tanh), 0);
  check_same(nn::Hardtanh(-2, 2)(x), hardtanh(x, -2, 2), 0);
  check_same(nn::Mish()(x), mish(x), 0);
  check_same(nn::Hardswish()(x), hardswish(x), 0);
  check_same(nn::Hardsigmoid()(x), hardsigmoid(x), 0);
  check_same(nn::ReLU6()(x), relu6(x), 0);
  CHECK(nn::GELU(GeluApproximation::tanh).description() == "GELU(approximate='tanh')");
  CHECK(nn::GELU().description() == "GELU()");
  CHECK(nn::Hardtanh(-2, 2).description() == "Hardtanh(min_val=-2, max_val=2)");
  CHECK(nn::LogSoftmax(1).description() == "LogSoftmax(dim=1)");
}
