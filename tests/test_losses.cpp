// The likelihood, margin and class-margin losses: values by hand and against other ops, float64
// gradchecks, errors; the loss modules (nn::MSELoss ...) against their functions.
#include <cmath>
#include <numbers>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::positive64;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
// Values in (0.1, 0.9): probabilities away from the ends.
Tensor probabilities64(const Shape& shape) { return rand(shape, kFloat64) * 0.8 + 0.1; }
// Entries of +1 and -1.
Tensor signs64(const Shape& shape) {
  return where(rand(shape, kFloat64) < 0.5, 1.0, scalar_tensor(-1.0, kFloat64));
}
}  // namespace

TEST_CASE("binary_cross_entropy: values, clamped logs at 0 and 1, weights, gradients, range") {
  const Tensor x = tensor<double>({0.8, 0.3, 0.0, 1.0}), y = tensor<double>({1, 0, 1, 1});
  check_values(binary_cross_entropy(x, y, Tensor(), Reduction::none),
               {-std::log(0.8), -std::log(0.7), 100, 0}, 1e-12);
  CHECK(binary_cross_entropy(x, y).item() == doctest::Approx((100 - std::log(0.8) - std::log(0.7)) / 4));
  check_values(binary_cross_entropy(x, y, tensor<double>({2.0}), Reduction::none),
               {-2 * std::log(0.8), -2 * std::log(0.7), 200, 0}, 1e-12);
  manual_seed(81);
  // The same losses as binary_cross_entropy_with_logits on the logits log(x / (1 - x)).
  const Tensor p = probabilities64({3, 4}), t = rand(Shape{3, 4}, kFloat64);
  check_same(binary_cross_entropy(p, t, Tensor(), Reduction::none),
             binary_cross_entropy_with_logits(log(p / (1.0 - p)), t, Tensor(), Reduction::none), 1e-12);
  // Gradients: (x - y) / (x (1 - x)) in x, log(1 - x) - log(x) in the target, both weighted.
  KILN_CHECK_GRAD([](const In& in) { return binary_cross_entropy(in[0], in[1]); },
                  {probabilities64({3, 4}), probabilities64({3, 4})});
  const Tensor w = positive64({4});
  KILN_CHECK_GRAD([w](const In& in) { return binary_cross_entropy(in[0], in[1], w, Reduction::sum); },
                  {probabilities64({2, 4}), probabilities64({2, 4})});
  // At x = 0 with y = 0 the gradient is 0 / 1e-12 = 0, finite, as PyTorch's.
  Tensor edge = zeros({1}, kFloat64).requires_grad_();
  binary_cross_entropy(edge, zeros({1}, kFloat64)).backward();
  CHECK(edge.grad().item() == 0.0);
  CHECK_THROWS_WITH_AS(
      binary_cross_entropy(tensor<double>({0.5, 1.5}), tensor<double>({0, 1})),
      doctest::Contains("binary_cross_entropy: input of shape (2) has values outside [0, 1]; "
                        "pass probabilities"),
      Error);
  CHECK_THROWS_WITH_AS(binary_cross_entropy(p, t.t()), doctest::Contains("and target of shape (4, 3) differ"),
                       Error);
}

