// nn::init (fans, gains, the distributions' ranges and spreads) and gradient
// clipping (norms of every order, against values worked out by hand).
#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
namespace init = kiln::nn::init;

namespace {
struct Moments {
  double mean, std, max_abs;
};
Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  double s = 0, m = 0;
  for (double x : v) s += x;
  const double mean = s / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) {
    ss += (x - mean) * (x - mean);
    m = std::max(m, std::abs(x));
  }
  return {mean, std::sqrt(ss / static_cast<double>(v.size() - 1)), m};
}

// A leaf with a gradient set by hand.
Tensor param_with_grad(const std::vector<double>& grad) {
  const auto n = static_cast<std::int64_t>(grad.size());
  Tensor p = zeros({n}, kFloat64).requires_grad_();
  p.set_grad(from_vector(grad, {n}));
  return p;
}
}  // namespace

TEST_CASE("init: gains and fans are torch.nn.init's") {
  CHECK(init::calculate_gain(init::Nonlinearity::Linear) == 1.0);
  CHECK(init::calculate_gain(init::Nonlinearity::Conv) == 1.0);
  CHECK(init::calculate_gain(init::Nonlinearity::Sigmoid) == 1.0);
  CHECK(init::calculate_gain(init::Nonlinearity::Tanh) == doctest::Approx(5.0 / 3.0));
  CHECK(init::calculate_gain(init::Nonlinearity::ReLU) == doctest::Approx(1.4142135623730951));
  CHECK(init::calculate_gain(init::Nonlinearity::SELU) == 0.75);
  // sqrt(2 / (1 + 0.01^2)), and with the slope sqrt 5 that Linear's default implies.
  CHECK(init::calculate_gain(init::Nonlinearity::LeakyReLU) == doctest::Approx(1.4141428569978354));
  CHECK(init::calculate_gain(init::Nonlinearity::LeakyReLU, std::sqrt(5.0)) ==
        doctest::Approx(std::sqrt(1.0 / 3)));

  const init::Fans linear = init::calculate_fans(empty({256, 784}));
  CHECK(linear.fan_in == 784);
  CHECK(linear.fan_out == 256);
  const init::Fans conv = init::calculate_fans(empty({64, 16, 3, 5}));  // (out, in / groups, kh, kw)
  CHECK(conv.fan_in == 16 * 15);
  CHECK(conv.fan_out == 64 * 15);
  CHECK_THROWS_WITH_AS(
      init::calculate_fans(empty({10})),
      doctest::Contains("init::calculate_fans: fan_in and fan_out need a weight of at least 2"), Error);
  CHECK_THROWS_WITH_AS(init::xavier_uniform_(empty({10})), doctest::Contains("init::xavier_uniform_"), Error);
}

TEST_CASE("init: xavier and kaiming draw in their ranges with their spreads") {
  manual_seed(3);
  SUBCASE("xavier_uniform_") {
    const Tensor w = init::xavier_uniform_(empty({300, 200}), 2.0);
    const double b = 2.0 * std::sqrt(6.0 / 500.0);
    const Moments m = moments(w);
    CHECK(m.max_abs <= b);
    CHECK(m.max_abs > 0.999 * b);
    CHECK(m.std == doctest::Approx(b / std::sqrt(3.0)).epsilon(0.02));  // relative standard error 0.2 %
    CHECK(std::abs(m.mean) < 4 * b / std::sqrt(3.0 * 60000));
  }
  SUBCASE("xavier_normal_") {
    const Moments m = moments(init::xavier_normal_(empty({300, 200})));
    CHECK(m.std == doctest::Approx(std::sqrt(2.0 / 500.0)).epsilon(0.02));
  }
  SUBCASE("kaiming_normal_, fan in and fan out, on a convolution weight") {
    const Tensor w = empty({64, 32, 3, 3});
    init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU);
    Moments m = moments(w);
    CHECK(m.std == doctest::Approx(std::sqrt(2.0 / 288.0)).epsilon(0.03));
    CHECK(std::abs(m.mean) < 4 * m.std / std::sqrt(18432.0));
    init::kaiming_normal_(w, 0.0, init::FanMode::FanOut, init::Nonlinearity::ReLU);
    m = moments(w);
    CHECK(m.std == doctest::Approx(std::sqrt(2.0 / 576.0)).epsilon(0.03));
  }
  SUBCASE("kaiming_uniform_ with slope sqrt 5 is Linear's default") {
    manual_seed(9);
    nn::Linear fc(50, 20);
    manual_seed(9);
    const Tensor w = init::kaiming_uniform_(empty({20, 50}), std::sqrt(5.0));
    test::check_same(w, fc.weight, 1e-6);
    CHECK(moments(w).max_abs <= 1.0 / std::sqrt(50.0) * (1 + 1e-6));
  }
  SUBCASE("uniform_, normal_, constant_") {
    const Moments u = moments(init::uniform_(empty({20000}, kFloat64), -1.0, 3.0));
    CHECK(u.mean == doctest::Approx(1.0).epsilon(0.02));
    CHECK(u.max_abs <= 3.0);
    const Moments n = moments(init::normal_(empty({20000}, kFloat64), 5.0, 0.5));
    CHECK(n.mean == doctest::Approx(5.0).epsilon(0.002));
    CHECK(n.std == doctest::Approx(0.5).epsilon(0.03));
    check_values(init::constant_(empty({3}), -2.5), {-2.5, -2.5, -2.5});
    check_values(init::ones_(empty({2})), {1, 1});
    check_values(init::zeros_(full({2}, 7.0)), {0, 0});
  }
}

