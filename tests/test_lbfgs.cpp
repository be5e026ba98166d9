// L-BFGS: a quadratic solved to its minimiser, Rosenbrock's valley with the strong-Wolfe
// search, the evaluation budget and the tolerances, state_dict resuming exactly, errors.
// (tests/torch_differential_training.cpp follows torch's own steps.)
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;

namespace {

// f(x) = x^T A x / 2 - b^T x over a 6-vector, A symmetric positive definite.
struct Quadratic {
  Tensor a, b;
  Quadratic() {
    manual_seed(40);
    const Tensor m = randn({6, 6}, kFloat64);
    a = matmul(m, m.t()) + eye(6, 6, kFloat64);
    b = randn({6}, kFloat64);
  }
  Tensor loss(const Tensor& x) const { return sum(x * matmul(a, x)) * 0.5 - sum(b * x); }
};

// The closure L-BFGS takes: zero the gradients, the loss, its backward.
template <class Loss>
optim::LBFGS::Closure closure_of(optim::LBFGS& opt, Loss loss) {
  return [&opt, loss] {
    opt.zero_grad();
    Tensor l = loss();
    l.backward();
    return l;
  };
}

}  // namespace

TEST_CASE("LBFGS: a quadratic's minimiser, with unit steps and with the strong-Wolfe search") {
  const Quadratic q;
  const Tensor solution = solve(q.a, q.b.unsqueeze(1)).squeeze(1);
  for (const bool wolfe : {false, true}) {
    CAPTURE(wolfe);
    Tensor x = zeros({6}, kFloat64).requires_grad_(true);
    // Tolerances tight enough that the minimiser, not a stalled loss, ends the step.
    optim::LBFGS opt({x}, optim::LBFGSOptions(1)
                              .set_max_iter(50)
                              .set_tolerance_grad(1e-11)
                              .set_tolerance_change(1e-30)
                              .line_search_strong_wolfe(wolfe));
    const Tensor first = opt.step(closure_of(opt, [&] { return q.loss(x); }));
    CHECK(first.item() == 0.0);  // the loss before the step moved anything: f(0)
    check_same(x.detach(), solution, 1e-9);
    CHECK(opt.iterations() < 50);  // it stopped at the minimiser, not at max_iter
  }
}

TEST_CASE("LBFGS: Rosenbrock's valley with the strong-Wolfe search") {
  Tensor xy = tensor<double>({-1.2, 1.0}).requires_grad_(true);
  optim::LBFGS opt(
      {xy},
      optim::LBFGSOptions(1).set_tolerance_grad(1e-10).set_tolerance_change(1e-14).line_search_strong_wolfe(
          true));
  const auto rosenbrock = [&] {
    const Tensor x = xy.select(0, 0), y = xy.select(0, 1);
    return (1.0 - x) * (1.0 - x) + (y - x * x) * (y - x * x) * 100.0;
  };
  double previous = INFINITY;
  for (int step = 0; step < 6; ++step) {
    const double f = opt.step(closure_of(opt, rosenbrock)).item();
    CHECK(f <= previous);  // each step starts where the last ended, no higher
    previous = f;
  }
  check_same(xy.detach(), tensor<double>({1.0, 1.0}), 1e-6);
}

TEST_CASE("LBFGS: the evaluation budget, the tolerances, and a step that need not move") {
  const Quadratic q;
  Tensor x = zeros({6}, kFloat64).requires_grad_(true);
  int calls = 0;
  optim::LBFGS opt({x}, optim::LBFGSOptions(0.1).set_max_iter(10).set_max_eval(4));
  opt.step(closure_of(opt, [&] {
    ++calls;
    return q.loss(x);
  }));
  CHECK(calls == 4);  // one at the start, one after each move, until max_eval
  CHECK(opt.evaluations() == 4);
  CHECK(opt.iterations() == 3);
  // Without max_eval, max_iter 10 moves ten times and evaluates after all but the last.
  calls = 0;
  optim::LBFGS ten({x}, optim::LBFGSOptions(0.1).set_max_iter(10));
  ten.step(closure_of(ten, [&] {
    ++calls;
    return q.loss(x);
  }));
  CHECK(calls == 10);
  CHECK(ten.iterations() == 10);
  // At a minimum the gradient is below tolerance_grad: one evaluation, nothing moves.
  Tensor at_min = solve(q.a, q.b.unsqueeze(1)).squeeze(1).clone().requires_grad_(true);
  const Tensor before = at_min.detach().clone();
  optim::LBFGS still({at_min}, optim::LBFGSOptions(1).set_tolerance_grad(1e-6));
  calls = 0;
  still.step(closure_of(still, [&] {
    ++calls;
    return q.loss(at_min);
  }));
  CHECK(calls == 1);
  CHECK(still.iterations() == 0);
  check_same(at_min.detach(), before, 0);
}

TEST_CASE("LBFGS: state_dict resumes exactly, history and search state included; errors") {
  const Quadratic q;
  const auto options = optim::LBFGSOptions(0.5).set_max_iter(5).set_history_size(2);
  Tensor a = zeros({6}, kFloat64).requires_grad_(true), b = zeros({6}, kFloat64).requires_grad_(true);
  optim::LBFGS straight({a}, options), first({b}, options);
  for (int i = 0; i < 3; ++i) straight.step(closure_of(straight, [&] { return q.loss(a); }));
  first.step(closure_of(first, [&] { return q.loss(b); }));
  const optim::StateDict saved = first.state_dict();
  CHECK(saved.at("lbfgs.old_dirs").shape() == Shape{2, 6});  // the history kept to its size
  optim::LBFGS resumed({b}, options);
  resumed.load_state_dict(saved);
  for (int i = 0; i < 2; ++i) resumed.step(closure_of(resumed, [&] { return q.loss(b); }));
  check_same(b.detach(), a.detach(), 0);
  CHECK(resumed.iterations() == straight.iterations());

  Tensor c = zeros({5}, kFloat64).requires_grad_(true);
  optim::LBFGS other({c}, options);
  CHECK_THROWS_WITH_AS(other.load_state_dict(saved), doctest::Contains("for parameters of 5 entries"), Error);
  optim::StateDict missing = saved;
  missing.erase("lbfgs.t");
  CHECK_THROWS_WITH_AS(resumed.load_state_dict(missing), doctest::Contains("missing key 'lbfgs.t'"), Error);
  CHECK_THROWS_WITH_AS(resumed.step(), doctest::Contains("step() needs a closure"), Error);
  CHECK_THROWS_WITH_AS(optim::LBFGS({c}, optim::LBFGSOptions().set_history_size(0)),
                       doctest::Contains("history_size 0 must be >= 1"), Error);
}