TEST_CASE("gaussian_nll_loss: values, variance shapes, the raised variance's gradient, errors") {
  const Tensor mu = tensor<double>({1.0, 0.0}), target = tensor<double>({3.0, 0.5}),
               var = tensor<double>({2, 1});
  const double first = 0.5 * (std::log(2.0) + 4.0 / 2.0), second = 0.5 * (0.0 + 0.25);
  check_values(gaussian_nll_loss(mu, target, var, false, 1e-6, Reduction::none), {first, second}, 1e-12);
  const double c = 0.5 * std::log(2 * std::numbers::pi);
  CHECK(gaussian_nll_loss(mu, target, var, true).item() == doctest::Approx((first + second) / 2 + c));
  // A variance under eps counts as eps, and its gradient still flows, at eps.
  Tensor tiny = tensor<double>({1e-9}).requires_grad_();
  gaussian_nll_loss(tensor<double>({0.0}), tensor<double>({1e-3}), tiny, false, 1e-6, Reduction::sum)
      .backward();
  CHECK(tiny.grad().item() == doctest::Approx(0.5 * (1 / 1e-6 - 1e-6 / 1e-12)));
  manual_seed(82);
  const Tensor x = rand64({3, 4}), y = rand64({3, 4});
  const Tensor per_row = positive64({3});
  check_same(gaussian_nll_loss(x, y, per_row), gaussian_nll_loss(x, y, per_row.unsqueeze(1).expand({3, 4})),
             1e-12);
  check_same(gaussian_nll_loss(x, y, per_row.unsqueeze(1)), gaussian_nll_loss(x, y, per_row), 1e-12);
  KILN_CHECK_GRAD([](const In& in) { return gaussian_nll_loss(in[0], in[1], in[2], true); },
                  {rand64({3, 4}), rand64({3, 4}), positive64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return gaussian_nll_loss(in[0], in[1], in[2]); },
                  {rand64({3, 4}), rand64({3, 4}), positive64({3})});
  CHECK_THROWS_WITH_AS(
      gaussian_nll_loss(x, y, positive64({4})),
      doctest::Contains("gaussian_nll_loss: var of shape (4) does not fit the input's shape (3, 4)"), Error);
  CHECK_THROWS_WITH_AS(gaussian_nll_loss(x, y, -per_row), doctest::Contains("variances must be >= 0"), Error);
}

TEST_CASE("poisson_nll_loss: log rates, rates, Stirling's term, gradients") {
  const Tensor x = tensor<double>({0.5, 2.0}), t = tensor<double>({3.0, 1.0});
  check_values(poisson_nll_loss(x, t, true, false, 1e-8, Reduction::none),
               {std::exp(0.5) - 1.5, std::exp(2.0) - 2.0}, 1e-12);
  check_values(poisson_nll_loss(x, t, false, false, 1e-8, Reduction::none),
               {0.5 - 3 * std::log(0.5 + 1e-8), 2.0 - std::log(2.0 + 1e-8)}, 1e-12);
  const double stirling = 3 * std::log(3.0) - 3 + 0.5 * std::log(2 * std::numbers::pi * 3);  // only t = 3 > 1
  check_values(poisson_nll_loss(x, t, true, true, 1e-8, Reduction::none),
               {std::exp(0.5) - 1.5 + stirling, std::exp(2.0) - 2.0}, 1e-12);
  manual_seed(83);
  const Tensor counts = floor(rand(Shape{3, 4}, kFloat64) * 4.0);  // 0 .. 3, zeros included
  KILN_CHECK_GRAD([counts](const In& in) { return poisson_nll_loss(in[0], counts, true, true); },
                  {rand64({3, 4})});
  KILN_CHECK_GRAD([counts](const In& in) { return poisson_nll_loss(in[0], counts, false); },
                  {positive64({3, 4})});
  // Zero counts with `full` stay finite, in the loss and in the target's gradient.
  Tensor target = counts.clone().requires_grad_();
  poisson_nll_loss(rand64({3, 4}), target, true, true).backward();
  CHECK(all(isfinite(target.grad())).item() == 1.0);
}

