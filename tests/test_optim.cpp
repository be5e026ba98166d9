// Optimizers against hand-computed steps; exact resumption from state_dict.
#include <cmath>
#include <functional>
#include <memory>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;

namespace {
// One step of loss = sum(p * c): the gradient is c.
void step_with_grad(optim::Optimizer& opt, Tensor& p, const Tensor& c) {
  opt.zero_grad();
  sum(p * c).backward();
  opt.step();
}

// The trajectories of tests/optim_torch_reference.py: five parameters start at
// kReferenceStart; at step k the gradient of element j (from 1) is 2 (p - C) + 0.3 sin(k j).
const std::vector<double> kReferenceStart = {0.5, -1.5, 2.0, 0.0, -0.25};
void set_reference_gradient(Tensor& p, int step) {
  const std::vector<double> pull = {1.0, -1.0, 0.5, 2.0, 0.0}, now = p.to_vector<double>();
  std::vector<double> g(now.size());
  for (std::size_t j = 0; j < g.size(); ++j)
    g[j] = 2 * (now[j] - pull[j]) + 0.3 * std::sin(step * double(j + 1));
  p.set_grad(from_vector(g));
}
}  // namespace

TEST_CASE("SGD: plain, weight decay, momentum, Nesterov") {
  Tensor p = tensor<double>({1.0, -2.0}).requires_grad_();
  const Tensor c = tensor<double>({0.5, 1.0});
  optim::SGD plain({p}, optim::SGDOptions(0.1));
  step_with_grad(plain, p, c);
  check_values(p, {0.95, -2.1}, 1e-12);

  Tensor q = tensor<double>({1.0}).requires_grad_();
  optim::SGD mom({q}, optim::SGDOptions(0.1).set_momentum(0.9).set_weight_decay(0.1));
  // step 1: d = 1 + 0.1*1 = 1.1, b = 1.1, q = 1 - 0.11 = 0.89
  step_with_grad(mom, q, tensor<double>({1.0}));
  check_values(q, {0.89}, 1e-12);
  // step 2: d = 1 + 0.089 = 1.089, b = 0.9*1.1 + 1.089 = 2.079, q = 0.89 - 0.2079
  step_with_grad(mom, q, tensor<double>({1.0}));
  check_values(q, {0.89 - 0.2079}, 1e-12);

  Tensor r = tensor<double>({1.0}).requires_grad_();
  optim::SGD nes({r}, optim::SGDOptions(0.1).set_momentum(0.5).set_nesterov(true));
  step_with_grad(nes, r, tensor<double>({2.0}));  // b = 2, d = 2 + 0.5*2 = 3
  check_values(r, {0.7}, 1e-12);
  step_with_grad(nes, r, tensor<double>({2.0}));  // b = 1 + 2 = 3, d = 2 + 1.5 = 3.5
  check_values(r, {0.35}, 1e-12);
  CHECK_THROWS_AS(optim::SGD({r}, optim::SGDOptions(0.1).set_nesterov(true)), Error);
}

TEST_CASE("Adam and AdamW match their update rules for two steps") {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
  for (bool decoupled : {false, true}) {
    for (DType dt : {kFloat64, kFloat32}) {
      Tensor p = tensor<double>({1.0, -0.5}).to(dt).requires_grad_();
      std::unique_ptr<optim::Optimizer> opt;
      const auto o = optim::AdamOptions(lr).set_weight_decay(wd);
      if (decoupled)
        opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, o);
      else
        opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, o);
      // Reference, in double.
      double pv[2] = {1.0, -0.5}, m[2] = {0, 0}, v[2] = {0, 0};
      const double grads[2][2] = {{0.3, -1.0}, {0.2, 0.4}};
      for (int t = 1; t <= 2; ++t) {
        step_with_grad(*opt, p, tensor<double>({grads[t - 1][0], grads[t - 1][1]}).to(dt));
        for (int i = 0; i < 2; ++i) {
          double g = grads[t - 1][i];
          if (decoupled)
            pv[i] *= 1 - lr * wd;
          else
            g += wd * pv[i];
          m[i] = b1 * m[i] + (1 - b1) * g;
          v[i] = b2 * v[i] + (1 - b2) * g * g;
          const double mh = m[i] / (1 - std::pow(b1, t)), vh = v[i] / (1 - std::pow(b2, t));
          pv[i] -= lr * mh / (std::sqrt(vh) + eps);
        }
        INFO("decoupled " << decoupled << " dtype " << dt << " step " << t);
        check_values(p, {pv[0], pv[1]}, dt == kFloat64 ? 1e-12 : 2e-6);
      }
    }
  }
}

