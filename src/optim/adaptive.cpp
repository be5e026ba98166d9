// Adagrad, Adamax, NAdam, RAdam, Adadelta, ASGD and Rprop: torch.optim's update rules written as tensor ops
// (in place where the state is kept), so each runs on whichever device holds the
// parameters. Per-element state follows its parameter; step counts and NAdam's momentum
// product are host scalars, as Adam's step.
#include <algorithm>
#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/optim/optimizer.hpp"
#include "src/optim/one_group.hpp"

namespace kiln::optim {

namespace {

// The gradient with L2 weight decay added (torch's `grad.add(param, alpha=wd)`).
Tensor decayed(const Tensor& g, const Tensor& p, double wd) { return wd != 0 ? g + p * wd : g; }

// NAdam's and RAdam's start: weight decay, decoupled (p scaled by 1 - lr wd) or added to
// the gradient, then m = b1 m + (1 - b1) d and v = b2 v + (1 - b2) d^2 in place. Returns d.
Tensor decay_and_moments(Tensor& p, Tensor& m, Tensor& v, double lr, double wd, bool decoupled, double b1,
                         double b2) {
  if (decoupled && wd != 0) p.mul_(1 - lr * wd);
  const Tensor d = decayed(p.grad(), p, decoupled ? 0.0 : wd);
  m.mul_(b1);
  m.add_(d * (1 - b1));
  v.mul_(b2);
  v.add_(d * d * (1 - b2));
  return d;
}

void check_betas(const char* name, double b1, double b2, double eps, double wd) {
  KILN_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, name, ": betas (", b1, ", ", b2, ") must be in [0, 1)");
  KILN_CHECK(eps >= 0 && wd >= 0, name, ": eps ", eps, " and weight_decay ", wd, " must be >= 0");
}

}  // namespace

// ---- Adagrad --------------------------------------------------------------------------

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions o) : Adagrad(one_group(std::move(params)), o) {}
Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "Adagrad"), options(o) {
  KILN_CHECK(o.lr_decay >= 0 && o.weight_decay >= 0 && o.initial_accumulator_value >= 0 && o.eps >= 0,
             "Adagrad: lr_decay ", o.lr_decay, ", weight_decay ", o.weight_decay,
             ", initial_accumulator_value ", o.initial_accumulator_value, " and eps ", o.eps,
             " must be >= 0");
}

void Adagrad::step() {
  NoGradGuard no_grad;
  update_each([&](Group& group, Tensor& p, std::size_t i, double t) {
    Tensor& sum = group.state[i]["sum"];
    if (!sum.defined()) sum = full(p.shape(), options.initial_accumulator_value, p.dtype(), p.device());
    const Tensor d = decayed(p.grad(), p, group.weight_decay);
    sum.add_(d * d);
    const double clr = group.lr / (1 + (t - 1) * options.lr_decay);
    p.sub_(d / (sqrt(sum) + options.eps) * clr);
  });
}

// ---- Adamax ---------------------------------------------------------------------------

Adamax::Adamax(std::vector<Tensor> params, AdamaxOptions o) : Adamax(one_group(std::move(params)), o) {}
Adamax::Adamax(std::vector<ParamGroup> groups, AdamaxOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "Adamax"), options(o) {
  check_betas("Adamax", o.beta1, o.beta2, o.eps, o.weight_decay);
}

void Adamax::step() {
  NoGradGuard no_grad;
  const double b1 = options.beta1, b2 = options.beta2;
  update_each([&](Group& group, Tensor& p, std::size_t i, double t) {
    Tensor m = state_tensor(group, i, "exp_avg");
    Tensor u = state_tensor(group, i, "exp_inf");
    const Tensor d = decayed(p.grad(), p, group.weight_decay);
    m.mul_(b1);
    m.add_(d * (1 - b1));
    u.copy_(maximum(u * b2, abs(d) + options.eps));
    p.sub_(m / u * (group.lr / (1 - std::pow(b1, t))));
  });
}

// ---- NAdam ----------------------------------------------------------------------------

