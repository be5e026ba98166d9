// Adaptive max pooling, 1-D adaptive pooling, power-average pooling, the 1-D transposed
// convolution, and max and average pooling's ceil_mode, count_include_pad, indices and
// unpooling: values against direct definitions, float64 gradchecks, the layers that wrap
// them, and their errors.
#include <algorithm>
#include <cmath>
#include <limits>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::positive64;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// adaptive_max_pool2d by its definition: each output cell is the largest entry of its
// window, PyTorch's windows, and its plane position y * W + x (the first of equal ones
// in row-major order).
ValuesIndices naive_adaptive_max(const Tensor& x, std::int64_t oh, std::int64_t ow) {
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const std::vector<double> in = x.to(kFloat64).contiguous().to_vector<double>();
  std::vector<double> values;
  std::vector<std::int64_t> positions;
  for (std::int64_t p = 0; p < n * c; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t y0 = i * h / oh, y1 = ((i + 1) * h + oh - 1) / oh;
        const std::int64_t x0 = j * w / ow, x1 = ((j + 1) * w + ow - 1) / ow;
        double best = -std::numeric_limits<double>::infinity();
        std::int64_t at = -1;
        for (std::int64_t y = y0; y < y1; ++y)
          for (std::int64_t xx = x0; xx < x1; ++xx)
            if (at < 0 || in[static_cast<std::size_t>((p * h + y) * w + xx)] > best) {
              best = in[static_cast<std::size_t>((p * h + y) * w + xx)];
              at = y * w + xx;
            }
        values.push_back(best);
        positions.push_back(at);
      }
  return {from_vector(values, {n, c, oh, ow}), from_vector(positions, {n, c, oh, ow})};
}

// conv_transpose1d by its definition: each input entry scatters its kernel-long stamp,
// out[n][g OG + o][l i s - p + t d] += x[n][ci][l] w[ci][o][t], ci in group g.
Tensor naive_conv_transpose1d(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t s,
                              std::int64_t p, std::int64_t op, std::int64_t d, std::int64_t groups) {
  const std::int64_t N = x.size(0), C = x.size(1), L = x.size(2), OG = w.size(1), K = w.size(2);
  const std::int64_t O = OG * groups, CG = C / groups, OL = (L - 1) * s - 2 * p + d * (K - 1) + op + 1;
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(N * O * OL), 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t q = 0; q < OL; ++q)
        out[static_cast<std::size_t>((n * O + o) * OL + q)] = b.defined() ? b.to_vector<double>()[o] : 0.0;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t ci = 0; ci < C; ++ci)
      for (std::int64_t l = 0; l < L; ++l)
        for (std::int64_t o = 0; o < OG; ++o)
          for (std::int64_t t = 0; t < K; ++t) {
            const std::int64_t q = l * s - p + t * d, oc = (ci / CG) * OG + o;
            if (q < 0 || q >= OL) continue;
            out[static_cast<std::size_t>((n * O + oc) * OL + q)] +=
                xv[static_cast<std::size_t>((n * C + ci) * L + l)] *
                wv[static_cast<std::size_t>((ci * OG + o) * K + t)];
          }
  return from_vector(out, {N, O, OL});
}

}  // namespace