TEST_CASE("RMSprop matches its update rule for three steps: plain, centered, with momentum") {
  const double lr = 0.01, alpha = 0.9, eps = 1e-8, wd = 0.1, mu = 0.5;
  for (int variant = 0; variant < 3; ++variant) {
    for (DType dt : {kFloat64, kFloat32}) {
      const bool centered = variant >= 1, momentum = variant == 2;
      Tensor p = tensor<double>({1.0, -0.5}).to(dt).requires_grad_();
      optim::RMSprop opt(
          {p},
          optim::RMSpropOptions(lr).set_alpha(alpha).set_weight_decay(wd).set_centered(centered).set_momentum(
              momentum ? mu : 0.0));
      // Reference, in double.
      double pv[2] = {1.0, -0.5}, v[2] = {0, 0}, a[2] = {0, 0}, b[2] = {0, 0};
      const double grads[3][2] = {{0.3, -1.0}, {0.2, 0.4}, {-0.6, 0.1}};
      for (int t = 0; t < 3; ++t) {
        step_with_grad(opt, p, tensor<double>({grads[t][0], grads[t][1]}).to(dt));
        for (int i = 0; i < 2; ++i) {
          const double d = grads[t][i] + wd * pv[i];
          v[i] = alpha * v[i] + (1 - alpha) * d * d;
          a[i] = alpha * a[i] + (1 - alpha) * d;
          double u = d / (std::sqrt(centered ? v[i] - a[i] * a[i] : v[i]) + eps);
          if (momentum) u = b[i] = mu * b[i] + u;
          pv[i] -= lr * u;
        }
        INFO("variant " << variant << " dtype " << dt << " step " << t);
        check_values(p, {pv[0], pv[1]}, dt == kFloat64 ? 1e-12 : 2e-6);
      }
      const auto state = opt.state_dict();
      CHECK(state.count("state.0.0.square_avg"));
      CHECK(state.count("state.0.0.grad_avg") == (centered ? 1 : 0));
      CHECK(state.count("state.0.0.momentum_buffer") == (momentum ? 1 : 0));
    }
  }
  Tensor q = ones({1}).requires_grad_();
  CHECK_THROWS_WITH_AS(optim::RMSprop({q}, optim::RMSpropOptions().set_alpha(1.0)),
                       doctest::Contains("RMSprop: alpha 1 must be in [0, 1)"), Error);
}

TEST_CASE("parameter groups take their own weight decay and learning rate") {
  Tensor a = tensor<double>({1.0}).requires_grad_(), b = tensor<double>({1.0}).requires_grad_();
  optim::SGD opt(
      {{{a}, optim::GroupOverrides().set_weight_decay(1.0)}, {{b}, optim::GroupOverrides().set_lr(0.5)}},
      optim::SGDOptions(0.1));
  opt.zero_grad();
  sum(a * 0.0 + b * 0.0).backward();
  opt.step();
  check_values(a, {0.9}, 1e-12);  // only decay: 1 - 0.1 * 1
  check_values(b, {1.0}, 1e-12);
  CHECK(opt.lr(1) == 0.5);
  opt.set_lr(0.01);  // a schedule scales every group by the same factor
  CHECK(opt.lr(0) == doctest::Approx(0.01));
  CHECK(opt.lr(1) == doctest::Approx(0.05));
}

TEST_CASE("state_dict: a resumed optimizer continues exactly") {
  manual_seed(5);
  const Tensor init = randn({3, 2});
  const Tensor target = randn({3, 2});
  auto run = [&](optim::Optimizer& opt, Tensor& p, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      const Tensor d = p - target;
      sum(d * d * d * d).backward();
      opt.step();
    }
  };
  Tensor p1 = init.clone().requires_grad_();
  optim::Adam a1({p1}, optim::AdamOptions(0.05));
  run(a1, p1, 3);
  const auto saved_state = a1.state_dict();
  const Tensor saved_p = p1.detach().clone();
  run(a1, p1, 4);

  Tensor p2 = saved_p.clone().requires_grad_();
  optim::Adam a2({p2}, optim::AdamOptions(0.05));
  a2.load_state_dict(saved_state);
  run(a2, p2, 4);
  check_same(p2, p1, 0);  // bit-identical

  auto broken = saved_state;
  broken.erase("step");
  CHECK_THROWS_WITH_AS(a2.load_state_dict(broken), doctest::Contains("missing key 'step'"), Error);
}

TEST_CASE("learning-rate schedules") {
  Tensor p = ones({1}).requires_grad_();
  optim::SGD opt({p}, optim::SGDOptions(1.0));
  optim::StepLR step(opt, 2, 0.5);
  std::vector<double> lrs;
  for (int e = 0; e < 5; ++e) {
    step.step();
    lrs.push_back(opt.lr());
  }
  CHECK(lrs == std::vector<double>{1.0, 0.5, 0.5, 0.25, 0.25});
  optim::SGD opt2({p}, optim::SGDOptions(1.0));
  optim::CosineAnnealingLR cos(opt2, 4, 0.0);
  cos.step();
  CHECK(opt2.lr() == doctest::Approx((1 + std::cos(M_PI / 4)) / 2));
  cos.step();
  CHECK(opt2.lr() == doctest::Approx(0.5));
  cos.step();
  cos.step();
  CHECK(opt2.lr() == doctest::Approx(0.0));

  optim::SGD opt3({p}, optim::SGDOptions(2.0));
  optim::LinearLR warmup(opt3, 0.25, 1.0, 3);
  CHECK(opt3.lr() == doctest::Approx(0.5));  // set when the schedule is made
  std::vector<double> ramp;
  for (int e = 0; e < 4; ++e) {
    warmup.step();
    ramp.push_back(opt3.lr());
  }
  CHECK(ramp[0] == doctest::Approx(2.0 * (0.25 + 0.75 / 3)));
  CHECK(ramp[1] == doctest::Approx(2.0 * (0.25 + 1.5 / 3)));
  CHECK(ramp[2] == doctest::Approx(2.0));
  CHECK(ramp[3] == doctest::Approx(2.0));  // stays at end_factor
  CHECK_THROWS_WITH_AS(optim::LinearLR(opt3, 0.0), doctest::Contains("start_factor 0 must be in (0, 1]"),
                       Error);
}