NAdam::NAdam(std::vector<Tensor> params, NAdamOptions o) : NAdam(one_group(std::move(params)), o) {}
NAdam::NAdam(std::vector<ParamGroup> groups, NAdamOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "NAdam"), options(o) {
  check_betas("NAdam", o.beta1, o.beta2, o.eps, o.weight_decay);
  KILN_CHECK(o.momentum_decay >= 0, "NAdam: momentum_decay ", o.momentum_decay, " must be >= 0");
}

void NAdam::step() {
  NoGradGuard no_grad;
  const double b1 = options.beta1, b2 = options.beta2, psi = options.momentum_decay;
  const auto mu_at = [&](double t) { return b1 * (1.0 - 0.5 * std::pow(0.96, t * psi)); };
  update_each([&](Group& group, Tensor& p, std::size_t i, double t) {
    Tensor& product = group.state[i]["mu_product"];
    if (!product.defined()) product = scalar_tensor(1.0, kFloat64);
    const double mu = mu_at(t), mu_next = mu_at(t + 1), lr = group.lr;
    const double mu_product = (product.data_ptr<double>()[0] *= mu);
    Tensor m = state_tensor(group, i, "exp_avg"), v = state_tensor(group, i, "exp_avg_sq");
    const Tensor d =
        decay_and_moments(p, m, v, lr, group.weight_decay, options.decoupled_weight_decay, b1, b2);
    const Tensor denom = sqrt(v / (1 - std::pow(b2, t))) + options.eps;
    p.add_(d / denom * (-lr * (1 - mu) / (1 - mu_product)));
    p.add_(m / denom * (-lr * mu_next / (1 - mu_product * mu_next)));
  });
}

// ---- RAdam ----------------------------------------------------------------------------

RAdam::RAdam(std::vector<Tensor> params, RAdamOptions o) : RAdam(one_group(std::move(params)), o) {}
RAdam::RAdam(std::vector<ParamGroup> groups, RAdamOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "RAdam"), options(o) {
  check_betas("RAdam", o.beta1, o.beta2, o.eps, o.weight_decay);
}

void RAdam::step() {
  NoGradGuard no_grad;
  const double b1 = options.beta1, b2 = options.beta2;
  const double rho_inf = 2 / (1 - b2) - 1;
  update_each([&](Group& group, Tensor& p, std::size_t i, double t) {
    Tensor m = state_tensor(group, i, "exp_avg"), v = state_tensor(group, i, "exp_avg_sq");
    decay_and_moments(p, m, v, group.lr, group.weight_decay, options.decoupled_weight_decay, b1, b2);
    const double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t), lr = group.lr;
    const double rho = rho_inf - 2 * t * std::pow(b2, t) / c2;
    const Tensor corrected = m / c1;
    if (rho > 5.0) {
      const double rect = std::sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho));
      p.sub_(corrected * lr * (std::sqrt(c2) / (sqrt(v) + options.eps)) * rect);
    } else {
      p.sub_(corrected * lr);
    }
  });
}

// ---- Adadelta -------------------------------------------------------------------------

Adadelta::Adadelta(std::vector<Tensor> params, AdadeltaOptions o)
    : Adadelta(one_group(std::move(params)), o) {}
Adadelta::Adadelta(std::vector<ParamGroup> groups, AdadeltaOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "Adadelta"), options(o) {
  KILN_CHECK(o.lr >= 0 && o.rho >= 0 && o.rho <= 1 && o.eps >= 0 && o.weight_decay >= 0, "Adadelta: lr ",
             o.lr, ", eps ", o.eps, " and weight_decay ", o.weight_decay, " must be >= 0 and rho ", o.rho,
             " in [0, 1]");
}

void Adadelta::step() {
  NoGradGuard no_grad;
  const double rho = options.rho, eps = options.eps;
  update_each([&](Group& group, Tensor& p, std::size_t i, double) {
    Tensor s = state_tensor(group, i, "square_avg"), a = state_tensor(group, i, "acc_delta");
    const Tensor d = decayed(p.grad(), p, group.weight_decay);
    s.mul_(rho);
    s.add_(d * d * (1 - rho));
    const Tensor delta = sqrt(a + eps) / sqrt(s + eps) * d;
    a.mul_(rho);
    a.add_(delta * delta * (1 - rho));
    p.sub_(delta * group.lr);
  });
}

