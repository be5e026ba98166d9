// Optimizers update parameters from their .grad(); they run under NoGradGuard.
//
//   optim::Adam opt(model->parameters(), optim::AdamOptions(1e-3));
//   opt.zero_grad(); loss.backward(); opt.step();
//
// Parameters can be split into groups with their own learning rate or weight decay:
//   optim::Adam opt({{first->parameters(), optim::GroupOverrides().set_weight_decay(5e-4)},
//                    {rest->parameters(), {}}},
//                   optim::AdamOptions(0.01));
// state_dict() holds everything needed to resume exactly (moments, step counts, rates).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::optim {

using StateDict = std::map<std::string, Tensor>;

// Per-group settings that override the optimizer's options where given.
struct GroupOverrides {
  std::optional<double> lr;
  std::optional<double> weight_decay;
  GroupOverrides& set_lr(double v) { lr = v; return *this; }
  GroupOverrides& set_weight_decay(double v) { weight_decay = v; return *this; }
};

struct ParamGroup {
  std::vector<Tensor> params;
  GroupOverrides overrides;
};

class Optimizer {
public:
  virtual ~Optimizer() = default;
  void zero_grad();
  virtual void step() = 0;

  // The rate of group `i` (all groups share a schedule: set_lr scales each group
  // relative to its initial rate, so group overrides keep their ratio).
  double lr(std::size_t group = 0) const { return groups_.at(group).lr; }
  void set_lr(double lr);
  double initial_lr() const { return base_lr_; }
  std::size_t num_groups() const { return groups_.size(); }
  // The momentum that a schedule may cycle (OneCycleLR): SGD's and RMSprop's momentum, the
  // Adam family's beta1; none for Adagrad. set_momentum changes it for every group (an
  // Error where there is none).
  virtual std::optional<double> momentum() const { return std::nullopt; }
  virtual void set_momentum(double value);

  // A snapshot (copies). Keys: "step", "group.{g}.lr", "state.{g}.{i}.{name}" (name:
  // momentum_buffer, exp_avg, exp_avg_sq, square_avg, grad_avg, sum, exp_inf, step,
  // mu_product).
  virtual StateDict state_dict() const;
  virtual void load_state_dict(const StateDict& state);

protected:
  struct Group {
    std::vector<Tensor> params;
    double lr, initial_lr, weight_decay;
    std::vector<std::map<std::string, Tensor>> state;  // one map per parameter
  };
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const char* name);
  // The per-parameter state tensor `key`, created as zeros on first use.
  Tensor& state_tensor(Group& g, std::size_t i, const std::string& key);
  // Parameter i's own step count ("step", a host scalar), advanced by one: 1 on its first update.
  double next_step(Group& g, std::size_t i);
  // Counts a step, then runs update(group, p, i, t) for every parameter p that has a
  // gradient, t its own step count after this one.
  template <class Update>
  void update_each(Update update) {
    ++step_count_;
    for (auto& group : groups_)
      for (std::size_t i = 0; i < group.params.size(); ++i)
        if (group.params[i].grad().defined()) update(group, group.params[i], i, next_step(group, i));
  }

  std::vector<Group> groups_;
  std::int64_t step_count_ = 0;
  double base_lr_;
  const char* name_;
};

struct SGDOptions {
  explicit SGDOptions(double lr) : lr(lr) {}
  double lr;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  SGDOptions& set_momentum(double v) { momentum = v; return *this; }
  SGDOptions& set_dampening(double v) { dampening = v; return *this; }
  SGDOptions& set_weight_decay(double v) { weight_decay = v; return *this; }
  SGDOptions& set_nesterov(bool v) { nesterov = v; return *this; }
};

// p -= lr * d, d = g + wd p, with momentum b = mu b + (1 - dampening) d (b = d on the
// first step) and d = b, or d + mu b with Nesterov. As torch.optim.SGD.
class SGD : public Optimizer {
public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<ParamGroup> groups, SGDOptions options);
  std::optional<double> momentum() const override { return options.momentum; }
  void set_momentum(double value) override { options.momentum = value; }
  void step() override;
  SGDOptions options;
};

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr(lr) {}
  double lr;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;
  AdamOptions& set_betas(double b1, double b2) { beta1 = b1; beta2 = b2; return *this; }
  AdamOptions& set_eps(double v) { eps = v; return *this; }
  AdamOptions& set_weight_decay(double v) { weight_decay = v; return *this; }
};

// m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
// Adam adds weight decay to the gradient (L2); AdamW decays the weights directly
// (p -= lr wd p) before the update. As torch.optim.Adam / AdamW.
class Adam : public Optimizer {
public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  Adam(std::vector<ParamGroup> groups, AdamOptions options);
  std::optional<double> momentum() const override { return options.beta1; }
  void set_momentum(double value) override { options.beta1 = value; }
  void step() override;
  AdamOptions options;

protected:
  Adam(std::vector<ParamGroup> groups, AdamOptions options, bool decoupled, const char* name);
  bool decoupled_;
};

class AdamW : public Adam {
public:
  AdamW(std::vector<Tensor> params, AdamOptions options);
  AdamW(std::vector<ParamGroup> groups, AdamOptions options);
};

