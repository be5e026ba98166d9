// Normal, Bernoulli and Categorical: densities and entropies against their formulas by
// hand, KL divergences against sums and integrals done directly, sample statistics for a
// fixed seed, float64 gradchecks (rsample with its noise fixed), errors; and every
// density, entropy and KL against torch.distributions' values
// (tests/distributions_torch_reference.py).
#include <cmath>
#include <numbers>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;
namespace D = kiln::distributions;

TEST_CASE("Normal: log_prob, entropy, cdf and icdf by hand; KL; samples; gradients") {
  const D::Normal n(tensor<double>({0.0, 1.0}), tensor<double>({1.0, 2.0}));
  const double half_log_2pi = 0.5 * std::log(2 * std::numbers::pi);
  // N(0, 1) at 1: -1/2 - log(2 pi)/2; N(1, 4) at 1: -log 2 - log(2 pi)/2.
  check_values(n.log_prob(tensor<double>({1.0, 1.0})), {-0.5 - half_log_2pi, -std::log(2.0) - half_log_2pi},
               1e-15);
  check_values(n.entropy(), {0.5 + half_log_2pi, 0.5 + half_log_2pi + std::log(2.0)}, 1e-15);
  check_values(n.cdf(tensor<double>({0.0, 3.0})), {0.5, 0.5 * std::erfc(-1.0 / std::sqrt(2.0))}, 1e-15);
  check_values(n.icdf(n.cdf(tensor<double>({-1.3, 2.2}))), {-1.3, 2.2}, 1e-12);
  check_values(n.variance(), {1, 4}, 0);
  // Broadcast parameters: a scalar scale for a batch of means.
  CHECK(D::Normal(zeros({3, 1}, kFloat64), ones({2}, kFloat64)).batch_shape() == Shape{3, 2});

  // KL by its formula against a direct integral of p log(p / q) on a fine grid.
  const D::Normal p(tensor<double>({0.3}), tensor<double>({0.7})),
      q(tensor<double>({-0.5}), tensor<double>({1.3}));
  const Tensor grid = arange(-12.0, 12.0, 1e-3, kFloat64);
  const Tensor lp = p.log_prob(grid), lq = q.log_prob(grid);
  const double integral = sum(exp(lp) * (lp - lq)).item() * 1e-3;
  CHECK(std::abs(D::kl_divergence(p, q).item() - integral) < 1e-9);
  CHECK(D::kl_divergence(p, p).item() == doctest::Approx(0.0).epsilon(1e-15));

  manual_seed(5);
  const Tensor draws = n.sample({200000});
  CHECK(draws.shape() == Shape{200000, 2});
  CHECK_FALSE(draws.requires_grad());
  check_values(mean(draws, {0}), {0, 1}, 0.02);  // 4 standard errors: 4 * 2 / sqrt(2e5) = 0.018
  check_values(var(draws, {0}), {1, 4}, 0.03);

  const Tensor mu = rand64({3}), sigma = abs(rand64({3})) + 0.5, x = rand64({3});
  KILN_CHECK_GRAD([](const In& in) { return D::Normal(in[0], in[1]).log_prob(in[2]); },
                  {mu.clone().requires_grad_(), sigma.clone().requires_grad_(), x.clone().requires_grad_()});
  KILN_CHECK_GRAD(
      [](const In& in) { return D::Normal(in[0], in[1]).entropy() + D::Normal(in[0], in[1]).cdf(in[2]); },
      {mu.clone().requires_grad_(), sigma.clone().requires_grad_(), x.clone().requires_grad_()});
  KILN_CHECK_GRAD(
      [](const In& in) { return D::kl_divergence(D::Normal(in[0], in[1]), D::Normal(in[2], in[3])); },
      {mu.clone().requires_grad_(), sigma.clone().requires_grad_(), x.clone().requires_grad_(),
       (sigma * 1.5).requires_grad_()});
  // rsample is loc + scale eps with the generator's eps: seeded, the same draw each call.
  KILN_CHECK_GRAD(
      [](const In& in) {
        manual_seed(9);
        return D::Normal(in[0], in[1]).rsample({4});
      },
      {mu.clone().requires_grad_(), sigma.clone().requires_grad_()});
  CHECK_THROWS_WITH_AS(D::Normal(zeros({2}), ones({3})), doctest::Contains("Normal"), Error);
}