TEST_CASE("multilabel_soft_margin_loss: the class mean of binary cross-entropy, weights, gradients") {
  manual_seed(84);
  const Tensor x = rand64({3, 5}),
               y = where(rand(Shape{3, 5}, kFloat64) < 0.5, 1.0, scalar_tensor(0.0, kFloat64));
  const Tensor per_class = binary_cross_entropy_with_logits(x, y, Tensor(), Reduction::none);
  check_same(multilabel_soft_margin_loss(x, y, Tensor(), Reduction::none), mean(per_class, {1}), 1e-12);
  const Tensor w = positive64({5});
  check_same(multilabel_soft_margin_loss(x, y, w), mean(mean(per_class * w, {1})), 1e-12);
  KILN_CHECK_GRAD([w](const In& in) { return multilabel_soft_margin_loss(in[0], in[1], w); },
                  {rand64({3, 5}), probabilities64({3, 5})});
  CHECK_THROWS_WITH_AS(multilabel_soft_margin_loss(zeros({3, 0}), zeros({3, 0})),
                       doctest::Contains("needs a last dimension of classes"), Error);
}

TEST_CASE("margin, hinge and soft-margin losses: values by hand, gradients") {
  const Tensor a = tensor<double>({2.0, 0.5, 1.0}), b = tensor<double>({1.0, 1.0, 1.0}),
               y = tensor<double>({1, 1, -1});
  // -y (a - b) + margin, at least 0: (−1 + 0.5), (0.5 + 0.5), (0 + 0.5)
  check_values(margin_ranking_loss(a, b, y, 0.5, Reduction::none), {0, 1, 0.5});
  check_values(hinge_embedding_loss(a, y, 1.5, Reduction::none), {2.0, 0.5, 0.5});  // x, x, max(0, 1.5 - 1)
  check_values(hinge_embedding_loss(tensor<double>({0.2}), tensor<double>({0.0}), 1.0, Reduction::none),
               {0.8 + 0.2});  // neither 1 nor -1: both parts, as PyTorch's
  check_values(soft_margin_loss(a, y, Reduction::none),
               {std::log1p(std::exp(-2.0)), std::log1p(std::exp(-0.5)), std::log1p(std::exp(1.0))}, 1e-12);
  manual_seed(85);
  const Tensor s = signs64({6});
  KILN_CHECK_GRAD([s](const In& in) { return margin_ranking_loss(in[0], in[1], s, 0.3); },
                  {rand64({6}), rand64({6})});
  KILN_CHECK_GRAD([s](const In& in) { return hinge_embedding_loss(in[0], s, 0.7, Reduction::sum); },
                  {rand64({6})});
  KILN_CHECK_GRAD([s](const In& in) { return soft_margin_loss(in[0], s); }, {rand64({6})});
  CHECK_THROWS_WITH_AS(margin_ranking_loss(a, b, y.unsqueeze(0)),
                       doctest::Contains("same number of dimensions"), Error);
}