// ---- ASGD -----------------------------------------------------------------------------

ASGD::ASGD(std::vector<Tensor> params, ASGDOptions o) : ASGD(one_group(std::move(params)), o) {}
ASGD::ASGD(std::vector<ParamGroup> groups, ASGDOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "ASGD"), options(o) {
  KILN_CHECK(o.lr >= 0 && o.lambd >= 0 && o.alpha >= 0 && o.weight_decay >= 0, "ASGD: lr ", o.lr, ", lambd ",
             o.lambd, ", alpha ", o.alpha, " and weight_decay ", o.weight_decay, " must be >= 0");
}

void ASGD::step() {
  NoGradGuard no_grad;
  update_each([&](Group& group, Tensor& p, std::size_t i, double t) {
    Tensor& eta_t = group.state[i]["eta"];
    Tensor& mu_t = group.state[i]["mu"];
    if (!eta_t.defined()) eta_t = scalar_tensor(group.lr, kFloat64);  // host scalars, as NAdam's product
    if (!mu_t.defined()) mu_t = scalar_tensor(1.0, kFloat64);
    double& eta = eta_t.data_ptr<double>()[0];
    double& mu = mu_t.data_ptr<double>()[0];
    Tensor ax = state_tensor(group, i, "ax");
    const Tensor d = decayed(p.grad(), p, group.weight_decay);
    p.mul_(1 - options.lambd * eta);
    p.sub_(d * eta);
    if (mu != 1)
      ax.add_((p - ax) * mu);
    else
      ax.copy_(p);
    eta = group.lr / std::pow(1 + options.lambd * group.lr * t, options.alpha);
    mu = 1 / std::max(1.0, t - options.t0);
  });
}

Tensor ASGD::averaged(std::size_t i, std::size_t group) const {
  KILN_CHECK(group < groups_.size() && i < groups_[group].params.size(), "ASGD::averaged: no parameter ", i,
             " in group ", group);
  const auto& state = groups_[group].state[i];
  const auto it = state.find("ax");
  return it == state.end() ? Tensor() : it->second;
}

// ---- Rprop ----------------------------------------------------------------------------

Rprop::Rprop(std::vector<Tensor> params, RpropOptions o) : Rprop(one_group(std::move(params)), o) {}
Rprop::Rprop(std::vector<ParamGroup> groups, RpropOptions o)
    : Optimizer(std::move(groups), o.lr, 0.0, "Rprop"), options(o) {
  KILN_CHECK(o.lr >= 0 && 0 < o.eta_minus && o.eta_minus < 1 && o.eta_plus > 1, "Rprop: lr ", o.lr,
             " must be >= 0 and the etas (", o.eta_minus, ", ", o.eta_plus,
             ") satisfy 0 < eta_minus < 1 < eta_plus");
  KILN_CHECK(0 <= o.step_size_min && o.step_size_min <= o.step_size_max, "Rprop: step sizes (",
             o.step_size_min, ", ", o.step_size_max, ") must satisfy 0 <= min <= max");
}

void Rprop::step() {
  NoGradGuard no_grad;
  update_each([&](Group& group, Tensor& p, std::size_t i, double) {
    Tensor& size = group.state[i]["step_size"];
    if (!size.defined()) size = full(p.shape(), group.lr, p.dtype(), p.device());
    Tensor prev = state_tensor(group, i, "prev");
    const Tensor& g = p.grad();
    const Tensor agree = sign(g * prev);  // 1: the same sign as last step, -1: it flipped
    const Tensor scaled =
        where(agree > 0.0, size * options.eta_plus, where(agree < 0.0, size * options.eta_minus, size));
    size.copy_(clamp(scaled, options.step_size_min, options.step_size_max));
    const Tensor taken = where(agree < 0.0, 0.0, g);  // no step, and no memory, after a flip
    p.sub_(sign(taken) * size);
    prev.copy_(taken);
  });
}

}  // namespace kiln::optim