TEST_CASE("Bernoulli: from probabilities and from logits alike; KL; samples; gradients") {
  const D::Bernoulli b = D::Bernoulli::from_probs(tensor<double>({0.2, 0.5, 0.9}));
  check_values(b.log_prob(tensor<double>({1.0, 0.0, 0.0})), {std::log(0.2), std::log(0.5), std::log(0.1)},
               1e-12);
  const auto h = [](double p) { return -p * std::log(p) - (1 - p) * std::log(1 - p); };
  check_values(b.entropy(), {h(0.2), h(0.5), h(0.9)}, 1e-12);
  check_values(b.variance(), {0.16, 0.25, 0.09}, 1e-15);
  const D::Bernoulli l = D::Bernoulli::from_logits(tensor<double>({std::log(0.25), 0.0, std::log(9.0)}));
  check_same(l.probs, b.probs, 1e-15);
  check_same(l.log_prob(tensor<double>({0.0, 1.0, 1.0})),
             tensor<double>({std::log(0.8), std::log(0.5), std::log(0.9)}), 1e-12);
  // Extreme logits stay finite where probabilities would round to 0 or 1.
  const D::Bernoulli sure = D::Bernoulli::from_logits(tensor<double>({-800.0, 800.0}));
  check_values(sure.log_prob(tensor<double>({0.0, 1.0})), {0, 0}, 0);
  check_values(sure.log_prob(tensor<double>({1.0, 0.0})), {-800, -800}, 1e-12);

  const D::Bernoulli q = D::Bernoulli::from_probs(tensor<double>({0.6, 0.5, 0.3}));
  const auto kl = [](double p, double r) {
    return p * std::log(p / r) + (1 - p) * std::log((1 - p) / (1 - r));
  };
  check_values(D::kl_divergence(b, q), {kl(0.2, 0.6), 0.0, kl(0.9, 0.3)}, 1e-12);

  manual_seed(6);
  const Tensor draws = b.sample({100000});
  CHECK(draws.shape() == Shape{100000, 3});
  check_values(mean(draws, {0}), {0.2, 0.5, 0.9}, 0.007);  // 4 standard errors at p = 1/2: 0.0063
  CHECK(sum(draws * (1.0 - draws)).item() == 0.0);         // only 0s and 1s

  KILN_CHECK_GRAD(
      [](const In& in) {
        const D::Bernoulli d = D::Bernoulli::from_logits(in[0]);
        return d.log_prob(in[1]) + d.entropy() + D::kl_divergence(d, D::Bernoulli::from_logits(in[2]));
      },
      {rand64({4}).requires_grad_(), tensor<double>({0.0, 1.0, 1.0, 0.0}), rand64({4}).requires_grad_()});
}

TEST_CASE("Categorical: normalisation, log_prob with broadcasting, entropy, KL, samples, gradients") {
  const D::Categorical c = D::Categorical::from_probs(tensor<double>({{1, 1, 2}, {0, 3, 1}}));
  CHECK(c.batch_shape() == Shape{2});
  CHECK(c.num_classes() == 3);
  check_values(c.probs, {0.25, 0.25, 0.5, 0, 0.75, 0.25}, 1e-15);
  const Tensor idx = from_vector(std::vector<std::int64_t>{2, 1}, {2});
  check_values(c.log_prob(idx), {std::log(0.5), std::log(0.75)}, 1e-15);
  // Values of shape (3, 2) against the batch of 2; or (3, 1), broadcast.
  const Tensor many = from_vector(std::vector<std::int64_t>{0, 0, 1, 1, 2, 2}, {3, 2});
  CHECK(c.log_prob(many).shape() == Shape{3, 2});
  check_values(c.log_prob(many).select(1, 0), {std::log(0.25), std::log(0.25), std::log(0.5)}, 1e-15);
  // A class of probability 0: entropy adds nothing for it.
  check_values(
      c.entropy(),
      {-(0.5 * std::log(0.25) + 0.5 * std::log(0.5)), -(0.75 * std::log(0.75) + 0.25 * std::log(0.25))},
      1e-15);
  const D::Categorical l =
      D::Categorical::from_logits(tensor<double>({{0, 0, std::log(2.0)}, {5, 5 + std::log(3.0), 5}}));
  check_values(l.probs, {0.25, 0.25, 0.5, 0.2, 0.6, 0.2}, 1e-15);
  const double kl0 = 0.0, kl1 = 0.75 * std::log(0.75 / 0.6) + 0.25 * std::log(0.25 / 0.2);
  check_values(D::kl_divergence(c, l), {kl0, kl1}, 1e-12);

  manual_seed(7);
  const Tensor draws = c.sample({100000});
  CHECK(draws.dtype() == kInt64);
  CHECK(draws.shape() == Shape{100000, 2});
  const auto v = draws.to_vector<std::int64_t>();
  std::vector<double> freq(6, 0.0);
  for (std::size_t i = 0; i < v.size(); ++i) freq[(i % 2) * 3 + static_cast<std::size_t>(v[i])] += 1e-5;
  check_values(from_vector(freq, {6}), {0.25, 0.25, 0.5, 0, 0.75, 0.25}, 0.0075);
  CHECK(freq[3] == 0.0);  // never the class of probability 0

  KILN_CHECK_GRAD(
      [idx](const In& in) {
        const D::Categorical d = D::Categorical::from_logits(in[0]);
        return d.log_prob(idx) + d.entropy() + D::kl_divergence(d, D::Categorical::from_logits(in[1]));
      },
      {rand64({2, 3}).requires_grad_(), rand64({2, 3}).requires_grad_()});
  CHECK_THROWS_WITH_AS(c.log_prob(tensor<double>({1.0})), doctest::Contains("int64 class indices"), Error);
  CHECK_THROWS_WITH_AS(D::kl_divergence(c, D::Categorical::from_logits(zeros({2, 4}, kFloat64))),
                       doctest::Contains("3 and 4 classes"), Error);
}