TEST_CASE("ExponentialLR, MultiStepLR and SequentialLR (a warm-up, then a cosine decay)") {
  Tensor p = ones({1}).requires_grad_();
  const auto rates = [](auto& schedule, optim::Optimizer& opt, int epochs) {
    std::vector<double> out{opt.lr()};
    for (int e = 0; e < epochs; ++e) {
      schedule.step();
      out.push_back(opt.lr());
    }
    return out;
  };
  optim::SGD opt({p}, optim::SGDOptions(2.0));
  optim::ExponentialLR exponential(opt, 0.5);
  CHECK(rates(exponential, opt, 3) == std::vector<double>{2.0, 1.0, 0.5, 0.25});
  CHECK_THROWS_WITH_AS(optim::ExponentialLR(opt, 0.0), doctest::Contains("gamma 0 must be positive"), Error);

  optim::SGD opt2({p}, optim::SGDOptions(1.0));
  optim::MultiStepLR multi(opt2, {4, 2, 4}, 0.5);  // unsorted; 4 twice: halved twice there
  CHECK(rates(multi, opt2, 5) == std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.125, 0.125});
  CHECK_THROWS_WITH_AS(optim::MultiStepLR(opt2, {0, 3}), doctest::Contains("milestones must be positive"),
                       Error);

  // Warm-up over 3 epochs from a quarter of the rate, then cosine over 4 epochs to 0,
  // restarting its count at the milestone as PyTorch's SequentialLR does.
  optim::SGD opt3({p}, optim::SGDOptions(2.0));
  auto warmup = std::make_shared<optim::LinearLR>(opt3, 0.25, 1.0, 3);
  auto decay = std::make_shared<optim::CosineAnnealingLR>(opt3, 4);
  optim::SequentialLR sequence(opt3, {warmup, decay}, {3});
  const std::vector<double> got = rates(sequence, opt3, 8);
  const std::vector<double> want{0.5,
                                 1.0,
                                 1.5,
                                 2.0,
                                 1.0 + std::cos(M_PI / 4),
                                 1.0,
                                 1.0 + std::cos(3 * M_PI / 4),
                                 0.0,
                                 1.0 + std::cos(5 * M_PI / 4)};
  REQUIRE(got.size() == want.size());
  for (std::size_t e = 0; e < got.size(); ++e) {
    CAPTURE(e);
    CHECK(got[e] == doctest::Approx(want[e]).epsilon(1e-12));
  }
  // Three parts, two milestones.
  optim::SGD opt4({p}, optim::SGDOptions(1.0));
  optim::SequentialLR three(
      opt4,
      {std::make_shared<optim::ExponentialLR>(opt4, 0.5), std::make_shared<optim::StepLR>(opt4, 10),
       std::make_shared<optim::ExponentialLR>(opt4, 2.0)},
      {2, 4});
  CHECK(rates(three, opt4, 6) == std::vector<double>{1.0, 0.5, 1.0, 1.0, 1.0, 2.0, 4.0});

  CHECK_THROWS_WITH_AS(optim::SequentialLR(opt3, {warmup, decay}, {}),
                       doctest::Contains("SequentialLR: 2 schedules need 1 milestones"), Error);
  CHECK_THROWS_WITH_AS(optim::SequentialLR(opt3, {warmup, decay}, {0}),
                       doctest::Contains("milestones must be positive and increasing"), Error);
  CHECK_THROWS_WITH_AS(optim::SequentialLR(opt2, {warmup, decay}, {3}),
                       doctest::Contains("schedule 0 was made for another optimizer"), Error);
  CHECK_THROWS_WITH_AS(optim::SequentialLR(opt3, {warmup, nullptr}, {3}),
                       doctest::Contains("schedule 1 is null"), Error);
}

TEST_CASE("ReduceLROnPlateau: patience, threshold, cooldown, min_lr, max mode, groups") {
  Tensor p = ones({1}).requires_grad_(), q = ones({1}).requires_grad_();
  optim::SGD opt({{{p}, {}}, {{q}, optim::GroupOverrides().set_lr(0.5)}}, optim::SGDOptions(1.0));
  optim::ReduceLROnPlateau plateau(
      opt, optim::ReduceLROnPlateauOptions().set_patience(2).set_factor(0.5).set_cooldown(1));
  // 0.99995 is no improvement on 1.0: it must beat 1.0 * (1 - 1e-4).
  const std::vector<double> losses{1.0, 1.0, 0.99995, 1.2, 1.2, 1.2, 1.2, 1.2, 0.5, std::nan("")};
  std::vector<double> lrs;
  for (double loss : losses) {
    plateau.step(loss);
    lrs.push_back(opt.lr(0));
  }
  // Three bad epochs (more than patience 2) halve the rate; the cooldown epoch after
  // it does not count, so the next halving needs four more.
  CHECK(lrs == std::vector<double>{1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25});
  CHECK(opt.lr(1) == doctest::Approx(0.125));  // the group keeps its ratio
  CHECK(plateau.best() == 0.5);
  CHECK(plateau.epochs_without_improvement() == 1);  // the NaN

  optim::SGD opt2({p}, optim::SGDOptions(1.0));
  optim::ReduceLROnPlateau floor(opt2, optim::ReduceLROnPlateauOptions().set_patience(0).set_min_lr(0.05));
  std::vector<double> floored;
  for (int e = 0; e < 4; ++e) {
    floor.step(3.0);
    floored.push_back(opt2.lr());
  }
  CHECK(floored[0] == 1.0);  // the first epoch sets the best
  CHECK(floored[1] == doctest::Approx(0.1));
  CHECK(floored[2] == doctest::Approx(0.05));
  CHECK(floored[3] == doctest::Approx(0.05));

  optim::SGD opt3({p}, optim::SGDOptions(1.0));
  using Mode = optim::ReduceLROnPlateauOptions::Mode;
  optim::ReduceLROnPlateau acc(opt3, optim::ReduceLROnPlateauOptions().set_mode(Mode::max).set_patience(0));
  acc.step(0.5);
  acc.step(0.6);
  CHECK(opt3.lr() == 1.0);
  acc.step(0.6);
  CHECK(opt3.lr() == doctest::Approx(0.1));
  CHECK_THROWS_WITH_AS(optim::ReduceLROnPlateau(opt3, optim::ReduceLROnPlateauOptions().set_factor(1.0)),
                       doctest::Contains("factor 1 must be in (0, 1)"), Error);
}