TEST_CASE("init: fills in place, through views, without autograd, repeatably") {
  Tensor w = ones({4, 3}).requires_grad_();
  const Tensor same = init::zeros_(w.slice(0, 0, 2));  // the first two rows only
  check_values(w, {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1});
  CHECK(same.shares_storage(w));
  init::normal_(w);
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());

  manual_seed(4);
  const Tensor a = init::xavier_uniform_(empty({5, 7}, kFloat64));
  manual_seed(4);
  const Tensor b = init::xavier_uniform_(empty({5, 7}, kFloat64));
  CHECK(a.to_vector<double>() == b.to_vector<double>());

  const Tensor none = empty({0, 5});
  CHECK_NOTHROW(init::kaiming_uniform_(none));  // nothing to fill
  CHECK_THROWS_WITH_AS(init::normal_(zeros({3}, kInt64)),
                       doctest::Contains("initialisers fill float32 or float64"), Error);
  CHECK_THROWS_WITH_AS(init::uniform_(empty({3}), 2.0, 1.0), doctest::Contains("low <= high"), Error);
  CHECK_THROWS_WITH_AS(init::normal_(empty({3}), 0.0, -1.0), doctest::Contains("std >= 0"), Error);
  CHECK_THROWS_WITH_AS(init::zeros_(Tensor()), doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS(init::xavier_normal_(empty({3, 3}), -1.0), doctest::Contains("gain must be finite and >= 0"),
                       Error);
}

TEST_CASE("clip_grad_norm_: the joined norm of every order, and the scaling") {
  SUBCASE("2-norm over two parameters: sqrt(3^2 + 4^2 + 12^2) = 13") {
    const Tensor a = param_with_grad({3, -4}), b = param_with_grad({12});
    const Tensor norm = nn::clip_grad_norm_({a, b}, 6.5);
    CHECK(norm.dim() == 0);
    CHECK(norm.item() == doctest::Approx(13.0));
    const double s = 6.5 / (13.0 + 1e-6);
    check_values(a.grad(), {3 * s, -4 * s}, 1e-12);
    check_values(b.grad(), {12 * s}, 1e-12);
    CHECK(nn::clip_grad_norm_({a, b}, 6.5).item() == doctest::Approx(6.5));
  }
  SUBCASE("under the limit the gradients are left exactly as they were") {
    const Tensor a = param_with_grad({0.1, 0.2}), b = param_with_grad({-0.3});
    CHECK(nn::clip_grad_norm_({a, b}, 1.0).item() == doctest::Approx(std::sqrt(0.14)));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{0.1, 0.2});
    CHECK(b.grad().to_vector<double>() == std::vector<double>{-0.3});
  }
  SUBCASE("1-norm, 3-norm and the infinity norm") {
    const auto norm_of = [](double p) {
      return nn::clip_grad_norm_({param_with_grad({3, -4}), param_with_grad({12})}, 100.0, p).item();
    };
    CHECK(norm_of(1.0) == doctest::Approx(19.0));
    CHECK(norm_of(3.0) == doctest::Approx(std::cbrt(27.0 + 64.0 + 1728.0)));
    CHECK(norm_of(nn::kInfNorm) == doctest::Approx(12.0));
    const Tensor a = param_with_grad({3, -4}), b = param_with_grad({12});
    nn::clip_grad_norm_({a, b}, 6.0, nn::kInfNorm);  // the largest magnitude becomes 6
    CHECK(b.grad().item() == doctest::Approx(6.0));
  }
  SUBCASE("parameters without a gradient are skipped; none at all gives 0") {
    const Tensor with = param_with_grad({6, 8});
    const Tensor without = zeros({5}).requires_grad_();
    CHECK(nn::clip_grad_norm_({without, with}, 5.0).item() == doctest::Approx(10.0));
    check_values(with.grad(), {3, 4}, 1e-6);
    CHECK(!without.grad().defined());
    CHECK(nn::clip_grad_norm_({without}, 1.0).item() == 0.0);
    CHECK(nn::clip_grad_norm_({}, 1.0).item() == 0.0);
  }
  SUBCASE("a network's gradients after backward(), against a float64 sum of squares") {
    manual_seed(2);
    nn::Linear fc1(8, 6), fc2(6, 3);
    const Tensor loss = sum(pow(fc2(relu(fc1(randn({5, 8})))), 2.0)) * 10.0;
    loss.backward();
    double squares = 0;
    for (nn::Linear* l : {&fc1, &fc2})
      for (const Tensor& p : l->parameters())
        for (double g : p.grad().to_vector<double>()) squares += g * g;
    std::vector<Tensor> params = fc1.parameters();
    for (const Tensor& p : fc2.parameters()) params.push_back(p);
    const std::vector<double> before = fc1.weight.grad().to_vector<double>();
    CHECK(nn::clip_grad_norm_(params, 1.0).item() == doctest::Approx(std::sqrt(squares)).epsilon(1e-6));
    const std::vector<double> after = fc1.weight.grad().to_vector<double>();
    for (std::size_t i = 0; i < before.size(); ++i)
      CHECK(after[i] == doctest::Approx(before[i] / std::sqrt(squares)).epsilon(1e-5));
  }
}