TEST_CASE("cosine_embedding_loss, triplet_margin_loss and pairwise_distance") {
  const Tensor u = tensor<double>({{1.0, 0.0}, {1.0, 0.0}}), v = tensor<double>({{1.0, 1.0}, {1.0, 1.0}});
  const double c = 1 / std::sqrt(2.0);
  check_values(cosine_embedding_loss(u, v, tensor<double>({1, -1}), 0.2, Reduction::none), {1 - c, c - 0.2},
               1e-9);
  check_values(cosine_embedding_loss(u[0], v[0], scalar_tensor(1.0, kFloat64)), {1 - c}, 1e-9);  // one pair
  check_values(pairwise_distance(tensor<double>({{0.0, 0.0}}), tensor<double>({{3.0, 4.0}}), 2.0, 0.0),
               {5.0});
  check_values(pairwise_distance(tensor<double>({{0.0, 0.0}}), tensor<double>({{3.0, -4.0}}), 1.0, 0.0),
               {7.0});
  CHECK(pairwise_distance(rand64({3, 4}), rand64({3, 4}), 2.0, 1e-6, true).shape() == Shape{3, 1});
  // Anchor (0, 0), positive 5 away, negatives 10 and 5.5 away: hinge of 5 - d_an + 1.
  const Tensor anchor = zeros({2, 2}, kFloat64), positive = tensor<double>({{3.0, 4.0}, {3.0, 4.0}}),
               negative = tensor<double>({{6.0, 8.0}, {0.0, -5.5}});
  check_values(triplet_margin_loss(anchor, positive, negative, 1.0, 2.0, 0.0, false, Reduction::none),
               {0.0, 0.5}, 1e-12);
  // With swap: the first negative is nearer the positive (5) than the anchor (10), so
  // 5 - 5 + 1; the second is nearer the anchor (5.5, against about 9.96): unchanged.
  check_values(triplet_margin_loss(anchor, positive, negative, 1.0, 2.0, 0.0, true, Reduction::none),
               {1.0, 0.5}, 1e-12);
  manual_seed(86);
  const Tensor s = signs64({4});
  KILN_CHECK_GRAD([s](const In& in) { return cosine_embedding_loss(in[0], in[1], s, 0.1); },
                  {rand64({4, 3}), rand64({4, 3})});
  for (bool swap : {false, true})
    KILN_CHECK_GRAD(
        [swap](const In& in) { return triplet_margin_loss(in[0], in[1], in[2], 2.0, 2.0, 1e-6, swap); },
        {rand64({4, 3}), rand64({4, 3}), rand64({4, 3})});
  KILN_CHECK_GRAD([](const In& in) { return pairwise_distance(in[0], in[1], 3.0); },
                  {rand64({2, 3}), rand64({2, 3})});
  CHECK_THROWS_WITH_AS(cosine_embedding_loss(u, v, tensor<double>({{1.0}})),
                       doctest::Contains("give rows (N, D) with targets (N)"), Error);
  CHECK_THROWS_WITH_AS(triplet_margin_loss(anchor, positive, negative[0]),
                       doctest::Contains("must have the same number of dimensions"), Error);
}

TEST_CASE("multi_margin_loss and multilabel_margin_loss: by hand, weights, gradients, errors") {
  const Tensor x = tensor<double>({{0.1, 0.2, 0.4, 0.8}});
  const Tensor y = from_vector(std::vector<std::int64_t>{3});
  // Against class 3: (1 - 0.8 + 0.1) + (1 - 0.8 + 0.2) + (1 - 0.8 + 0.4) = 1.3, over 4 classes.
  check_values(multi_margin_loss(x, y), {0.325}, 1e-12);
  check_values(multi_margin_loss(x, y, 2), {(0.09 + 0.16 + 0.36) / 4}, 1e-12);
  check_values(multi_margin_loss(x, y, 1, 0.5, tensor<double>({1, 1, 1, 2})), {2 * 0.1 / 4},
               1e-12);  // only 0.5 - 0.8 + 0.4 > 0
  check_values(multi_margin_loss(x.squeeze(0), y, 1, 1.0, Tensor(), Reduction::none), {0.325}, 1e-12);
  // Classes 3 and 0 against 1 and 2: (1 - 0.8 + 0.2) + (1 - 0.8 + 0.4) + (1 - 0.1 + 0.2) + (1 - 0.1 + 0.4).
  const auto lists = [](std::vector<std::int64_t> v) { return from_vector(v, {1, 4}); };
  check_values(multilabel_margin_loss(x, lists({3, 0, -1, 1})), {0.85}, 1e-12);
  check_values(multilabel_margin_loss(x, lists({3, 3, -1, 0})), {2 * 1.3 / 4}, 1e-12);  // listed twice
  check_values(multilabel_margin_loss(x, lists({-1, 3, 0, 1})), {0.0});
  check_values(multilabel_margin_loss(x.squeeze(0), lists({3, 0, -1, 1}).squeeze(0), Reduction::none), {0.85},
               1e-12);

  manual_seed(86);
  const Tensor classes = from_vector(std::vector<std::int64_t>{2, 0, 4, 2, 1});
  const Tensor listed = from_vector(std::vector<std::int64_t>{2, 0, -1, 1, 1, 4, 1, 3, -1, 0,  -1, 2, 3,
                                                              4, 0, 0,  1, 2, 3, 4, 3, -1, -1, -1, -1},
                                    {5, 5});
  for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    KILN_CHECK_GRAD([&](const In& in) { return multi_margin_loss(in[0], classes, 1, 0.8, Tensor(), r); },
                    {rand64({5, 5})});
    KILN_CHECK_GRAD([&](const In& in) { return multi_margin_loss(in[0], classes, 2, 1.0, in[1], r); },
                    {rand64({5, 5}), positive64({5})});
    KILN_CHECK_GRAD([&](const In& in) { return multilabel_margin_loss(in[0], listed, r); }, {rand64({5, 5})});
  }
  CHECK_THROWS_WITH_AS(multi_margin_loss(x, from_vector(std::vector<std::int64_t>{4})),
                       doctest::Contains("target 4 is not in 0 .. 3"), Error);
  CHECK_THROWS_WITH_AS(multi_margin_loss(x, y, 3), doctest::Contains("p = 3 must be 1 or 2"), Error);
  CHECK_THROWS_WITH_AS(multi_margin_loss(x, y, 1, 1.0, tensor<double>({1, 1})),
                       doctest::Contains("one value per class, 4"), Error);
  CHECK_THROWS_WITH_AS(multi_margin_loss(x, classes), doctest::Contains("one class per row"), Error);
  CHECK_THROWS_WITH_AS(multilabel_margin_loss(x, lists({3, 0, -2, 1})),
                       doctest::Contains("target -2 is not in -1 .. 3"), Error);
  CHECK_THROWS_WITH_AS(multilabel_margin_loss(x, listed), doctest::Contains("differ; they must match"),
                       Error);
}