namespace {

// Rates of a run that stops after `cut` epochs and resumes from saved states (through a
// safetensors file) with a fresh optimizer and schedule, loading the schedule's state
// before or after the optimizer's; `step(schedule, epoch)` advances one epoch.
template <class Make, class Step>
std::vector<double> rates_across_resume(Make make, Step step, int cut, int epochs, bool schedule_first) {
  const test::TempDir dir("kiln_schedule_resume_");
  std::vector<double> rates;
  {
    Tensor p = ones({1}).requires_grad_(), q = ones({1}).requires_grad_();
    optim::SGD opt({{{p}, {}}, {{q}, optim::GroupOverrides().set_lr(0.5)}}, optim::SGDOptions(1.0));
    auto schedule = make(opt);
    for (int e = 0; e < cut; ++e) {
      step(schedule, e);
      rates.push_back(opt.lr(1));
    }
    io::save((dir / "opt.safetensors").string(), opt.state_dict());
    io::save((dir / "schedule.safetensors").string(), schedule.state_dict());
  }
  Tensor p = ones({1}).requires_grad_(), q = ones({1}).requires_grad_();
  optim::SGD opt({{{p}, {}}, {{q}, optim::GroupOverrides().set_lr(0.5)}}, optim::SGDOptions(1.0));
  auto schedule = make(opt);
  if (schedule_first) schedule.load_state_dict(io::load((dir / "schedule.safetensors").string()).tensors);
  opt.load_state_dict(io::load((dir / "opt.safetensors").string()).tensors);
  if (!schedule_first) schedule.load_state_dict(io::load((dir / "schedule.safetensors").string()).tensors);
  for (int e = cut; e < epochs; ++e) {
    step(schedule, e);
    rates.push_back(opt.lr(1));
  }
  return rates;
}

}  // namespace

TEST_CASE("schedules resume exactly from their state_dict, loaded before or after the optimizer's") {
  const auto each_epoch = [](auto& schedule, int) { schedule.step(); };
  const std::vector<double> losses{5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 2, 2};
  const auto plateau_step = [&losses](optim::ReduceLROnPlateau& schedule, int e) {
    schedule.step(losses[e]);
  };
  const auto step_lr = [](optim::Optimizer& o) { return optim::StepLR(o, 3, 0.5); };
  const auto cosine = [](optim::Optimizer& o) { return optim::CosineAnnealingLR(o, 10, 0.01); };
  const auto linear = [](optim::Optimizer& o) { return optim::LinearLR(o, 0.2, 1.0, 8); };
  const auto multi = [](optim::Optimizer& o) { return optim::MultiStepLR(o, {2, 5, 6}, 0.3); };
  const auto sequence = [](optim::Optimizer& o) {
    return optim::SequentialLR(
        o,
        {std::make_shared<optim::LinearLR>(o, 0.2, 1.0, 4), std::make_shared<optim::CosineAnnealingLR>(o, 6)},
        {4});
  };
  const auto plateau = [](optim::Optimizer& o) {
    return optim::ReduceLROnPlateau(o, optim::ReduceLROnPlateauOptions().set_patience(1).set_cooldown(1));
  };
  for (bool first : {true, false}) {
    INFO("schedule state loaded " << (first ? "before" : "after") << " the optimizer's");
    // Cut where it matters: mid-step of StepLR, mid-ramp of LinearLR, and the plateau one
    // bad epoch into a streak (7) and in a cooldown (8).
    // Ten epochs with a resume after `cut` give the rates of ten straight ones.
    const auto resumes_exactly = [&](const auto& make, int cut) {
      return rates_across_resume(make, each_epoch, cut, 10, first) ==
             rates_across_resume(make, each_epoch, 10, 10, first);
    };
    CHECK(resumes_exactly(step_lr, 4));
    CHECK(resumes_exactly(cosine, 5));
    CHECK(resumes_exactly(linear, 3));
    CHECK(resumes_exactly(multi, 4));
    CHECK(resumes_exactly(sequence, 3));  // in the warm-up
    CHECK(resumes_exactly(sequence, 6));  // in the decay
    const std::vector<double> straight = rates_across_resume(plateau, plateau_step, 14, 14, first);
    CHECK(rates_across_resume(plateau, plateau_step, 7, 14, first) == straight);
    CHECK(rates_across_resume(plateau, plateau_step, 8, 14, first) == straight);
    CHECK(straight.back() < straight.front());  // the plateau did lower the rate
  }
  // A state missing what it needs is an Error that says what to pass.
  Tensor p = ones({1}).requires_grad_();
  optim::SGD opt({p}, optim::SGDOptions(1.0));
  optim::StepLR step_schedule(opt, 2);
  CHECK_THROWS_WITH_AS(step_schedule.load_state_dict({}),
                       "StepLR.load_state_dict: the state has no number under 'epoch'; pass what "
                       "StepLR::state_dict() returned",
                       Error);
  optim::ReduceLROnPlateau on_plateau(opt);
  CHECK_THROWS_WITH_AS(
      on_plateau.load_state_dict(step_schedule.state_dict()),
      doctest::Contains("ReduceLROnPlateau.load_state_dict: the state has no number under 'lr'"), Error);
}

