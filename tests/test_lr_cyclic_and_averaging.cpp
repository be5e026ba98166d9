// LambdaLR, CyclicLR and ParameterAverage (EMA / SWA): rates and averages by hand, bad
// arguments, state dicts. The other optimizers and schedules: test_optim.cpp.
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;

TEST_CASE("LambdaLR; the new schedules' bad arguments") {
  Tensor p = ones({1}).requires_grad_();
  optim::SGD opt({p}, optim::SGDOptions(2.0));
  optim::LambdaLR schedule(opt, [](std::int64_t epoch) { return 1.0 / double(epoch + 1); });
  std::vector<double> got{opt.lr()};
  for (int e = 0; e < 3; ++e) {
    schedule.step();
    got.push_back(opt.lr());
  }
  CHECK(got == std::vector<double>{2.0, 1.0, 2.0 / 3, 0.5});
  CHECK_THROWS_WITH_AS(optim::LambdaLR(opt, nullptr), doctest::Contains("the function of the epoch is empty"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::CosineAnnealingWarmRestarts(opt, 0),
                       doctest::Contains("T_0 0 must be positive"), Error);
  CHECK_THROWS_WITH_AS(optim::PolynomialLR(opt, 0), doctest::Contains("total_iters 0 must be positive"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::ConstantLR(opt, 1.5), doctest::Contains("factor 1.5 must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(optim::OneCycleLR(opt, 0.1, 2), doctest::Contains("leaves the rise no steps"), Error);
  optim::OneCycleLR cycle(opt, 0.1, 10);
  for (int s = 0; s < 10; ++s) cycle.step();
  CHECK_THROWS_WITH_AS(cycle.step(),
                       doctest::Contains("OneCycleLR: stepped 11 times, past its total_steps 10"), Error);
}

TEST_CASE("CyclicLR: triangular, triangular2 and exp_range cycles by hand; the momentum the other way") {
  Tensor p = zeros({2}, kFloat64).requires_grad_(true);
  const auto rates = [&](optim::CyclicLROptions o, int steps) {
    optim::SGD opt({p}, optim::SGDOptions(0.1).set_momentum(0.5));
    optim::CyclicLR schedule(opt, 0.1, 1.0, o.set_step_size_up(4).set_step_size_down(2));
    std::vector<double> out{opt.lr()};
    for (int i = 0; i < steps; ++i) {
      schedule.step();
      out.push_back(opt.lr());
    }
    return out;
  };
  // Up over 4 steps, down over 2: 0.1, 0.325, 0.55, 0.775, 1, 0.55, then again.
  const std::vector<double> triangular = rates({}, 12);
  const std::vector<double> expected = {0.1,   0.325, 0.55,  0.775, 1.0,  0.55, 0.1,
                                        0.325, 0.55,  0.775, 1.0,   0.55, 0.1};
  for (std::size_t i = 0; i < expected.size(); ++i)
    CHECK(triangular[i] == doctest::Approx(expected[i]).epsilon(1e-12));
  // triangular2: the second cycle half as high.
  const std::vector<double> halved =
      rates(optim::CyclicLROptions().set_mode(optim::CyclicLROptions::Mode::triangular2), 12);
  CHECK(halved[4] == doctest::Approx(1.0));
  CHECK(halved[10] == doctest::Approx(0.1 + 0.9 / 2).epsilon(1e-12));
  CHECK(halved[8] == doctest::Approx(0.1 + 0.9 / 2 * 0.5).epsilon(1e-12));
  // exp_range: the height times gamma^step.
  const std::vector<double> shrinking =
      rates(optim::CyclicLROptions().set_mode(optim::CyclicLROptions::Mode::exp_range).set_gamma(0.9), 10);
  CHECK(shrinking[4] == doctest::Approx(0.1 + 0.9 * std::pow(0.9, 4)).epsilon(1e-12));
  CHECK(shrinking[10] == doctest::Approx(0.1 + 0.9 * std::pow(0.9, 10)).epsilon(1e-12));

  // The momentum: max_momentum at base_lr, base_momentum at max_lr; Adam's beta1 the same.
  optim::SGD sgd({p}, optim::SGDOptions(0.1).set_momentum(0.5));
  optim::CyclicLR cyclic(sgd, 0.1, 1.0, optim::CyclicLROptions().set_step_size_up(4));
  CHECK(sgd.momentum().value() == doctest::Approx(0.9));
  cyclic.step();
  cyclic.step();
  CHECK(sgd.momentum().value() == doctest::Approx(0.85).epsilon(1e-12));
  cyclic.step();
  cyclic.step();
  CHECK(sgd.momentum().value() == doctest::Approx(0.8).epsilon(1e-12));
  optim::Adam adam({p}, optim::AdamOptions(0.1));
  optim::CyclicLR on_beta(adam, 0.01, 0.1,
                          optim::CyclicLROptions().set_step_size_up(2).set_momentum_range(0.85, 0.95));
  on_beta.step();
  CHECK(adam.options.beta1 == doctest::Approx(0.9).epsilon(1e-12));
  // Resumed from its state, the schedule continues where it was.
  const optim::StateDict state = cyclic.state_dict();
  optim::SGD other({p}, optim::SGDOptions(0.1).set_momentum(0.5));
  optim::CyclicLR resumed(other, 0.1, 1.0, optim::CyclicLROptions().set_step_size_up(4));
  resumed.load_state_dict(state);
  CHECK(other.lr() == doctest::Approx(sgd.lr()).epsilon(1e-15));

  optim::Adagrad adagrad({p}, optim::AdagradOptions(0.1));
  CHECK_THROWS_WITH_AS(optim::CyclicLR(adagrad, 0.1, 1.0), doctest::Contains("set_cycle_momentum(false)"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::CyclicLR(sgd, 1.0, 0.1), doctest::Contains("0 <= base_lr <= max_lr"), Error);
  CHECK_THROWS_WITH_AS(optim::CyclicLR(sgd, 0.1, 1.0, optim::CyclicLROptions().set_step_size_up(0)),
                       doctest::Contains("step_size_up 0 must be >= 1"), Error);
}

TEST_CASE("ParameterAverage: EMA and SWA by hand, swap, state dicts") {
  Tensor p = tensor<double>({1.0, -2.0}).requires_grad_();
  optim::ParameterAverage ema({p}, optim::Averaging::ema, 0.9);
  optim::ParameterAverage swa({p}, optim::Averaging::swa);
  const std::vector<std::vector<double>> path = {{1.0, -2.0}, {3.0, 0.0}, {5.0, 4.0}};
  for (const auto& values : path) {
    {
      NoGradGuard no_grad;
      p.copy_(from_vector(values, {2}));
    }
    ema.update();
    swa.update();
  }
  // EMA: the first update copies, then 0.9 avg + 0.1 p: (1, -2) -> (1.2, -1.8) -> (1.58, -1.22).
  check_values(ema.averages()[0], {1.58, -1.22}, 1e-15);
  // SWA: the mean of the three.
  check_values(swa.averages()[0], {3.0, 2.0 / 3.0}, 1e-15);
  CHECK(swa.num_updates() == 3);

  swa.swap();
  check_values(p, {3.0, 2.0 / 3.0}, 1e-15);
  check_values(swa.averages()[0], {5, 4}, 0);
  swa.swap();
  check_values(p, {5, 4}, 0);
  CHECK(p.requires_grad());

  optim::ParameterAverage restored({p}, optim::Averaging::ema, 0.9);
  restored.load_state_dict(ema.state_dict());
  CHECK(restored.num_updates() == 3);
  check_values(restored.averages()[0], {1.58, -1.22}, 1e-15);
  restored.copy_to();
  check_values(p, {1.58, -1.22}, 1e-15);
  CHECK_THROWS_WITH_AS(restored.load_state_dict({{"num_updates", scalar_tensor(1.0)}}),
                       doctest::Contains("'average.0' is missing"), Error);
  CHECK_THROWS_WITH_AS(optim::ParameterAverage({p}, optim::Averaging::ema, 1.5),
                       doctest::Contains("decay 1.5 must be in [0, 1]"), Error);
}