TEST_CASE("adaptive_max_pool2d: window maxima and their positions for any sizes") {
  manual_seed(70);
  const Tensor x = rand64({2, 3, 7, 5});
  // Global, equal windows, overlapping windows, more outputs than inputs, a row.
  for (const Pair out : {Pair{1, 1}, Pair{7, 5}, Pair{3, 2}, Pair{2, 4}, Pair{9, 6}, Pair{1, 3}}) {
    CAPTURE(out[0]);
    CAPTURE(out[1]);
    const ValuesIndices expected = naive_adaptive_max(x, out[0], out[1]);
    const ValuesIndices got = adaptive_max_pool2d_with_indices(x, out);
    check_same(got.values, expected.values, 0.0);
    CHECK(got.indices.dtype() == kInt64);
    CHECK(got.indices.to_vector<std::int64_t>() == expected.indices.to_vector<std::int64_t>());
    check_same(adaptive_max_pool2d(x, out), expected.values, 0.0);
    check_same(adaptive_max_pool2d(x.to(kFloat32), out), expected.values, 1e-7);
  }
  // A non-contiguous input reads the same values.
  const Tensor xt = rand64({1, 2, 5, 6});
  check_same(adaptive_max_pool2d(xt.transpose(2, 3), {4, 3}),
             naive_adaptive_max(xt.transpose(2, 3), 4, 3).values, 0.0);
  // Ties: the first maximum of the window in row-major order, for the position and the gradient.
  Tensor flat = ones({1, 1, 3, 3}, kFloat64).requires_grad_();
  const ValuesIndices tied = adaptive_max_pool2d_with_indices(flat, {2, 2});
  CHECK(tied.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 3, 4});
  sum(tied.values).backward();
  check_values(flat.grad(), {1, 1, 0, 1, 1, 0, 0, 0, 0});
  CHECK(adaptive_max_pool2d(zeros({0, 3, 5, 5}), {2, 2}).shape() == Shape{0, 3, 2, 2});
  // A NaN is the maximum of its window, the first NaN's position, as max's.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor holes = from_vector(std::vector<double>{1, 5, nan, 2, nan, 3, 0, 1, 2}, {1, 1, 3, 3});
  const ValuesIndices with_nan = adaptive_max_pool2d_with_indices(holes, {1, 2});
  CHECK(std::isnan(with_nan.values.to_vector<double>()[0]));
  CHECK(std::isnan(with_nan.values.to_vector<double>()[1]));
  CHECK(with_nan.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{4, 2});
  CHECK(max(holes.reshape({9}), 0).indices.item() == 2);
}