// Five float64 parameters, 30 steps of a quadratic pull plus a wobble; the expected values
// are PyTorch 2.15's (tests/optim_torch_reference.py prints them).
TEST_CASE(
    "adaptive optimizers: Adagrad, Adamax, NAdam, RAdam, Adadelta, ASGD and Rprop follow torch.optim's "
    "trajectories") {
  using Make = std::function<std::unique_ptr<optim::Optimizer>(const Tensor&)>;
  struct Case {
    const char* name;
    Make make;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"Adagrad",
       [](const Tensor& p) {
         return std::make_unique<optim::Adagrad>(std::vector<Tensor>{p}, optim::AdagradOptions(0.1));
       },
       {0.9995765509881809, -1.0169518317386923, 1.182887569574987, 0.8513767092687773,
        -0.0017873780616463573}},
      {"Adagrad, lr_decay, weight_decay, initial_accumulator_value",
       [](const Tensor& p) {
         return std::make_unique<optim::Adagrad>(std::vector<Tensor>{p},
                                                 optim::AdagradOptions(0.1)
                                                     .set_lr_decay(0.05)
                                                     .set_weight_decay(0.1)
                                                     .set_initial_accumulator_value(0.5));
       },
       {0.905595126147711, -1.051089722344665, 1.3907143263828958, 0.620707096360646, -0.013571253004234526}},
      {"Adamax",
       [](const Tensor& p) {
         return std::make_unique<optim::Adamax>(std::vector<Tensor>{p}, optim::AdamaxOptions(0.05));
       },
       {1.06448006299905, -0.9425421614569468, 0.9174239341672699, 1.1401725015949773, 0.020785075872838732}},
      {"Adamax, betas, weight_decay",
       [](const Tensor& p) {
         return std::make_unique<optim::Adamax>(
             std::vector<Tensor>{p}, optim::AdamaxOptions(0.05).set_betas(0.8, 0.99).set_weight_decay(0.1));
       },
       {0.9616752705307373, -0.9394301304236262, 0.8745333460883065, 1.1897516173294105,
        -0.0016491780737294055}},
      {"NAdam",
       [](const Tensor& p) {
         return std::make_unique<optim::NAdam>(std::vector<Tensor>{p}, optim::NAdamOptions(0.05));
       },
       {1.0402591185535697, -0.9757451834210862, 0.9243897994622896, 1.1455901835527476,
        0.0032943442109507988}},
      {"NAdam, weight_decay",
       [](const Tensor& p) {
         return std::make_unique<optim::NAdam>(std::vector<Tensor>{p},
                                               optim::NAdamOptions(0.05).set_weight_decay(0.1));
       },
       {0.9880678956653414, -0.9238973972867744, 0.9193934129210687, 1.1347308816173372,
        0.0030815115091757253}},
      {"NAdam, decoupled weight_decay, momentum_decay",
       [](const Tensor& p) {
         return std::make_unique<optim::NAdam>(std::vector<Tensor>{p}, optim::NAdamOptions(0.05)
                                                                           .set_weight_decay(0.1)
                                                                           .set_decoupled_weight_decay(true)
                                                                           .set_momentum_decay(0.01));
       },
       {1.015156413789074, -0.9564759664100707, 0.7847153182691347, 1.0764921004001957,
        0.0029738307541474847}},
      {"RAdam",
       [](const Tensor& p) {
         return std::make_unique<optim::RAdam>(std::vector<Tensor>{p}, optim::RAdamOptions(0.05));
       },
       {0.7756135884018815, -1.2095222726210673, 1.2418073648500592, 0.9883804012056755,
        -0.05972465901276852}},
      {"RAdam, betas, weight_decay",
       [](const Tensor& p) {
         return std::make_unique<optim::RAdam>(
             std::vector<Tensor>{p}, optim::RAdamOptions(0.05).set_betas(0.9, 0.9).set_weight_decay(0.1));
       },
       {1.04508563765962, -0.8370743609332023, 0.5032731060270996, 1.7039484593295602,
        -0.007879214354690309}},
      {"RAdam, decoupled weight_decay",
       [](const Tensor& p) {
         return std::make_unique<optim::RAdam>(
             std::vector<Tensor>{p},
             optim::RAdamOptions(0.05).set_weight_decay(0.1).set_decoupled_weight_decay(true));
       },
       {0.6832739589993205, -1.0481063044301717, 1.0604243226911976, 0.8713540990463697,
        -0.04821087221787302}},
      {"Adadelta",
       [](const Tensor& p) {
         return std::make_unique<optim::Adadelta>(std::vector<Tensor>{p}, optim::AdadeltaOptions());
       },
       {0.608556758983668, -1.3994785235039189, 1.8959726378552937, 0.10330867682760661,
        -0.18244467691190902}},
      {"Adadelta, lr, rho, eps, weight_decay",
       [](const Tensor& p) {
         return std::make_unique<optim::Adadelta>(
             std::vector<Tensor>{p},
             optim::AdadeltaOptions(0.5).set_rho(0.8).set_eps(1e-4).set_weight_decay(0.1));
       },
       {0.8212528339345618, -1.1709153441672262, 1.598885232970915, 0.404976800197729,
        -0.056925322626110324}},
      {"ASGD",
       [](const Tensor& p) {
         return std::make_unique<optim::ASGD>(std::vector<Tensor>{p}, optim::ASGDOptions(0.05));
       },
       {0.9893636594667301, -1.023463945926948, 0.5562447822361042, 1.9078496648506351, -0.0109964188996574}},
      {"ASGD, lambd, alpha, t0, weight_decay",
       [](const Tensor& p) {
         return std::make_unique<optim::ASGD>(
             std::vector<Tensor>{p},
             optim::ASGDOptions(0.05).set_lambd(0.01).set_alpha(0.5).set_t0(10).set_weight_decay(0.1));
       },
       {0.9425637076397696, -0.9698499814630515, 0.5211675364079521, 1.8207610583909715,
        -0.009348063677405632}},
      {"Rprop",
       [](const Tensor& p) {
         return std::make_unique<optim::Rprop>(std::vector<Tensor>{p}, optim::RpropOptions(0.05));
       },
       {1.00565070843904, -0.9875070883839998, 0.515346342912, 1.973220359167999, 0.03528356799999995}},
      {"Rprop, etas, step_sizes",
       [](const Tensor& p) {
         return std::make_unique<optim::Rprop>(
             std::vector<Tensor>{p}, optim::RpropOptions(0.05).set_etas(0.3, 1.5).set_step_sizes(0.01, 0.2));
       },
       {1.0187874999999997, -0.9507500000000002, 0.5157500000000002, 1.9982500000000003,
        0.003906250000000028}},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    Tensor p = from_vector(kReferenceStart).requires_grad_();
    const auto opt = k.make(p);
    for (int step = 1; step <= 30; ++step) {
      set_reference_gradient(p, step);
      opt->step();
    }
    check_values(p, k.expected, 1e-12);
  }
  // ASGD's average, after t0 = 10 steps a running mean (torch's state "ax").
  Tensor p = from_vector(kReferenceStart).requires_grad_();
  optim::ASGD asgd({p},
                   optim::ASGDOptions(0.05).set_lambd(0.01).set_alpha(0.5).set_t0(10).set_weight_decay(0.1));
  CHECK_FALSE(asgd.averaged(0).defined());
  for (int step = 1; step <= 30; ++step) {
    set_reference_gradient(p, step);
    asgd.step();
  }
  check_values(
      asgd.averaged(0),
      {0.894598528472203, -1.0122621515285675, 0.6504775190497278, 1.6766986137266886, -0.02812315597530296},
      1e-12);
}