// The values tests/distributions_torch_reference.py printed with PyTorch 2.15 (float64).
TEST_CASE("distributions match torch.distributions") {
  namespace D = kiln::distributions;
  const auto t = [](std::initializer_list<double> v) { return tensor<double>(v); };
  const D::Normal n(t({0.3, -1.2, 2.0}), t({0.5, 1.7, 0.05}));
  const D::Normal m(t({0.0, 1.0, 1.9}), t({1.0, 0.3, 0.2}));
  const Tensor x = t({0.1, 0.4, 2.02});
  check_values(n.log_prob(x), {-0.30579135264472734, -1.8924733586613067, 1.9967937403493181}, 1e-12);
  check_values(n.entropy(), {0.7257913526447274, 1.949566784266843, -1.5767937403493182}, 1e-12);
  check_values(n.cdf(x), {0.3445782583896759, 0.8266927837484748, 0.6554217416103243}, 1e-12);
  check_values(n.icdf(t({0.1, 0.5, 0.975})), {-0.3407757827723004, -1.2, 2.0979981992270025}, 1e-12);
  check_values(D::kl_divergence(n, m), {0.36314718055994527, 40.709843389056346, 1.0425443611198908}, 1e-12);

  const D::Bernoulli bp = D::Bernoulli::from_probs(t({0.2, 0.7, 0.999}));
  const D::Bernoulli bl = D::Bernoulli::from_logits(t({-2.5, 0.3, 8.0}));
  const Tensor k = t({1.0, 0.0, 1.0});
  check_values(bp.log_prob(k), {-1.6094379124341003, -1.203972804325936, -0.0010005003335835348}, 1e-12);
  check_values(bp.entropy(), {0.5004024235381879, 0.6108643020548935, 0.007907255112232094}, 1e-12);
  check_values(bl.log_prob(k), {-2.5788897342925496, -0.8543552444685272, -0.00033540637289576885}, 1e-12);
  check_values(bl.entropy(), {0.2685351843456587, 0.6820224894250294, 0.0030182074166267446}, 1e-12);
  check_values(D::kl_divergence(bp, bl), {0.07848731075436177, 0.03349094241363362, 0.0004281512606636829},
               1e-12);

  const D::Categorical cl = D::Categorical::from_logits(tensor<double>({{0.1, -1.0, 2.0}, {3.0, 0.0, -3.0}}));
  const D::Categorical cp = D::Categorical::from_probs(tensor<double>({{0.2, 0.3, 0.5}, {0.9, 0.05, 0.05}}));
  const Tensor c = tensor<std::int64_t>({2, 1});
  check_values(cl.log_prob(c), {-0.1817844855891133, -3.050945763522998}, 1e-12);
  check_values(cl.entropy(), {0.5432632246423977, 0.2070220276732504}, 1e-12);
  check_values(cp.log_prob(c), {-0.6931471805599453, -2.995732273553991}, 1e-12);
  check_values(cp.entropy(), {1.0296530140645737, 0.39439769144744274}, 1e-12);
  check_values(D::kl_divergence(cl, cp), {0.2853574034598965, 0.04190264131515211}, 1e-12);
}