TEST_CASE("cross_entropy and nll_loss with class weights and an ignored target") {
  using In = std::vector<Tensor>;
  manual_seed(87);
  const Tensor logits = rand64({5, 3});
  const Tensor target = tensor<std::int64_t>({0, 2, -1, 1, 2});
  const Tensor w = tensor<double>({0.5, 2.0, 1.5});
  const Tensor logp = log_softmax(logits, 1);
  const auto lp = logp.to_vector<double>();
  const std::vector<std::int64_t> t = {0, 2, -1, 1, 2};
  const std::vector<double> wv = {0.5, 2.0, 1.5};
  std::vector<double> per(5, 0.0);
  double total = 0, weights = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    if (t[i] < 0) continue;  // ignored
    per[i] = -wv[t[i]] * lp[i * 3 + t[i]];
    total += per[i];
    weights += wv[t[i]];
  }
  check_values(cross_entropy(logits, target, Reduction::none, 0.0, w, -1), per, 1e-12);
  CHECK(cross_entropy(logits, target, Reduction::mean, 0.0, w, -1).item() ==
        doctest::Approx(total / weights));
  CHECK(cross_entropy(logits, target, Reduction::sum, 0.0, w, -1).item() == doctest::Approx(total));
  CHECK(nll_loss(logp, target, Reduction::mean, w, -1).item() == doctest::Approx(total / weights));
  // Label smoothing: (1 - e) nll + e / C times the weighted smoothing term, both over the same weights.
  double smooth = 0;
  for (std::size_t i = 0; i < 5; ++i)
    if (t[i] >= 0)
      for (std::size_t j = 0; j < 3; ++j) smooth -= wv[j] * lp[i * 3 + j];
  CHECK(cross_entropy(logits, target, Reduction::mean, 0.2, w, -1).item() ==
        doctest::Approx(0.8 * total / weights + 0.2 / 3 * smooth / weights).epsilon(1e-12));
  // Weights of 1 and nothing ignored: the fused path's values.
  const Tensor all = tensor<std::int64_t>({0, 2, 1, 1, 2});
  CHECK(cross_entropy(logits, all, Reduction::mean, 0.1, ones({3}, kFloat64)).item() ==
        doctest::Approx(cross_entropy(logits, all, Reduction::mean, 0.1).item()).epsilon(1e-12));
  KILN_CHECK_GRAD([&](const In& in) { return cross_entropy(in[0], target, Reduction::mean, 0.1, w, -1); },
                  {rand64({5, 3})});
  KILN_CHECK_GRAD([&](const In& in) { return nll_loss(in[0], target, Reduction::sum, w, -1); },
                  {rand64({5, 3})});
  // Every target ignored: a NaN mean, as PyTorch's, with a zero gradient.
  Tensor leaf = logits.clone().requires_grad_();
  const Tensor nothing = cross_entropy(leaf, full({5}, -1.0, kInt64), Reduction::mean, 0.0, Tensor(), -1);
  CHECK(std::isnan(nothing.item()));
  nothing.backward();
  check_values(leaf.grad(), std::vector<double>(15, 0.0));
  CHECK_THROWS_WITH_AS(cross_entropy(logits, target, Reduction::mean, 0.0, w),
                       doctest::Contains("target -1 of sample 2 is not a class index in [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, all, Reduction::mean, 0.0, ones({4}, kFloat64)),
                       doctest::Contains("weight of shape (4) must be (3), one per class"), Error);
}