TEST_CASE("adaptive optimizers: state_dict resumes exactly; float32 parameters; bad options") {
  // Ten steps straight, or five, a save, a fresh optimizer loaded, and five more: the same bits.
  const auto run = [](auto make, bool resume) {
    Tensor p = tensor<float>({0.5f, -1.0f, 2.0f}).requires_grad_();
    auto opt = make(p);
    for (int step = 1; step <= 10; ++step) {
      if (resume && step == 6) {
        const optim::StateDict saved = opt->state_dict();
        opt = make(p);
        opt->load_state_dict(saved);
      }
      p.set_grad(p.detach() * 2.0 - tensor<float>({1.0f, 0.0f, 1.0f}) + std::sin(step));
      opt->step();
    }
    return p.to_vector<float>();
  };
  const auto nadam = [](const Tensor& p) {
    return std::make_unique<optim::NAdam>(std::vector<Tensor>{p},
                                          optim::NAdamOptions(0.1).set_weight_decay(0.01));
  };
  const auto radam = [](const Tensor& p) {
    return std::make_unique<optim::RAdam>(std::vector<Tensor>{p}, optim::RAdamOptions(0.1));
  };
  const auto adagrad = [](const Tensor& p) {
    return std::make_unique<optim::Adagrad>(std::vector<Tensor>{p},
                                            optim::AdagradOptions(0.1).set_lr_decay(0.1));
  };
  const auto adamax = [](const Tensor& p) {
    return std::make_unique<optim::Adamax>(std::vector<Tensor>{p}, optim::AdamaxOptions(0.1));
  };
  CHECK(run(nadam, false) == run(nadam, true));
  CHECK(run(radam, false) == run(radam, true));
  CHECK(run(adagrad, false) == run(adagrad, true));
  CHECK(run(adamax, false) == run(adamax, true));
  const auto adadelta = [](const Tensor& p) {
    return std::make_unique<optim::Adadelta>(std::vector<Tensor>{p}, optim::AdadeltaOptions());
  };
  const auto rprop = [](const Tensor& p) {
    return std::make_unique<optim::Rprop>(std::vector<Tensor>{p}, optim::RpropOptions(0.1));
  };
  CHECK(run(adadelta, false) == run(adadelta, true));
  CHECK(run(rprop, false) == run(rprop, true));
  CHECK(run(nadam, false) != run(radam, false));
  Tensor p = zeros({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(optim::NAdam({p}, optim::NAdamOptions().set_betas(1.0, 0.9)),
                       "NAdam: betas (1, 0.9) must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(optim::Adagrad({p}, optim::AdagradOptions().set_eps(-1)),
                       doctest::Contains("must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(optim::Adadelta({p}, optim::AdadeltaOptions().set_rho(1.5)),
                       doctest::Contains("rho 1.5 in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(optim::Rprop({p}, optim::RpropOptions().set_etas(1.2, 0.5)),
                       doctest::Contains("0 < eta_minus < 1 < eta_plus"), Error);
  CHECK_THROWS_WITH_AS(optim::Rprop({p}, optim::RpropOptions().set_step_sizes(1, 0.5)),
                       doctest::Contains("0 <= min <= max"), Error);
}

// The rates of SGD at 0.5 at the start and after each of 24 steps; the expected values are
// PyTorch 2.15's (tests/optim_torch_reference.py prints them).
TEST_CASE(
    "ConstantLR, PolynomialLR, CosineAnnealingWarmRestarts, OneCycleLR and MultiplicativeLR follow torch's "
    "rates") {
  struct Case {
    const char* name;
    std::function<std::unique_ptr<optim::EpochSchedule>(optim::Optimizer&)> make;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"ConstantLR(0.25, 4)",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::ConstantLR>(opt, 0.25, 4);
       },
       {0.125, 0.125, 0.125, 0.125, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
        0.5,   0.5,   0.5,   0.5,   0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
      {"PolynomialLR(7, 2.0)",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::PolynomialLR>(opt, 7, 2.0);
       },
       {0.5,
        0.3673469387755103,
        0.25510204081632654,
        0.16326530612244897,
        0.09183673469387758,
        0.040816326530612256,
        0.010204081632653073,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0}},
      {"CosineAnnealingWarmRestarts(3, 2, 0.01)",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::CosineAnnealingWarmRestarts>(opt, 3, 2, 0.01);
       },
       {0.5,
        0.3775,
        0.13250000000000006,
        0.5,
        0.4671762239271875,
        0.3775,
        0.255,
        0.13250000000000006,
        0.04282377607281252,
        0.5,
        0.4916518274408217,
        0.4671762239271875,
        0.4282411613907041,
        0.3775,
        0.3184106660501176,
        0.255,
        0.19158933394988245,
        0.13250000000000006,
        0.08175883860929586,
        0.04282377607281252,
        0.01834817255917829,
        0.5,
        0.49790399103658356,
        0.4916518274408217,
        0.48135048546526527}},
      {"CosineAnnealingWarmRestarts(5)",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::CosineAnnealingWarmRestarts>(opt, 5);
       },
       {0.5, 0.45225424859373686, 0.32725424859373686, 0.17274575140626316, 0.047745751406263165,
        0.5, 0.45225424859373686, 0.32725424859373686, 0.17274575140626316, 0.047745751406263165,
        0.5, 0.45225424859373686, 0.32725424859373686, 0.17274575140626316, 0.047745751406263165,
        0.5, 0.45225424859373686, 0.32725424859373686, 0.17274575140626316, 0.047745751406263165,
        0.5, 0.45225424859373686, 0.32725424859373686, 0.17274575140626316, 0.047745751406263165}},
      {"OneCycleLR(0.5, 24)",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::OneCycleLR>(opt, 0.5, 24);
       },
       {0.020000000000000018, 0.05015681212530032, 0.13304863752152907,  0.247844199478709,
        0.3656945963738323,   0.4569832258897463,  0.4987686376140548,   0.49720771772545586,
        0.4859708886937616,   0.46650648492070584, 0.4394931728146401,   0.4058728269748815,
        0.36681768979963725,  0.32368949884755166, 0.27799200706135085,  0.23131855133348753,
        0.1852964975434149,   0.14153049910434962, 0.10154654742681013,  0.0667387650944153,
        0.0383207969171282,   0.01728349371269761, 0.004360364258151165, 2e-06,
        0.004360364258151165}},
      {"OneCycleLR, linear, pct_start 0.25, div 10, final div 100",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::OneCycleLR>(
             opt, 0.5, 24,
             optim::OneCycleLROptions()
                 .set_anneal_strategy(optim::OneCycleLROptions::Anneal::linear)
                 .set_pct_start(0.25)
                 .set_div_factor(10)
                 .set_final_div_factor(100));
       },
       {0.05,
        0.14,
        0.23000000000000004,
        0.32,
        0.41000000000000003,
        0.5,
        0.47225,
        0.4445,
        0.41675,
        0.389,
        0.36124999999999996,
        0.3335,
        0.30574999999999997,
        0.278,
        0.25025,
        0.22249999999999998,
        0.19474999999999998,
        0.16700000000000004,
        0.13924999999999998,
        0.11149999999999999,
        0.08374999999999999,
        0.05600000000000005,
        0.028249999999999997,
        0.0005000000000000004,
        -0.027249999999999996}},
      {"OneCycleLR, three_phase",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::OneCycleLR>(opt, 0.5, 24,
                                                    optim::OneCycleLROptions().set_three_phase(true));
       },
       {0.020000000000000018, 0.05015681212530032,   0.13304863752152907,   0.247844199478709,
        0.3656945963738323,   0.4569832258897463,    0.4987686376140548,    0.4805498747888553,
        0.406905435811439,    0.2963426666010983,    0.17664673931724292,   0.07789805055373011,
        0.024912814099401298, 0.01984232154889802,   0.018896681252856474,  0.017175355063186265,
        0.01482843923510472,  0.012060580208792242,  0.009113129842665975,  0.006243100006439732,
        0.003700751652026472, 0.0017077725511834326, 0.0004379465582190523, 2e-06,
        0.0004379465582190523}},
      {"MultiplicativeLR(0.5 every third epoch, else 0.9)",
       [](optim::Optimizer& opt) -> std::unique_ptr<optim::EpochSchedule> {
         return std::make_unique<optim::MultiplicativeLR>(
             opt, [](std::int64_t e) { return e % 3 == 0 ? 0.5 : 0.9; });
       },
       {0.5,
        0.45,
        0.405,
        0.2025,
        0.18225000000000002,
        0.16402500000000003,
        0.08201250000000002,
        0.07381125000000002,
        0.06643012500000002,
        0.03321506250000001,
        0.02989355625000001,
        0.02690420062500001,
        0.013452100312500005,
        0.012106890281250005,
        0.010896201253125005,
        0.005448100626562502,
        0.004903290563906253,
        0.004412961507515628,
        0.002206480753757814,
        0.0019858326783820323,
        0.001787249410543829,
        0.0008936247052719145,
        0.000804262234744723,
        0.0007238360112702507,
        0.00036191800563512537}},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    Tensor p = ones({1}).requires_grad_();
    optim::SGD opt({p}, optim::SGDOptions(0.5));
    const auto schedule = k.make(opt);
    std::vector<double> got{opt.lr()};
    for (int step = 0; step < 24; ++step) {
      schedule->step();
      got.push_back(opt.lr());
    }
    REQUIRE(got.size() == k.expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(std::abs(got[i] - k.expected[i]) <= 1e-12 * (1 + std::abs(k.expected[i])));
    }
  }
}