TEST_CASE("clip_grad_norm_ and clip_grad_value_: bad input") {
  const Tensor a = param_with_grad({1, 2});
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_({a}, -1.0), doctest::Contains("max_norm must be finite and >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_({a}, 1.0, 0.0), doctest::Contains("norm_type must be > 0"), Error);
  Tensor f32 = zeros({2}).requires_grad_();
  f32.set_grad(ones({2}));
  const Tensor no_grad = zeros({2}).requires_grad_();  // skipped: the parameters keep their numbers
  CHECK_THROWS_WITH_AS(
      nn::clip_grad_norm_({no_grad, a, f32}, 1.0),
      doctest::Contains("parameter 1's gradient is float64 on cpu but parameter 2's is float32"), Error);
  const Tensor bad = param_with_grad({1, std::nan("")});
  CHECK_NOTHROW(nn::clip_grad_norm_({bad}, 1.0));
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_({bad}, 1.0, 2.0, /*error_if_nonfinite=*/true),
                       doctest::Contains("holds NaN or infinity"), Error);
  CHECK_THROWS_WITH_AS(nn::clip_grad_value_({a}, -0.5),
                       doctest::Contains("clip_value must be finite and >= 0"), Error);
}

TEST_CASE("clip_grad_value_ clamps every element") {
  const Tensor a = param_with_grad({-3, 0.5, 2}), b = param_with_grad({1.5});
  nn::clip_grad_value_({a, b}, 1.0);
  check_values(a.grad(), {-1, 0.5, 1});
  check_values(b.grad(), {1});
}

TEST_CASE("init: trunc_normal_ stays in range with the truncated normal's moments; orthogonal_; eye_") {
  manual_seed(101);
  const Tensor t = nn::init::trunc_normal_(empty({100000}, kFloat64));
  CHECK(min(t).item() >= -2.0);
  CHECK(max(t).item() <= 2.0);
  // N(0, 1) on [-2, 2]: mean 0, variance 1 - 4 phi(2) / (Phi(2) - Phi(-2)) = 0.77374.
  CHECK(std::abs(mean(t).item()) < 0.01);
  CHECK(var(t).item() == doctest::Approx(0.77374).epsilon(0.02));
  // N(1, 2^2) on [0, 3]: mean 1 + 2 (phi(-0.5) - phi(1)) / (Phi(1) - Phi(-0.5)) = 1.41328.
  const Tensor shifted = nn::init::trunc_normal_(empty({100000}), 1.0, 2.0, 0.0, 3.0);
  CHECK(min(shifted).item() >= 0.0);
  CHECK(max(shifted).item() <= 3.0);
  CHECK(mean(shifted).item() == doctest::Approx(1.41328).epsilon(0.01));
  CHECK_THROWS_WITH_AS(nn::init::trunc_normal_(empty({3}), 0.0, 1.0, 50.0, 60.0),
                       doctest::Contains("holds no mass"), Error);
  for (const Shape& shape : {Shape{6, 4}, Shape{4, 6}, Shape{5, 5}, Shape{3, 2, 2, 2}}) {
    CAPTURE(fmt(shape));
    const Tensor w = nn::init::orthogonal_(empty(shape, kFloat64), 1.5).reshape({shape[0], -1});
    const bool wide = w.size(0) < w.size(1);
    const Tensor gram = wide ? matmul(w, w.t()) : matmul(w.t(), w);
    const std::int64_t k = gram.size(0);
    std::vector<double> eye(static_cast<std::size_t>(k * k), 0.0);
    for (std::int64_t i = 0; i < k; ++i) eye[static_cast<std::size_t>(i * k + i)] = 2.25;
    check_values(gram, eye, 1e-12);
  }
  const Tensor on_float = nn::init::orthogonal_(empty({8, 8}));
  kiln::test::check_same(matmul(on_float, on_float.t()), nn::init::eye_(empty({8, 8})), 1e-5);
  check_values(nn::init::eye_(empty({2, 3})), {1, 0, 0, 0, 1, 0});
  CHECK_THROWS_WITH_AS(nn::init::orthogonal_(empty({4})), doctest::Contains("at least 2 dimensions"), Error);
  CHECK_THROWS_WITH_AS(nn::init::eye_(empty({2, 2, 2})), doctest::Contains("needs a 2-D tensor"), Error);
}