TEST_CASE("loss modules: the functional forms, their printouts, weights as buffers") {
  manual_seed(86);
  const Tensor x = rand64({4, 3}), y = rand64({4, 3}), p = probabilities64({4, 3}),
               t = rand(Shape{4, 3}, kFloat64);
  const Tensor labels = tensor<std::int64_t>({0, 2, 1, 2}), w = positive64({3});
  check_same(nn::MSELoss()(x, y), mse_loss(x, y), 0);
  check_same(nn::L1Loss(Reduction::sum)(x, y), l1_loss(x, y, Reduction::sum), 0);
  check_same(nn::SmoothL1Loss(Reduction::none, 0.5)(x, y), smooth_l1_loss(x, y, Reduction::none, 0.5), 0);
  check_same(nn::HuberLoss(Reduction::mean, 0.3)(x, y), huber_loss(x, y, Reduction::mean, 0.3), 0);
  const Tensor s = signs64({4, 3});
  check_same(nn::SoftMarginLoss()(x, s), soft_margin_loss(x, s), 0);
  check_same(nn::HingeEmbeddingLoss(0.5)(x, s), hinge_embedding_loss(x, s, 0.5), 0);
  check_same(nn::KLDivLoss(Reduction::sum, true)(log(p), log(t)),
             kl_div(log(p), log(t), Reduction::sum, true), 0);
  check_same(nn::PoissonNLLLoss(false, true)(p, t * 3.0), poisson_nll_loss(p, t * 3.0, false, true), 0);
  check_same(nn::BCELoss(w)(p, t), binary_cross_entropy(p, t, w), 0);
  check_same(nn::MultiLabelSoftMarginLoss(w, Reduction::none)(x, t),
             multilabel_soft_margin_loss(x, t, w, Reduction::none), 0);
  check_same(nn::BCEWithLogitsLoss(nn::BCEWithLogitsLossOptions().pos_weight(w))(x, t),
             binary_cross_entropy_with_logits(x, t, w), 0);
  // An element weight multiplies each element's loss before the mean, as PyTorch's.
  const Tensor ew = positive64({4, 1});
  check_same(nn::BCEWithLogitsLoss(nn::BCEWithLogitsLossOptions().weight(ew))(x, t),
             mean(binary_cross_entropy_with_logits(x, t, Tensor(), Reduction::none) * ew), 1e-15);
  check_same(nn::CrossEntropyLoss()(x, labels), cross_entropy(x, labels), 0);
  check_same(nn::CrossEntropyLoss(
                 nn::CrossEntropyLossOptions().weight(w).ignore_index(1).label_smoothing(0.1))(x, labels),
             cross_entropy(x, labels, Reduction::mean, 0.1, w, 1), 0);
  check_same(
      nn::NLLLoss(nn::NLLLossOptions().reduction(Reduction::sum).ignore_index(2))(log_softmax(x, 1), labels),
      nll_loss(log_softmax(x, 1), labels, Reduction::sum, Tensor(), 2), 0);
  const Tensor var = positive64({4, 1});
  check_same(nn::GaussianNLLLoss(true)(x, y, var), gaussian_nll_loss(x, y, var, true), 0);
  const Tensor r = signs64({4});
  check_same(nn::MarginRankingLoss(0.2)(x.select(1, 0), x.select(1, 1), r),
             margin_ranking_loss(x.select(1, 0), x.select(1, 1), r, 0.2), 0);
  check_same(nn::CosineEmbeddingLoss(0.1)(x, y, r), cosine_embedding_loss(x, y, r, 0.1), 0);
  check_same(nn::TripletMarginLoss(nn::TripletMarginLossOptions().margin(0.5).p(1).swap(true))(x, y, t),
             triplet_margin_loss(x, y, t, 0.5, 1, 1e-6, true), 0);
  check_same(nn::MultiMarginLoss(nn::MultiMarginLossOptions().p(2).margin(0.7).weight(w))(x, labels),
             multi_margin_loss(x, labels, 2, 0.7, w), 0);
  const Tensor listed = tensor<std::int64_t>({{0, 2, -1}, {1, -1, 0}, {2, 1, 0}, {-1, 0, 0}});
  check_same(nn::MultiLabelMarginLoss(Reduction::sum)(x, listed),
             multilabel_margin_loss(x, listed, Reduction::sum), 0);

  // Gradients reach the input through the module as through the function.
  const Tensor xg = x.clone().requires_grad_();
  nn::CrossEntropyLoss loss_fn;
  loss_fn(xg, labels).backward();
  const Tensor xf = x.clone().requires_grad_();
  cross_entropy(xf, labels).backward();
  check_same(xg.grad(), xf.grad(), 0);

  // Printouts, PyTorch's names; weights are buffers (in the state dict, moved by to()).
  CHECK(nn::MSELoss().str() == "MSELoss(reduction=mean)");
  CHECK(nn::TripletMarginLoss().str() ==
        "TripletMarginLoss(reduction=mean, margin=1, p=2, eps=1e-06, swap=false)");
  nn::CrossEntropyLoss weighted(
      nn::CrossEntropyLossOptions().weight(w).ignore_index(-100).label_smoothing(0.1));
  CHECK(weighted.str() == "CrossEntropyLoss(reduction=mean, ignore_index=-100, label_smoothing=0.1)");
  CHECK(weighted.state_dict().count("weight") == 1);
  CHECK(nn::CrossEntropyLoss().state_dict().empty());
  CHECK(nn::MultiMarginLoss(nn::MultiMarginLossOptions().weight(w)).state_dict().count("weight") == 1);
  CHECK(nn::MultiMarginLoss().str() == "MultiMarginLoss(reduction=mean, p=1, margin=1)");
  CHECK(
      nn::BCEWithLogitsLoss(nn::BCEWithLogitsLossOptions().pos_weight(w)).state_dict().count("pos_weight") ==
      1);

  // A loss called with one tensor says how to call it.
  nn::MSELoss mse;
  nn::Module& as_module = mse;
  CHECK_THROWS_WITH_AS(as_module(x), doctest::Contains("MSELoss: a loss takes an input and a target"), Error);
  nn::TripletMarginLoss triplet;
  nn::Module& three = triplet;
  CHECK_THROWS_WITH_AS(three(x), doctest::Contains("TripletMarginLoss: a loss takes three tensors"), Error);
  // The function's own errors come through unchanged.
  CHECK_THROWS_WITH_AS(mse(x, rand64({3})), doctest::Contains("mse_loss"), Error);
}