TEST_CASE("OneCycleLR cycles the momentum as torch's (SGD's momentum, Adam's beta1)") {
  // From tests/optim_torch_reference.py: the momentum at the start and after each step,
  // and the parameters after 24 steps of the trajectories of the adaptive optimizers' case.
  const std::vector<double> cos_momenta = {0.95,
                                           0.9437173308072291,
                                           0.9264482005163481,
                                           0.9025324584419356,
                                           0.8779802924221183,
                                           0.8589618279396362,
                                           0.8502565338304052,
                                           0.8505584586887436,
                                           0.8528058334845816,
                                           0.856698729810778,
                                           0.8621014138427273,
                                           0.8688255099070633,
                                           0.8766365685863469,
                                           0.8852622412794547,
                                           0.8944017761948346,
                                           0.9037365046793212,
                                           0.912940952255126,
                                           0.9216941869558779,
                                           0.9296910092786751,
                                           0.9366525935914912,
                                           0.9423362099614142,
                                           0.9465436874322102,
                                           0.9491283236616643,
                                           0.95,
                                           0.9491283236616643};
  struct Case {
    const char* name;
    std::function<std::unique_ptr<optim::Optimizer>(const Tensor&)> make_optimizer;
    std::function<std::unique_ptr<optim::OneCycleLR>(optim::Optimizer&)> make_schedule;
    std::vector<double> momenta, parameters;
  };
  const std::vector<Case> cases = {
      {"SGD momentum 0.9",
       [](const Tensor& p) {
         return std::make_unique<optim::SGD>(std::vector<Tensor>{p},
                                             optim::SGDOptions(0.5).set_momentum(0.9));
       },
       [](optim::Optimizer& opt) { return std::make_unique<optim::OneCycleLR>(opt, 0.5, 24); },
       cos_momenta,
       {1.4882331244696874, -0.808698021215491, -0.07426460380622234, 2.768525418501506,
        0.20350488586868476}},
      {"SGD without momentum, three_phase, momentum 0.8 to 0.9, linear",
       [](const Tensor& p) {
         return std::make_unique<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions(0.5));
       },
       [](optim::Optimizer& opt) {
         return std::make_unique<optim::OneCycleLR>(
             opt, 0.5, 24,
             optim::OneCycleLROptions()
                 .set_three_phase(true)
                 .set_momentum_range(0.8, 0.9)
                 .set_anneal_strategy(optim::OneCycleLROptions::Anneal::linear));
       },
       {0.9,
        0.8838709677419355,
        0.867741935483871,
        0.8516129032258065,
        0.8354838709677419,
        0.8193548387096774,
        0.8032258064516129,
        0.8129032258064517,
        0.8290322580645162,
        0.8451612903225807,
        0.8612903225806452,
        0.8774193548387097,
        0.8935483870967742,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9},
       {1.1958592672531372, -0.9117055133851197, 0.2335069162171067, 2.3579555207966485,
        0.08948005301824465}},
      {"Adam",
       [](const Tensor& p) {
         return std::make_unique<optim::Adam>(std::vector<Tensor>{p}, optim::AdamOptions(0.05));
       },
       [](optim::Optimizer& opt) { return std::make_unique<optim::OneCycleLR>(opt, 0.05, 24); },
       cos_momenta,
       {0.9442828794699109, -1.0633832568447104, 1.497736038581225, 0.5077360712144445, 0.05406532221198507}},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    Tensor p = from_vector(kReferenceStart).requires_grad_();
    const auto opt = k.make_optimizer(p);
    const auto schedule = k.make_schedule(*opt);
    std::vector<double> momenta = {*opt->momentum()};
    for (int step = 1; step <= 24; ++step) {
      set_reference_gradient(p, step);
      opt->step();
      schedule->step();
      momenta.push_back(*opt->momentum());
    }
    check_values(from_vector(momenta), k.momenta, 1e-12);
    check_values(p, k.parameters, 1e-12);
  }
  // No momentum to cycle: an error that says how to turn cycling off.
  Tensor q = ones({1}).requires_grad_();
  optim::Adagrad adagrad({q}, optim::AdagradOptions(0.1));
  CHECK_THROWS_WITH_AS(optim::OneCycleLR(adagrad, 0.1, 10), doctest::Contains("set_cycle_momentum(false)"),
                       Error);
  optim::OneCycleLR plain(adagrad, 0.1, 10, optim::OneCycleLROptions().set_cycle_momentum(false));
  CHECK_FALSE(adagrad.momentum().has_value());
  optim::SGD sgd({q}, optim::SGDOptions(0.1));
  CHECK_THROWS_WITH_AS(
      optim::OneCycleLR(sgd, 0.1, 10, optim::OneCycleLROptions().set_momentum_range(0.9, 0.8)),
      doctest::Contains("must satisfy 0 <= base <= max < 1"), Error);
}