struct RMSpropOptions {
  explicit RMSpropOptions(double lr = 1e-2) : lr(lr) {}
  double lr;
  double alpha = 0.99, eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
  RMSpropOptions& set_alpha(double v) { alpha = v; return *this; }
  RMSpropOptions& set_eps(double v) { eps = v; return *this; }
  RMSpropOptions& set_weight_decay(double v) { weight_decay = v; return *this; }
  RMSpropOptions& set_momentum(double v) { momentum = v; return *this; }
  RMSpropOptions& set_centered(bool v) { centered = v; return *this; }
};

// d = g + wd p;  v = alpha v + (1 - alpha) d^2;  s = sqrt(v) + eps, or, centered, with
// a = alpha a + (1 - alpha) d, s = sqrt(v - a^2) + eps;  u = d / s, or with momentum
// b = mu b + u and u = b;  p -= lr u. As torch.optim.RMSprop.
class RMSprop : public Optimizer {
public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options);
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options);
  std::optional<double> momentum() const override { return options.momentum; }
  void set_momentum(double value) override { options.momentum = value; }
  void step() override;
  RMSpropOptions options;
};

// The adaptive optimizers below are composed of tensor ops (each a few passes over a
// parameter), so they run on either device; their formulas and defaults are
// torch.optim's, and each keeps a per-parameter "step" as Adam does.

struct AdagradOptions {
  explicit AdagradOptions(double lr = 1e-2) : lr(lr) {}
  double lr;
  double lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10;
  AdagradOptions& set_lr_decay(double v) {
    lr_decay = v;
    return *this;
  }
  AdagradOptions& set_weight_decay(double v) {
    weight_decay = v;
    return *this;
  }
  AdagradOptions& set_initial_accumulator_value(double v) {
    initial_accumulator_value = v;
    return *this;
  }
  AdagradOptions& set_eps(double v) {
    eps = v;
    return *this;
  }
};

// d = g + wd p;  s += d^2 (s starts at initial_accumulator_value);
// p -= lr / (1 + (t - 1) lr_decay) * d / (sqrt(s) + eps). As torch.optim.Adagrad.
class Adagrad : public Optimizer {
public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options);
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions options);
  void step() override;
  AdagradOptions options;
};

struct AdamaxOptions {
  explicit AdamaxOptions(double lr = 2e-3) : lr(lr) {}
  double lr;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  AdamaxOptions& set_betas(double b1, double b2) {
    beta1 = b1;
    beta2 = b2;
    return *this;
  }
  AdamaxOptions& set_eps(double v) {
    eps = v;
    return *this;
  }
  AdamaxOptions& set_weight_decay(double v) {
    weight_decay = v;
    return *this;
  }
};

// Adam with the infinity norm: d = g + wd p;  m = b1 m + (1 - b1) d;
// u = max(b2 u, |d| + eps);  p -= lr / (1 - b1^t) * m / u. As torch.optim.Adamax.
class Adamax : public Optimizer {
public:
  Adamax(std::vector<Tensor> params, AdamaxOptions options);
  Adamax(std::vector<ParamGroup> groups, AdamaxOptions options);
  std::optional<double> momentum() const override { return options.beta1; }
  void set_momentum(double value) override { options.beta1 = value; }
  void step() override;
  AdamaxOptions options;
};

struct NAdamOptions {
  explicit NAdamOptions(double lr = 2e-3) : lr(lr) {}
  double lr;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0, momentum_decay = 4e-3;
  bool decoupled_weight_decay = false;
  NAdamOptions& set_betas(double b1, double b2) {
    beta1 = b1;
    beta2 = b2;
    return *this;
  }
  NAdamOptions& set_eps(double v) {
    eps = v;
    return *this;
  }
  NAdamOptions& set_weight_decay(double v) {
    weight_decay = v;
    return *this;
  }
  NAdamOptions& set_momentum_decay(double v) {
    momentum_decay = v;
    return *this;
  }
  NAdamOptions& set_decoupled_weight_decay(bool v) {
    decoupled_weight_decay = v;
    return *this;
  }
};

// Adam with Nesterov momentum (Dozat 2016): mu_t = b1 (1 - 0.5 * 0.96^(t psi)), psi the
// momentum decay, and P_t = mu_1 ... mu_t; m, v as Adam's, s = sqrt(v / (1 - b2^t)) + eps;
// p -= lr (1 - mu_t) / (1 - P_t) d / s + lr mu_{t+1} / (1 - P_t mu_{t+1}) m / s. Weight
// decay adds to d, or with decoupled_weight_decay scales p by 1 - lr wd first (NAdamW).
// As torch.optim.NAdam.
class NAdam : public Optimizer {
public:
  NAdam(std::vector<Tensor> params, NAdamOptions options);
  NAdam(std::vector<ParamGroup> groups, NAdamOptions options);
  std::optional<double> momentum() const override { return options.beta1; }
  void set_momentum(double value) override { options.beta1 = value; }
  void step() override;
  NAdamOptions options;
};

