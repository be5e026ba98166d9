// L-BFGS (Liu & Nocedal 1989), as torch.optim.LBFGS: a quasi-Newton method for full-batch
// problems of modest size (fitting a small model, a style transfer's image, a
// physics-informed network). Each step may evaluate the loss several times, so it takes a
// closure that zeroes the gradients, computes the loss, runs backward and returns it:
//
//   optim::LBFGS opt(model->parameters(), optim::LBFGSOptions(1).line_search_strong_wolfe(true));
//   for (int i = 0; i < 20; ++i)
//     opt.step([&] { opt.zero_grad(); Tensor loss = loss_fn(model->forward(x), y); loss.backward(); return
//     loss; });
//
// Up to max_iter iterations a step: the direction from the last history_size pairs of
// steps s and gradient changes y (the two-loop recursion, scaled by s.y / y.y), then a move
// of lr along it, or a step length found by a line search meeting the strong Wolfe
// conditions (c1 = 1e-4, c2 = 0.9, at most 25 evaluations). A step stops early once the
// largest gradient entry is at most tolerance_grad, or the move or the change of the loss
// falls below tolerance_change, or max_eval evaluations are spent. The history carries over
// from step to step. All parameters form one group (no per-group options or weight decay).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "kiln/optim/optimizer.hpp"

namespace kiln::optim {

struct LBFGSOptions {
  explicit LBFGSOptions(double lr = 1) : lr(lr) {}
  double lr;
  std::int64_t max_iter = 20;
  std::optional<std::int64_t> max_eval;  // default max_iter * 5 / 4
  double tolerance_grad = 1e-7, tolerance_change = 1e-9;
  std::int64_t history_size = 100;
  bool strong_wolfe = false;  // torch's line_search_fn="strong_wolfe"
  LBFGSOptions& set_max_iter(std::int64_t v) {
    max_iter = v;
    return *this;
  }
  LBFGSOptions& set_max_eval(std::int64_t v) {
    max_eval = v;
    return *this;
  }
  LBFGSOptions& set_tolerance_grad(double v) {
    tolerance_grad = v;
    return *this;
  }
  LBFGSOptions& set_tolerance_change(double v) {
    tolerance_change = v;
    return *this;
  }
  LBFGSOptions& set_history_size(std::int64_t v) {
    history_size = v;
    return *this;
  }
  LBFGSOptions& line_search_strong_wolfe(bool v) {
    strong_wolfe = v;
    return *this;
  }
};

class LBFGS : public Optimizer {
public:
  using Closure = std::function<Tensor()>;
  LBFGS(std::vector<Tensor> params, LBFGSOptions options = LBFGSOptions());
  // One step, evaluating the closure as often as it needs; returns the loss of the first
  // evaluation (before this step moved anything), as torch's.
  Tensor step(const Closure& closure);
  void step() override;  // an Error: L-BFGS needs the closure
  // The base keys plus "lbfgs.*": the direction, step length, the history of s and y
  // (stacked, (k, n) for n parameter entries), the last gradient and loss, the counts.
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;
  std::int64_t evaluations() const { return func_evals_; }  // closure calls since construction
  std::int64_t iterations() const { return n_iter_; }       // iterations since construction
  LBFGSOptions options;

private:
  Tensor flat_grad() const;                       // every parameter's gradient, as one vector
  void add_to_params(double t, const Tensor& d);  // p += t d, piece by piece
  std::int64_t numel_ = 0;
  // The history and the search state, as torch keeps them between steps.
  Tensor d_, prev_flat_grad_, old_dirs_, old_steps_, ro_;  // old_*: (k, n), ro: (k)
  double t_ = 0, h_diag_ = 1, prev_loss_ = 0;
  std::int64_t n_iter_ = 0, func_evals_ = 0;
};

}  // namespace kiln::optim