TEST_CASE("adaptive_max_pool2d, adaptive_max_pool1d, adaptive_avg_pool1d: gradients, layers, errors") {
  manual_seed(71);
  KILN_CHECK_GRAD([](const In& in) { return adaptive_max_pool2d(in[0], {3, 2}); }, {rand64({2, 2, 7, 5})});
  KILN_CHECK_GRAD([](const In& in) { return adaptive_max_pool2d(in[0], {1, 1}); }, {rand64({2, 3, 3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return adaptive_max_pool2d(in[0], {2, 3}); }, {rand64({1, 2, 4, 6})});
  KILN_CHECK_GRAD([](const In& in) { return adaptive_max_pool2d(in[0], {5, 4}); }, {rand64({1, 1, 3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return adaptive_max_pool1d(in[0], 3); }, {rand64({2, 3, 7})});
  KILN_CHECK_GRAD([](const In& in) { return adaptive_avg_pool1d(in[0], 4); }, {rand64({2, 3, 7})});

  // 1-D: the 2-D definitions on one row, positions along L.
  const Tensor seq = rand64({2, 3, 11});
  for (const std::int64_t out : {1, 4, 11, 13}) {
    CAPTURE(out);
    const ValuesIndices expected = naive_adaptive_max(seq.unsqueeze(2), 1, out);
    const ValuesIndices got = adaptive_max_pool1d_with_indices(seq, out);
    check_same(got.values, expected.values.squeeze(2), 0.0);
    CHECK(got.indices.to_vector<std::int64_t>() == expected.indices.to_vector<std::int64_t>());
    check_same(adaptive_max_pool1d(seq, out), expected.values.squeeze(2), 0.0);
    // The mean of each window: torch's windows on one row.
    std::vector<double> means;
    const auto v = seq.to_vector<double>();
    for (std::int64_t r = 0; r < 6; ++r)
      for (std::int64_t i = 0; i < out; ++i) {
        const std::int64_t b = i * 11 / out, e = ((i + 1) * 11 + out - 1) / out;
        double total = 0;
        for (std::int64_t l = b; l < e; ++l) total += v[static_cast<std::size_t>(r * 11 + l)];
        means.push_back(total / static_cast<double>(e - b));
      }
    check_same(adaptive_avg_pool1d(seq, out), from_vector(means, {2, 3, out}), 1e-12);
  }

  nn::AdaptiveMaxPool2d global(1);
  CHECK(global(rand64({2, 3, 4, 5})).shape() == Shape{2, 3, 1, 1});
  CHECK(global.description() == "AdaptiveMaxPool2d(output_size=(1, 1))");
  CHECK(nn::AdaptiveMaxPool2d(Pair{3, 2})(rand64({1, 2, 7, 5})).shape() == Shape{1, 2, 3, 2});
  nn::AdaptiveMaxPool1d max1(4);
  nn::AdaptiveAvgPool1d avg1(4);
  CHECK(max1(seq).shape() == Shape{2, 3, 4});
  CHECK(avg1(seq).shape() == Shape{2, 3, 4});
  CHECK(max1.description() == "AdaptiveMaxPool1d(output_size=4)");
  CHECK(avg1.description() == "AdaptiveAvgPool1d(output_size=4)");
  CHECK_THROWS_AS(nn::AdaptiveMaxPool2d(0), Error);
  CHECK_THROWS_AS(nn::AdaptiveMaxPool1d(0), Error);
  CHECK_THROWS_AS(nn::AdaptiveAvgPool1d(-1), Error);

  CHECK_THROWS_WITH_AS(adaptive_max_pool2d(rand64({2, 3, 4}), {1, 1}), doctest::Contains("(N, C, H, W)"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool2d(rand64({1, 1, 4, 4}), {0, 2}),
                       doctest::Contains("output size (0, 2) must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool2d(zeros({1, 2, 0, 3}), {1, 1}), doctest::Contains("empty image"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool2d(ones({1, 1, 2, 2}, kInt64), {1, 1}),
                       doctest::Contains("adaptive_max_pool2d"), Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool1d(rand64({2, 3, 4, 4}), 2), doctest::Contains("(N, C, L)"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool1d(zeros({2, 3, 0}), 2), doctest::Contains("empty along L"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool1d(rand64({2, 3, 4}), 0), doctest::Contains("output size 0"), Error);
}

TEST_CASE("lp_pool2d and lp_pool1d: the p-th root of each window's sum of p-th powers") {
  manual_seed(72);
  const Tensor x = positive64({2, 3, 6, 7});
  // By the definition, for square and odd powers and a stride other than the kernel.
  const auto naive = [](const Tensor& t, double p, Pair k, Pair s) {
    const std::int64_t planes = t.size(0) * t.size(1), h = t.size(2), w = t.size(3);
    const std::int64_t oh = (h - k[0]) / s[0] + 1, ow = (w - k[1]) / s[1] + 1;
    const auto v = t.to_vector<double>();
    std::vector<double> out;
    for (std::int64_t q = 0; q < planes; ++q)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          double total = 0;
          for (std::int64_t a = 0; a < k[0]; ++a)
            for (std::int64_t b = 0; b < k[1]; ++b)
              total += std::pow(v[static_cast<std::size_t>((q * h + i * s[0] + a) * w + j * s[1] + b)], p);
          out.push_back(std::pow(total, 1.0 / p));
        }
    return from_vector(out, {t.size(0), t.size(1), oh, ow});
  };
  check_same(lp_pool2d(x, 2, {2, 2}), naive(x, 2, {2, 2}, {2, 2}), 1e-12);
  check_same(lp_pool2d(x, 3, {3, 2}, {1, 2}), naive(x, 3, {3, 2}, {1, 2}), 1e-12);
  check_same(lp_pool2d(x.to(kFloat32), 2, {2, 3}), naive(x, 2, {2, 3}, {2, 3}), 1e-5);
  // p = 1 sums each window; a large p nears the window's maximum.
  check_same(lp_pool2d(x, 1, {2, 2}), avg_pool2d(x, {2, 2}) * 4.0, 1e-12);
  check_same(lp_pool2d(x, 200, {3, 3}, {1, 1}), max_pool2d(x, {3, 3}, {1, 1}), 0.02);
  const Tensor seq = positive64({2, 3, 9});
  check_same(lp_pool1d(seq, 2, 3, 2), naive(seq.unsqueeze(2), 2, {1, 3}, {1, 2}).squeeze(2), 1e-12);
  check_same(lp_pool1d(seq, 1, 3), avg_pool1d(seq, 3) * 3.0, 1e-12);

  KILN_CHECK_GRAD([](const In& in) { return lp_pool2d(in[0], 2, {2, 2}); }, {positive64({1, 2, 4, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return lp_pool2d(in[0], 3, {3, 2}, {1, 2});
      },
      {positive64({1, 2, 5, 4})});
  KILN_CHECK_GRAD([](const In& in) { return lp_pool1d(in[0], 1.5, 3, 2); }, {positive64({2, 2, 7})});

  nn::LPPool2d pool2(2, 3);
  CHECK(pool2(x).shape() == Shape{2, 3, 2, 2});
  CHECK(pool2.description() == "LPPool2d(norm_type=2, kernel_size=(3, 3), stride=(3, 3))");
  nn::LPPool1d pool1(3, 2, 1);
  CHECK(pool1(seq).shape() == Shape{2, 3, 8});
  CHECK(pool1.description() == "LPPool1d(norm_type=3, kernel_size=2, stride=1)");
  CHECK_THROWS_AS(nn::LPPool2d(0, 2), Error);
  CHECK_THROWS_AS(nn::LPPool1d(2, 0), Error);
  CHECK_THROWS_WITH_AS(lp_pool2d(x, -1, {2, 2}), doctest::Contains("norm_type"), Error);
  CHECK_THROWS_WITH_AS(lp_pool2d(x, std::numeric_limits<double>::infinity(), {2, 2}),
                       doctest::Contains("norm_type"), Error);
  CHECK_THROWS_WITH_AS(lp_pool1d(x, 2, 2), doctest::Contains("(N, C, L)"), Error);
  CHECK_THROWS_WITH_AS(lp_pool2d(seq, 2, {2, 2}), doctest::Contains("(N, C, H, W)"), Error);
}

TEST_CASE("conv_transpose1d equals the direct definition and is conv1d's adjoint") {
  manual_seed(73);
  struct Case {
    std::int64_t c, og, k, s, p, op, d, groups;
  };
  for (const Case& k :
       {Case{2, 3, 3, 1, 0, 0, 1, 1}, Case{4, 2, 2, 2, 0, 1, 1, 2}, Case{3, 2, 3, 2, 1, 1, 1, 1},
        Case{2, 2, 3, 1, 2, 0, 2, 2}, Case{1, 1, 1, 3, 0, 2, 1, 1}}) {
    CAPTURE(k.s);
    CAPTURE(k.groups);
    const Tensor x = rand64({2, k.c, 5}), w = rand64({k.c, k.og, k.k}), b = rand64({k.og * k.groups});
    const Tensor y = conv_transpose1d(x, w, b, k.s, k.p, k.op, k.groups, k.d);
    check_same(y, naive_conv_transpose1d(x, w, b, k.s, k.p, k.op, k.d, k.groups), 1e-12);
    check_same(conv_transpose1d(x.to(kFloat32), w.to(kFloat32), Tensor(), k.s, k.p, k.op, k.groups, k.d),
               naive_conv_transpose1d(x, w, Tensor(), k.s, k.p, k.op, k.d, k.groups), 1e-5);
    if (k.op == 0) {  // <conv1d(z, w), x> = <z, conv_transpose1d(x, w)> for z of the output's shape
      const Tensor z = rand64(y.shape());
      CHECK(sum(conv1d(z, w, Tensor(), k.s, k.p, k.d, k.groups) * x).item() ==
            doctest::Approx(sum(z * conv_transpose1d(x, w, Tensor(), k.s, k.p, 0, k.groups, k.d)).item())
                .epsilon(1e-12));
    }
  }
  KILN_CHECK_GRAD([](const In& in) { return conv_transpose1d(in[0], in[1], in[2], 2, 1, 1); },
                  {rand64({2, 2, 4}), rand64({2, 3, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return conv_transpose1d(in[0], in[1], Tensor(), 1, 1, 0, 2, 2); },
                  {rand64({1, 4, 5}), rand64({4, 1, 2})});

  nn::ConvTranspose1d up(nn::ConvTranspose1dOptions(4, 6, 2).stride(2));
  CHECK(up.weight.shape() == Shape{4, 6, 2});
  CHECK(up(randn({3, 4, 5})).shape() == Shape{3, 6, 10});
  CHECK(up.description() == "ConvTranspose1d(4, 6, kernel_size=(2,), stride=(2,))");
  nn::ConvTranspose1d grouped(
      nn::ConvTranspose1dOptions(4, 6, 3).padding(1).output_padding(1).stride(2).groups(2).bias(false));
  CHECK(grouped.weight.shape() == Shape{4, 3, 3});
  CHECK(!grouped.bias.defined());
  CHECK(grouped(randn({1, 4, 5})).shape() == Shape{1, 6, 10});
  CHECK(grouped.description() ==
        "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), output_padding=(1,), groups=2, "
        "bias=false)");
  // PyTorch's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_out / groups * k = 12.
  CHECK(max(abs(up.weight)).item() <= 1.0 / std::sqrt(12.0));
  CHECK_THROWS_AS(nn::ConvTranspose1d(nn::ConvTranspose1dOptions(3, 4, 2).groups(2)), Error);

  const Tensor x = rand64({1, 2, 4}), w = rand64({2, 3, 3});
  CHECK_THROWS_WITH_AS(conv_transpose1d(rand64({2, 4}), w), doctest::Contains("(N, C, L)"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose1d(x, rand64({3, 3, 3})), doctest::Contains("expects 3"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose1d(x, rand64({2, 3})), doctest::Contains("(C, O/groups, k)"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose1d(x, w, Tensor(), 1, 0, 1), doctest::Contains("output_padding"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose1d(x, w, Tensor(), 1, 0, 0, 3), doctest::Contains("groups = 3"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose1d(rand64({1, 2, 1}), w, Tensor(), 1, 2),
                       doctest::Contains("empty output"), Error);
}

namespace {

// Max or average pooling by its definition (PyTorch's): the output size rounded down, or
// with ceil_mode up, less a last window that would start past the input and its left
// padding; a max over the window's positions inside the image (the first maximum); a
// mean dividing by the window clipped to the padded image, or to the image alone.
struct NaivePool {
  Tensor values;
  std::vector<std::int64_t> positions;
};
NaivePool naive_pool(const Tensor& x, Pair k, Pair s, Pair p, bool ceil_mode, bool average,
                     bool include_pad) {
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const auto windows = [&](std::int64_t in, int d) {
    const std::int64_t span = in + 2 * p[d] - k[d];
    std::int64_t out = (ceil_mode ? (span + s[d] - 1) / s[d] : span / s[d]) + 1;
    if (ceil_mode && (out - 1) * s[d] >= in + p[d]) --out;
    return out;
  };
  const std::int64_t oh = windows(h, 0), ow = windows(w, 1);
  const auto v = x.contiguous().to_vector<double>();
  NaivePool r;
  std::vector<double> out;
  for (std::int64_t q = 0; q < planes; ++q)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t y0 = i * s[0] - p[0], x0 = j * s[1] - p[1];
        const std::int64_t y1 = std::min(y0 + k[0], h + p[0]), x1 = std::min(x0 + k[1], w + p[1]);
        double best = 0, total = 0;
        std::int64_t at = -1, inside = 0;
        for (std::int64_t y = std::max<std::int64_t>(y0, 0); y < std::min(y1, h); ++y)
          for (std::int64_t xx = std::max<std::int64_t>(x0, 0); xx < std::min(x1, w); ++xx) {
            const double e = v[static_cast<std::size_t>((q * h + y) * w + xx)];
            total += e;
            ++inside;
            if (at < 0 || e > best) best = e, at = y * w + xx;
          }
        out.push_back(average ? total / static_cast<double>(include_pad ? (y1 - y0) * (x1 - x0) : inside)
                              : best);
        r.positions.push_back(at);
      }
  r.values = from_vector(out, {x.size(0), x.size(1), oh, ow});
  return r;
}

}  // namespace

TEST_CASE("max_pool2d and avg_pool2d: ceil_mode, count_include_pad, the maxima's positions") {
  manual_seed(74);
  const Tensor x = rand64({2, 3, 7, 6});
  struct Case {
    Pair k, s, p;
  };
  for (const Case& c :
       {Case{{2, 2}, {2, 2}, {0, 0}}, Case{{3, 3}, {2, 2}, {1, 1}}, Case{{3, 2}, {2, 3}, {0, 1}},
        Case{{2, 3}, {3, 2}, {1, 0}}, Case{{4, 4}, {3, 3}, {2, 2}}, Case{{1, 1}, {2, 2}, {0, 0}}}) {
    for (const bool ceil_mode : {false, true}) {
      CAPTURE(c.k[0]);
      CAPTURE(c.s[0]);
      CAPTURE(c.p[0]);
      CAPTURE(ceil_mode);
      const NaivePool mx = naive_pool(x, c.k, c.s, c.p, ceil_mode, false, true);
      check_same(max_pool2d(x, c.k, c.s, c.p, ceil_mode), mx.values, 0.0);
      check_same(max_pool2d(x.to(kFloat32), c.k, c.s, c.p, ceil_mode), mx.values, 1e-7);
      const ValuesIndices with = max_pool2d_with_indices(x, c.k, c.s, c.p, ceil_mode);
      check_same(with.values, mx.values, 0.0);
      CHECK(with.indices.dtype() == kInt64);
      CHECK(with.indices.to_vector<std::int64_t>() == mx.positions);
      for (const bool include_pad : {true, false}) {
        CAPTURE(include_pad);
        check_same(avg_pool2d(x, c.k, c.s, c.p, ceil_mode, include_pad),
                   naive_pool(x, c.k, c.s, c.p, ceil_mode, true, include_pad).values, 1e-12);
      }
    }
  }
  // 7 wide, kernel and stride 2: 3 windows, or 4 with ceil_mode (the last one column wide).
  CHECK(max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, true).shape() == Shape{2, 3, 4, 3});
  check_same(avg_pool2d(x, {2, 2}, {2, 2}, {0, 0}, true).narrow(2, 3, 1),
             mean(x.narrow(2, 6, 1).reshape({2, 3, 1, 3, 2}), {4}), 1e-12);
  // With ceil_mode a window may pass the end of an input smaller than the kernel, as torch's.
  const Tensor low = from_vector(std::vector<double>{1, 3, 2}, {1, 1, 1, 3});
  check_values(max_pool2d(low, {2, 2}, {2, 2}, {0, 0}, true), {3, 2});
  check_values(avg_pool2d(low, {2, 2}, {2, 2}, {0, 0}, true), {2, 2});
  CHECK_THROWS_WITH_AS(max_pool2d(low, {2, 2}), doctest::Contains("smaller than the 2x2 window"), Error);
  // The 2x2 kernel's indices, with and without a recorded gradient.
  Tensor leaf = rand64({1, 2, 4, 6}).requires_grad_();
  CHECK(max_pool2d_with_indices(leaf, {2, 2}).indices.to_vector<std::int64_t>() ==
        naive_pool(leaf.detach(), {2, 2}, {2, 2}, {0, 0}, false, false, true).positions);
  KILN_CHECK_GRAD(
      [](const In& in) {
        return max_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}, true);
      },
      {rand64({1, 2, 6, 5})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return avg_pool2d(in[0], {3, 2}, {2, 2}, {1, 1}, true, false);
      },
      {rand64({2, 1, 6, 5})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return avg_pool2d(in[0], {2, 2}, {2, 2}, {0, 0}, true, true);
      },
      {rand64({1, 2, 5, 5})});
  KILN_CHECK_GRAD([](const In& in) { return avg_pool1d(in[0], 3, 2, 1, true, false); }, {rand64({2, 2, 8})});
  KILN_CHECK_GRAD([](const In& in) { return max_pool1d(in[0], 2, 2, 0, true); }, {rand64({2, 2, 7})});

  nn::MaxPool2d ceil(nn::PoolOptions(2).ceil_mode(true));
  CHECK(ceil(x).shape() == Shape{2, 3, 4, 3});
  CHECK(ceil.description() == "MaxPool2d(kernel_size=(2, 2), ceil_mode=true)");
  nn::AvgPool2d exclude(nn::PoolOptions(3).stride(2).padding(1).count_include_pad(false));
  check_same(exclude(x), avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, false), 0.0);
  CHECK(exclude.description() == "AvgPool2d(kernel_size=(3, 3), count_include_pad=false)");
  nn::AvgPool1d avg1(nn::Pool1dOptions(2).ceil_mode(true));
  CHECK(avg1(rand64({1, 2, 5})).shape() == Shape{1, 2, 3});
  CHECK(avg1.description() == "AvgPool1d(kernel_size=2, stride=2, padding=0, ceil_mode=true)");
}

TEST_CASE("max_unpool2d puts the maxima back where max_pool2d found them") {
  manual_seed(75);
  // Positive entries, so that the zeros around the maxima do not outrank them.
  const Tensor x = positive64({2, 3, 6, 7});
  const ValuesIndices pooled = max_pool2d_with_indices(x, {2, 2});
  // The default output size, (3 - 1) 2 + 2 = 6 by 6, is not x's 6 by 7, whose positions the
  // indices count in: x's own size must be given. Where the default is the size, it serves.
  const Tensor back = max_unpool2d(pooled.values, pooled.indices, {2, 2}, {0, 0}, {0, 0}, Pair{6, 7});
  CHECK(back.shape() == x.shape());
  const ValuesIndices square_pool = max_pool2d_with_indices(x.narrow(3, 0, 6), {2, 2});
  check_same(max_unpool2d(square_pool.values, square_pool.indices, {2, 2}),
             max_unpool2d(square_pool.values, square_pool.indices, {2, 2}, {0, 0}, {0, 0}, Pair{6, 6}), 0.0);
  // Each maximum at its place, zeros elsewhere: pooling it again gives the same maxima.
  check_same(max_pool2d(back, {2, 2}), pooled.values, 0.0);
  CHECK(sum(ne(back, 0.0).to(kFloat64)).item() == 2 * 3 * 3 * 3);
  const auto bv = back.to_vector<double>(), xv = x.to_vector<double>();
  for (std::size_t i = 0; i < bv.size(); ++i)
    if (bv[i] != 0) CHECK(bv[i] == xv[i]);
  // The gradient is read back at the positions.
  const Tensor idx = pooled.indices;
  KILN_CHECK_GRAD(
      [idx](const In& in) {
        return max_unpool2d(in[0], idx, {2, 2}, {0, 0}, {0, 0}, Pair{6, 7});
      },
      {rand64({2, 3, 3, 3})});
  KILN_CHECK_GRADGRAD(  // a recorded gather: differentiable again
      [idx](const In& in) {
        return square(max_unpool2d(in[0], idx, {2, 2}, {0, 0}, {0, 0}, Pair{6, 7}));
      },
      {rand64({2, 3, 3, 3})});

  // Overlapping windows sharing one maximum: each copy gets the gradient at that place.
  const Tensor peak = from_vector(std::vector<double>{0, 0, 0, 0, 9, 0, 0, 0, 0}, {1, 1, 3, 3});
  const ValuesIndices shared = max_pool2d_with_indices(peak, {2, 2}, {1, 1});
  CHECK(shared.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{4, 4, 4, 4});
  Tensor maxima = shared.values.detach().clone().requires_grad_();
  const Tensor upstream = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  sum(max_unpool2d(maxima, shared.indices, {2, 2}, {1, 1}, {0, 0}, Pair{3, 3}) * upstream).backward();
  check_values(maxima.grad(), {5, 5, 5, 5});

  nn::MaxUnpool2d unpool(2);
  check_same(unpool(pooled.values, pooled.indices, Pair{6, 7}), back, 0.0);
  CHECK(unpool.description() == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))");
  CHECK_THROWS_WITH_AS(unpool(pooled.values), doctest::Contains("takes the pooling's indices too"), Error);
  CHECK_THROWS_WITH_AS(max_unpool2d(pooled.values, pooled.indices.to(kInt32), {2, 2}),
                       doctest::Contains("int64"), Error);
  CHECK_THROWS_WITH_AS(max_unpool2d(pooled.values, pooled.indices, {2, 2}, {0, 0}, {0, 0}, Pair{2, 2}),
                       doctest::Contains("is outside the output of (2, 2)"), Error);
  CHECK_THROWS_WITH_AS(max_unpool2d(rand64({3, 3}), pooled.indices, {2, 2}),
                       doctest::Contains("(N, C, H, W)"), Error);
}

TEST_CASE("max_pool1d / max_pool3d with indices, and max_unpool1d / max_unpool3d") {
  manual_seed(76);
  // 1-D by hand: windows of 2 over 5 values, the last one partial under ceil_mode.
  const Tensor seq = tensor<double>({3, 1, 4, 1, 5}, {1, 1, 5});
  const ValuesIndices p1 = max_pool1d_with_indices(seq, 2, 2, 0, true);
  check_values(p1.values, {3, 4, 5});
  CHECK(p1.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2, 4});
  check_values(max_unpool1d(p1.values, p1.indices, 2, 2, 0, 5), {3, 0, 4, 0, 5});
  nn::MaxUnpool1d unpool1(2);
  check_values(unpool1(p1.values, p1.indices, std::int64_t{5}), {3, 0, 4, 0, 5});
  CHECK(unpool1.description() == "MaxUnpool1d(kernel_size=2, stride=2, padding=0)");

  // 3-D: the values are max_pool3d's; each index points at its value in the volume.
  const Tensor vol = positive64({2, 3, 5, 4, 6});
  const ValuesIndices p3 = max_pool3d_with_indices(vol, {2, 3, 2}, {2, 1, 2}, {1, 1, 0}, true);
  check_same(p3.values, max_pool3d(vol, {2, 3, 2}, {2, 1, 2}, {1, 1, 0}, true), 0.0);
  const Tensor at =
      gather(vol.reshape({2, 3, -1}), 2, p3.indices.reshape({2, 3, -1})).reshape(p3.values.shape());
  check_same(at, p3.values, 0.0);
  // Equal values: the first position in (d, h, w) order, as PyTorch.
  const ValuesIndices flat = max_pool3d_with_indices(ones({1, 1, 4, 4, 4}, kFloat64), {2, 2, 2});
  CHECK(flat.indices.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 2, 8, 10, 32, 34, 40, 42});  // d 16 + h 4 + w at even d, h, w
  // Unpooling puts each maximum back; pooling that again gives the same maxima.
  const ValuesIndices q = max_pool3d_with_indices(vol, {2, 2, 2});
  const Tensor back = max_unpool3d(q.values, q.indices, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, Triple{5, 4, 6});
  CHECK(back.shape() == vol.shape());
  check_same(max_pool3d(back, {2, 2, 2}), q.values, 0.0);
  CHECK(sum(ne(back, 0.0).to(kFloat64)).item() == static_cast<double>(q.values.numel()));
  nn::MaxUnpool3d unpool3(2);
  check_same(unpool3(q.values, q.indices, Triple{5, 4, 6}), back, 0.0);
  CHECK(unpool3.description() == "MaxUnpool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0))");
  const Tensor idx = q.indices;
  KILN_CHECK_GRAD(
      [idx](const In& in) {
        return max_unpool3d(in[0], idx, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, Triple{5, 4, 6});
      },
      {rand64(q.values.shape())});
  CHECK_THROWS_WITH_AS(max_unpool3d(q.values, q.indices, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, Triple{2, 2, 2}),
                       doctest::Contains("is outside the output of (2, 2, 2)"), Error);
  CHECK_THROWS_WITH_AS(max_unpool3d(q.values.select(0, 0), q.indices.select(0, 0), {2, 2, 2}),
                       doctest::Contains("(N, C, D, H, W)"), Error);
  CHECK_THROWS_WITH_AS(unpool3(q.values), doctest::Contains("takes the pooling's indices too"), Error);
}
