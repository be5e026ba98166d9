// Channel and alpha dropout, RMS normalisation and local response normalisation: their
// defining properties, float64 gradchecks, the layers, and their errors.
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

// The fraction of (sample, channel) planes of y that are all zero, checking that every
// other plane is x's times `scale` exactly (to rounding).
double dropped_planes(const Tensor& x, const Tensor& y, std::int64_t planes, double scale) {
  const auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  const auto per = static_cast<std::int64_t>(xv.size()) / planes;
  std::int64_t dropped = 0;
  for (std::int64_t q = 0; q < planes; ++q) {
    bool zero = true, scaled = true;
    for (std::int64_t i = q * per; i < (q + 1) * per; ++i) {
      zero = zero && yv[static_cast<std::size_t>(i)] == 0.0;
      scaled =
          scaled && std::abs(yv[static_cast<std::size_t>(i)] - xv[static_cast<std::size_t>(i)] * scale) <=
                        1e-12 * std::abs(xv[static_cast<std::size_t>(i)] * scale);
    }
    CHECK((zero || scaled));
    dropped += zero ? 1 : 0;
  }
  return static_cast<double>(dropped) / static_cast<double>(planes);
}

}  // namespace

TEST_CASE("dropout1d, dropout2d, dropout3d: whole channels dropped, the rest scaled") {
  manual_seed(80);
  const double p = 0.3;
  // (N, C, H, W): 40 x 50 channels; the dropped share near p (binomial sd 0.01).
  const Tensor x = positive64({40, 50, 3, 4});
  const Tensor y = dropout2d(x, p, true);
  CHECK(std::abs(dropped_planes(x, y, 40 * 50, 1 / (1 - p)) - p) < 0.04);
  // Unbatched (C, H, W): each channel is a plane.
  const Tensor c = positive64({400, 2, 2});
  CHECK(std::abs(dropped_planes(c, dropout2d(c, p, true), 400, 1 / (1 - p)) - p) < 0.08);
  const Tensor seq = positive64({30, 40, 5});
  CHECK(std::abs(dropped_planes(seq, dropout1d(seq, p, true), 30 * 40, 1 / (1 - p)) - p) < 0.05);
  const Tensor vol = positive64({20, 50, 2, 2, 3});
  CHECK(std::abs(dropped_planes(vol, dropout3d(vol, p, true), 20 * 50, 1 / (1 - p)) - p) < 0.05);
  // The gradient is the same mask: dy/dx = y / x where x is nonzero.
  Tensor leaf = positive64({6, 8, 3, 3}).requires_grad_();
  const Tensor out = dropout2d(leaf, 0.5, true);
  sum(out).backward();
  check_same(leaf.grad(), out.detach() / leaf.detach(), 1e-12);
  // Evaluation, p = 0: the input itself; p = 1: zeros.
  CHECK(dropout2d(x, p, false).shares_storage(x));
  CHECK(dropout1d(seq, 0.0, true).shares_storage(seq));
  CHECK(max(abs(dropout3d(vol, 1.0, true))).item() == 0.0);
  // A seed gives the same mask again.
  manual_seed(5);
  const Tensor first = dropout2d(x, p, true);
  manual_seed(5);
  check_same(dropout2d(x, p, true), first, 0.0);

  CHECK_THROWS_WITH_AS(dropout2d(rand64({2, 3}), p, true), doctest::Contains("(N, C, H, W) or (C, H, W)"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout1d(rand64({2, 3, 4, 5}), p, true), doctest::Contains("(N, C, L) or (C, L)"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout3d(rand64({2, 3, 4}), p, false), doctest::Contains("(N, C, D, H, W)"), Error);
  CHECK_THROWS_WITH_AS(dropout2d(x, 1.5, true), doctest::Contains("must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(dropout2d(ones({2, 3, 4, 4}, kInt64), 0.5, true), doctest::Contains("dropout2d"),
                       Error);
}

TEST_CASE("alpha_dropout and feature_alpha_dropout keep a standard normal input's mean and variance") {
  manual_seed(81);
  constexpr double alpha = 1.7580993408473766;
  for (const double p : {0.1, 0.5}) {
    CAPTURE(p);
    const double a = 1 / std::sqrt((alpha * alpha * p + 1) * (1 - p));
    const Tensor x = rand64({200000});
    const Tensor y = alpha_dropout(x, p, true);
    // Each entry is a x + alpha a p (kept) or -alpha a (1 - p) (dropped), nothing else.
    const Tensor kept = abs(y - (x * a + alpha * a * p)) < 1e-12;
    const Tensor dropped = abs(y + alpha * a * (1 - p)) < 1e-12;
    CHECK(sum(logical_or(kept, dropped).to(kFloat64)).item() == 200000);
    CHECK(std::abs(mean(dropped.to(kFloat64)).item() - p) < 0.01);
    CHECK(std::abs(mean(y).item()) < 0.01);
    CHECK(std::abs(var(y).item() - 1.0) < 0.02);
  }
  // The gradient is a where kept, 0 where dropped.
  Tensor leaf = rand64({1000}).requires_grad_();
  const Tensor y = alpha_dropout(leaf, 0.2, true);
  sum(y).backward();
  const double a = 1 / std::sqrt((alpha * alpha * 0.2 + 1) * 0.8);
  const Tensor kept = abs(y.detach() - (leaf.detach() * a + alpha * a * 0.2)) < 1e-12;
  check_same(leaf.grad(), kept.to(kFloat64) * a, 1e-15);
  // Per channel: each (sample, channel) plane either all kept or all dropped.
  const Tensor img = rand64({10, 40, 3, 3});
  const Tensor out = feature_alpha_dropout(img, 0.5, true);
  const double a5 = 1 / std::sqrt((alpha * alpha * 0.5 + 1) * 0.5);
  const Tensor plane_dropped = abs(out + alpha * a5 * 0.5) < 1e-12;
  const Tensor plane_share = mean(plane_dropped.to(kFloat64), {2, 3});
  CHECK(sum(logical_and(plane_share > 0.0, plane_share < 1.0).to(kFloat64)).item() == 0);
  CHECK(std::abs(mean(plane_share).item() - 0.5) < 0.1);
  CHECK(alpha_dropout(img, 0.5, false).shares_storage(img));
  CHECK(feature_alpha_dropout(img, 0.0, true).shares_storage(img));
  CHECK(max(abs(alpha_dropout(img, 1.0, true))).item() == 0.0);
  CHECK_THROWS_WITH_AS(feature_alpha_dropout(rand64({5}), 0.5, true), doctest::Contains("(N, C, ...)"),
                       Error);
  CHECK_THROWS_WITH_AS(alpha_dropout(img, -0.1, true), doctest::Contains("must be in [0, 1]"), Error);

  // The layers: training draws, evaluation passes the input through.
  nn::Dropout2d d2(0.25);
  CHECK(d2.description() == "Dropout2d(p=0.25)");
  CHECK(nn::AlphaDropout().description() == "AlphaDropout(p=0.5)");
  CHECK(nn::FeatureAlphaDropout(0.1).description() == "FeatureAlphaDropout(p=0.1)");
  CHECK(nn::Dropout1d(0.2).description() == "Dropout1d(p=0.2)");
  CHECK(nn::Dropout3d(0.2).description() == "Dropout3d(p=0.2)");
  CHECK(!d2(img).shares_storage(img));
  d2.eval();
  CHECK(d2(img).shares_storage(img));
  CHECK_THROWS_AS(nn::Dropout3d(2.0), Error);
}

TEST_CASE("rms_norm: rows divided by their root mean square, gradients, the layer") {
  manual_seed(82);
  const Tensor x = rand64({3, 4, 5}) * 2.0 + 0.5, w = rand64({5}), w2 = rand64({4, 5});
  // The definition, over the last one and two dimensions.
  const Tensor rms1 = sqrt(mean(x * x, {2}, true) + 1e-6);
  check_same(rms_norm(x, {5}, w, 1e-6), x / rms1 * w, 1e-12);
  check_same(rms_norm(x, {5}, Tensor(), 1e-6), x / rms1, 1e-12);
  const Tensor rms2 = sqrt(mean(x * x, {1, 2}, true) + 1e-3);
  check_same(rms_norm(x, {4, 5}, w2, 1e-3), x / rms2 * w2, 1e-12);
  check_same(rms_norm(x.to(kFloat32), {5}, w.to(kFloat32), 1e-6), x / rms1 * w, 1e-5);
  // The default eps is the dtype's machine epsilon.
  check_same(rms_norm(x, {5}), x / sqrt(mean(x * x, {2}, true) + std::numeric_limits<double>::epsilon()),
             1e-15);
  const Tensor xf = x.to(kFloat32);
  check_same(rms_norm(xf, {5}), rms_norm(xf, {5}, Tensor(), std::numeric_limits<float>::epsilon()), 0.0);
  // Each normalised row has a root mean square of 1 (eps 0).
  check_same(sqrt(mean(square(rms_norm(x, {5}, Tensor(), 0.0)), {2})), ones({3, 4}, kFloat64), 1e-12);

  KILN_CHECK_GRAD([](const In& in) { return rms_norm(in[0], {5}, in[1], 1e-5); },
                  {rand64({3, 5}), rand64({5})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return rms_norm(in[0], {3, 4}, in[1], 0.1);
      },
      {rand64({2, 3, 4}), rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return rms_norm(in[0], {6}); }, {rand64({2, 6})});

  nn::RMSNorm norm(5);
  CHECK(norm.weight.shape() == Shape{5});
  CHECK(norm.parameters().size() == 1);
  check_same(norm(x.to(kFloat32)), rms_norm(x.to(kFloat32), {5}), 0.0);
  CHECK(norm.description() == "RMSNorm((5), eps=None, elementwise_affine=true)");
  nn::RMSNorm plain(nn::RMSNormOptions({4, 5}).eps(1e-3).elementwise_affine(false));
  CHECK(plain.parameters().empty());
  CHECK(plain.description() == "RMSNorm((4, 5), eps=0.001, elementwise_affine=false)");
  CHECK_THROWS_AS(nn::RMSNorm(nn::RMSNormOptions({})), Error);
  CHECK_THROWS_AS(nn::RMSNorm(nn::RMSNormOptions({3}).eps(-1.0)), Error);

  CHECK_THROWS_WITH_AS(rms_norm(x, {4}), doctest::Contains("must be the last dimensions"), Error);
  CHECK_THROWS_WITH_AS(rms_norm(x, {5}, rand64({4})), doctest::Contains("weight of shape (4)"), Error);
  CHECK_THROWS_WITH_AS(rms_norm(x, {5}, Tensor(), -1.0), doctest::Contains("eps"), Error);
  CHECK_THROWS_WITH_AS(rms_norm(ones({2, 3}, kInt64), {3}), doctest::Contains("rms_norm"), Error);
}

TEST_CASE("local_response_norm: each channel over its neighbours' squares, gradients, the layer") {
  manual_seed(83);
  // By the definition: the window of `size` channels from c - size/2 to c + (size-1)/2.
  const auto naive = [](const Tensor& x, std::int64_t size, double alpha, double beta, double k) {
    const std::int64_t n = x.size(0), c = x.size(1), rest = x.numel() / (n * c);
    const auto v = x.to_vector<double>();
    std::vector<double> out(v.size());
    for (std::int64_t s = 0; s < n; ++s)
      for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t r = 0; r < rest; ++r) {
          double total = 0;
          for (std::int64_t j = ch - size / 2; j <= ch + (size - 1) / 2; ++j)
            if (j >= 0 && j < c) total += std::pow(v[static_cast<std::size_t>((s * c + j) * rest + r)], 2);
          const auto at = static_cast<std::size_t>((s * c + ch) * rest + r);
          out[at] = v[at] / std::pow(k + alpha / static_cast<double>(size) * total, beta);
        }
    return from_vector(out, x.shape());
  };
  const Tensor img = rand64({2, 7, 3, 4}) * 3.0, seq = rand64({2, 6, 5}) * 3.0, vol = rand64({1, 5, 2, 2, 3});
  for (const std::int64_t size : {1, 2, 3, 5, 9}) {
    CAPTURE(size);
    check_same(local_response_norm(img, size), naive(img, size, 1e-4, 0.75, 1.0), 1e-12);
    check_same(local_response_norm(seq, size, 0.5, 0.6, 2.0), naive(seq, size, 0.5, 0.6, 2.0), 1e-12);
    check_same(local_response_norm(vol, size, 0.1), naive(vol, size, 0.1, 0.75, 1.0), 1e-12);
  }
  check_same(local_response_norm(img.to(kFloat32), 3, 0.2), naive(img, 3, 0.2, 0.75, 1.0), 1e-5);
  KILN_CHECK_GRAD([](const In& in) { return local_response_norm(in[0], 3, 0.5, 0.75, 1.0); },
                  {rand64({2, 5, 3})});
  KILN_CHECK_GRAD([](const In& in) { return local_response_norm(in[0], 2, 1.0, 0.5, 2.0); },
                  {rand64({1, 4, 2, 3})});

  nn::LocalResponseNorm lrn(5);
  check_same(lrn(img), local_response_norm(img, 5), 0.0);
  CHECK(lrn.description() == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1)");
  CHECK_THROWS_AS(nn::LocalResponseNorm(0), Error);
  CHECK_THROWS_WITH_AS(local_response_norm(rand64({3, 4}), 2), doctest::Contains("(N, C, ...)"), Error);
  CHECK_THROWS_WITH_AS(local_response_norm(img, 0), doctest::Contains("size must be >= 1"), Error);
}