struct RAdamOptions {
  explicit RAdamOptions(double lr = 1e-3) : lr(lr) {}
  double lr;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false;
  RAdamOptions& set_betas(double b1, double b2) {
    beta1 = b1;
    beta2 = b2;
    return *this;
  }
  RAdamOptions& set_eps(double v) {
    eps = v;
    return *this;
  }
  RAdamOptions& set_weight_decay(double v) {
    weight_decay = v;
    return *this;
  }
  RAdamOptions& set_decoupled_weight_decay(bool v) {
    decoupled_weight_decay = v;
    return *this;
  }
};

// Adam whose adaptive step is rectified while the variance estimate is unreliable (Liu et
// al. 2020): with rho_inf = 2 / (1 - b2) - 1 and rho_t = rho_inf - 2 t b2^t / (1 - b2^t),
// p -= lr m / (1 - b1^t) * r_t sqrt(1 - b2^t) / (sqrt(v) + eps) once rho_t > 5, r_t =
// sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)); before that
// the plain momentum step p -= lr m / (1 - b1^t). Weight decay as NAdam's. As torch.optim.RAdam.
class RAdam : public Optimizer {
public:
  RAdam(std::vector<Tensor> params, RAdamOptions options);
  RAdam(std::vector<ParamGroup> groups, RAdamOptions options);
  std::optional<double> momentum() const override { return options.beta1; }
  void set_momentum(double value) override { options.beta1 = value; }
  void step() override;
  RAdamOptions options;
};

struct AdadeltaOptions {
  explicit AdadeltaOptions(double lr = 1.0) : lr(lr) {}
  double lr;
  double rho = 0.9, eps = 1e-6, weight_decay = 0;
  AdadeltaOptions& set_rho(double v) {
    rho = v;
    return *this;
  }
  AdadeltaOptions& set_eps(double v) {
    eps = v;
    return *this;
  }
  AdadeltaOptions& set_weight_decay(double v) {
    weight_decay = v;
    return *this;
  }
};

// Zeiler's step with its own units (2012): d = g + wd p;  s = rho s + (1 - rho) d^2;
// delta = sqrt(a + eps) / sqrt(s + eps) d;  a = rho a + (1 - rho) delta^2;  p -= lr delta.
// State "square_avg" (s) and "acc_delta" (a). As torch.optim.Adadelta.
class Adadelta : public Optimizer {
public:
  Adadelta(std::vector<Tensor> params, AdadeltaOptions options);
  Adadelta(std::vector<ParamGroup> groups, AdadeltaOptions options);
  void step() override;
  AdadeltaOptions options;
};

struct ASGDOptions {
  explicit ASGDOptions(double lr = 1e-2) : lr(lr) {}
  double lr;
  double lambd = 1e-4, alpha = 0.75, t0 = 1e6, weight_decay = 0;
  ASGDOptions& set_lambd(double v) {
    lambd = v;
    return *this;
  }
  ASGDOptions& set_alpha(double v) {
    alpha = v;
    return *this;
  }
  ASGDOptions& set_t0(double v) {
    t0 = v;
    return *this;
  }
  ASGDOptions& set_weight_decay(double v) {
    weight_decay = v;
    return *this;
  }
};

// Averaged SGD (Polyak and Juditsky 1992): d = g + wd p;  p = (1 - lambd eta) p - eta d;
// then the average ax follows p (ax = p while mu = 1, else ax += mu (p - ax)); after step t,
// eta = lr / (1 + lambd lr t)^alpha and mu = 1 / max(1, t - t0). The average, what one
// evaluates, is averaged(i). State "eta", "mu", "ax". As torch.optim.ASGD.
class ASGD : public Optimizer {
public:
  ASGD(std::vector<Tensor> params, ASGDOptions options);
  ASGD(std::vector<ParamGroup> groups, ASGDOptions options);
  void step() override;
  // The running average of parameter i of group g (undefined before its first step).
  Tensor averaged(std::size_t i, std::size_t group = 0) const;
  ASGDOptions options;
};

struct RpropOptions {
  explicit RpropOptions(double lr = 1e-2) : lr(lr) {}
  double lr;  // every step size's start
  double eta_minus = 0.5, eta_plus = 1.2;
  double step_size_min = 1e-6, step_size_max = 50;
  RpropOptions& set_etas(double minus, double plus) {
    eta_minus = minus;
    eta_plus = plus;
    return *this;
  }
  RpropOptions& set_step_sizes(double min, double max) {
    step_size_min = min;
    step_size_max = max;
    return *this;
  }
};

// Resilient backpropagation (Riedmiller and Braun 1993), for full-batch training: each
// weight has its own step size (starting at lr), times eta_plus while its gradient keeps
// its sign and times eta_minus when the sign flips, clamped to [step_size_min,
// step_size_max]; p -= sign(g) step, except after a flip, where that step is skipped and
// the gradient remembered as 0. State "prev" and "step_size". As torch.optim.Rprop.
class Rprop : public Optimizer {
public:
  Rprop(std::vector<Tensor> params, RpropOptions options);
  Rprop(std::vector<ParamGroup> groups, RpropOptions options);
  void step() override;
  RpropOptions options;
};

}  // namespace kiln::optim
