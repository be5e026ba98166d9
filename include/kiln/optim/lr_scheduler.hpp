// Learning-rate schedules; call step() once per epoch, after the optimizer's steps
// (ReduceLROnPlateau's step takes the epoch's metric). Each has state_dict() and
// load_state_dict() (the epoch count, or the plateau's rate, best value and counters)
// to save beside the optimizer's state; loading also sets the rate the state gives,
// so a resumed run continues the schedule exactly, whichever state is loaded first.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "kiln/optim/optimizer.hpp"

namespace kiln::optim {

// What the epoch-driven schedules share: the rate is a function of the epoch count
// (rate_at), set on the optimizer at every step() and when a state loads.
class EpochSchedule {
public:
  virtual ~EpochSchedule() = default;
  void step();
  std::int64_t epoch() const { return epoch_; }
  StateDict state_dict() const;                  // {"epoch"}
  void load_state_dict(const StateDict& state);  // the epoch, then the rate it gives

protected:
  EpochSchedule(Optimizer& optimizer, const char* name) : opt_(optimizer), name_(name) {}
  void apply() {
    opt_.set_lr(rate_at(epoch_));
    apply_more(epoch_);
  }
  virtual double rate_at(std::int64_t epoch) const = 0;
  // What else a schedule sets at each epoch (OneCycleLR: the momentum).
  virtual void apply_more(std::int64_t /*epoch*/) {}
  Optimizer& opt_;

private:
  friend class SequentialLR;  // runs its parts' rate_at and apply_more
  const char* name_;
  std::int64_t epoch_ = 0;
};

// lr = initial * gamma^floor(epoch / step_size)
class StepLR : public EpochSchedule {
public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

private:
  double rate_at(std::int64_t epoch) const override;
  std::int64_t step_size_;
  double gamma_;
};

// lr = initial * gamma^epoch
class ExponentialLR : public EpochSchedule {
public:
  ExponentialLR(Optimizer& optimizer, double gamma);

private:
  double rate_at(std::int64_t epoch) const override;
  double gamma_;
};

// lr = initial * gamma^(the number of milestones <= epoch): MultiStepLR(opt, {30, 80})
// divides the rate by 10 at epoch 30 and again at 80. A milestone listed twice counts twice.
class MultiStepLR : public EpochSchedule {
public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);

private:
  double rate_at(std::int64_t epoch) const override;
  std::vector<std::int64_t> milestones_;  // sorted
  double gamma_;
};

// lr = eta_min + (initial - eta_min) (1 + cos(pi epoch / T_max)) / 2
class CosineAnnealingLR : public EpochSchedule {
public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0.0);

private:
  double rate_at(std::int64_t epoch) const override;
  std::int64_t t_max_;
  double eta_min_;
};

// A linear ramp of the rate, usually a warm-up: lr = initial * f with f going from
// start_factor at epoch 0 to end_factor at epoch total_iters, then staying there.
// LinearLR(opt, 0.1, 1.0, 5) starts at a tenth of the rate and reaches it after 5 epochs.
// The starting rate is set when the schedule is made.
class LinearLR : public EpochSchedule {
public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           std::int64_t total_iters = 5);

private:
  double rate_at(std::int64_t epoch) const override;
  double start_, end_;
  std::int64_t total_;
};

// lr = initial * factor until epoch total_iters, then initial (a constant warm-up).
class ConstantLR : public EpochSchedule {
public:
  ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3, std::int64_t total_iters = 5);

private:
  double rate_at(std::int64_t epoch) const override;
  double factor_;
  std::int64_t total_;
};

// lr = initial * (1 - min(epoch, total_iters) / total_iters)^power: to 0 at total_iters.
class PolynomialLR : public EpochSchedule {
public:
  PolynomialLR(Optimizer& optimizer, std::int64_t total_iters = 5, double power = 1.0);

private:
  double rate_at(std::int64_t epoch) const override;
  std::int64_t total_;
  double power_;
};

// lr = initial * lr_lambda(epoch), any function of the epoch count.
class LambdaLR : public EpochSchedule {
public:
  LambdaLR(Optimizer& optimizer, std::function<double(std::int64_t)> lr_lambda);

private:
  double rate_at(std::int64_t epoch) const override;
  std::function<double(std::int64_t)> lambda_;
};

// lr = initial * f(1) f(2) ... f(epoch): each epoch multiplies the rate by f of its number
// (torch's MultiplicativeLR), e.g. [](std::int64_t) { return 0.95; } for 5 % less each epoch.
class MultiplicativeLR : public EpochSchedule {
public:
  MultiplicativeLR(Optimizer& optimizer, std::function<double(std::int64_t)> lr_lambda);

private:
  double rate_at(std::int64_t epoch) const override;
  std::function<double(std::int64_t)> lambda_;
};

// Cosine annealing with warm restarts (Loshchilov & Hutter 2017; torch's
// CosineAnnealingWarmRestarts): cycles of T_0, T_0 T_mult, T_0 T_mult^2, ... epochs, each
// a cosine from the initial rate down toward eta_min, then back up at once.
class CosineAnnealingWarmRestarts : public EpochSchedule {
public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t t_0, std::int64_t t_mult = 1,
                              double eta_min = 0.0);

private:
  double rate_at(std::int64_t epoch) const override;
  std::int64_t t_0_, t_mult_;
  double eta_min_;
};

// The 1cycle policy (Smith & Topin 2018; torch's OneCycleLR) over total_steps optimizer
// steps: call step() after every batch, not every epoch. From max_lr / div_factor the rate
// rises to max_lr over the first pct_start of the steps, then anneals (cosine, or linear)
// to max_lr / (div_factor final_div_factor); three_phase goes back down to the start rate
// symmetrically before that last fall. max_lr is for the optimizer's base rate; other
// groups keep their ratio to it. With cycle_momentum (the default, as PyTorch's) the
// momentum (SGD's, RMSprop's, or the Adam family's beta1) moves the other way, from
// max_momentum down to base_momentum while the rate rises and back while it falls, and
// starts at max_momentum; Adagrad has none, so it needs set_cycle_momentum(false).
struct OneCycleLROptions {
  enum class Anneal { cos, linear };
  double pct_start = 0.3, div_factor = 25.0, final_div_factor = 1e4;
  Anneal anneal_strategy = Anneal::cos;
  bool three_phase = false;
  bool cycle_momentum = true;
  double base_momentum = 0.85, max_momentum = 0.95;
  OneCycleLROptions& set_cycle_momentum(bool v) {
    cycle_momentum = v;
    return *this;
  }
  OneCycleLROptions& set_momentum_range(double base, double max) {
    base_momentum = base;
    max_momentum = max;
    return *this;
  }
  OneCycleLROptions& set_pct_start(double v) {
    pct_start = v;
    return *this;
  }
  OneCycleLROptions& set_div_factor(double v) {
    div_factor = v;
    return *this;
  }
  OneCycleLROptions& set_final_div_factor(double v) {
    final_div_factor = v;
    return *this;
  }
  OneCycleLROptions& set_anneal_strategy(Anneal v) {
    anneal_strategy = v;
    return *this;
  }
  OneCycleLROptions& set_three_phase(bool v) {
    three_phase = v;
    return *this;
  }
};
class OneCycleLR : public EpochSchedule {
public:
  OneCycleLR(Optimizer& optimizer, double max_lr, std::int64_t total_steps, OneCycleLROptions options = {});

  double momentum_at(std::int64_t step) const;  // with cycle_momentum

private:
  double rate_at(std::int64_t step) const override;
  void apply_more(std::int64_t step) override;
  // The value at `step` of a walk through the phases (two, or three with three_phase),
  // phase i going from ends[i].first to ends[i].second.
  double along_phases(std::int64_t step, const std::vector<std::pair<double, double>>& ends) const;
  double max_lr_;
  std::int64_t total_;
  OneCycleLROptions options_;
};

// Cyclical learning rates (Smith 2017; torch's CyclicLR): call step() after every batch.
// The rate climbs from base_lr to max_lr over step_size_up steps and back down over
// step_size_down (by default the same), again and again; the height of each cycle is
// scaled: triangular keeps it, triangular2 halves it every cycle, exp_range multiplies it
// by gamma^step. base_lr and max_lr are for the optimizer's base rate; other groups keep
// their ratio to it. With cycle_momentum (the default, as PyTorch's) the momentum (SGD's,
// RMSprop's, or the Adam family's beta1) moves the other way, from max_momentum to
// base_momentum and back.
struct CyclicLROptions {
  enum class Mode { triangular, triangular2, exp_range };
  std::int64_t step_size_up = 2000;
  std::optional<std::int64_t> step_size_down;
  Mode mode = Mode::triangular;
  double gamma = 1.0;  // exp_range's
  bool cycle_momentum = true;
  double base_momentum = 0.8, max_momentum = 0.9;
  CyclicLROptions& set_step_size_up(std::int64_t v) {
    step_size_up = v;
    return *this;
  }
  CyclicLROptions& set_step_size_down(std::int64_t v) {
    step_size_down = v;
    return *this;
  }
  CyclicLROptions& set_mode(Mode v) {
    mode = v;
    return *this;
  }
  CyclicLROptions& set_gamma(double v) {
    gamma = v;
    return *this;
  }
  CyclicLROptions& set_cycle_momentum(bool v) {
    cycle_momentum = v;
    return *this;
  }
  CyclicLROptions& set_momentum_range(double base, double max) {
    base_momentum = base;
    max_momentum = max;
    return *this;
  }
};
class CyclicLR : public EpochSchedule {
public:
  CyclicLR(Optimizer& optimizer, double base_lr, double max_lr, CyclicLROptions options = {});
  double momentum_at(std::int64_t step) const;  // with cycle_momentum

private:
  double rate_at(std::int64_t step) const override;
  void apply_more(std::int64_t step) override;
  // How far up the cycle `step` is (0 at base_lr, 1 at max_lr), times the mode's scale.
  double height(std::int64_t step) const;
  double base_lr_, max_lr_;
  CyclicLROptions options_;
};

// Schedules one after another, as torch.optim.lr_scheduler.SequentialLR: schedules[0]
// until epoch milestones[0], then schedules[1] counted from 0 again, and so on. A
// warm-up then a cosine decay over 100 epochs:
//   auto warmup = std::make_shared<optim::LinearLR>(opt, 0.1, 1.0, 5);
//   auto decay = std::make_shared<optim::CosineAnnealingLR>(opt, 95);
//   optim::SequentialLR schedule(opt, {warmup, decay}, {5});
// Step only this one; its parts are read, never stepped. Its state is its epoch count.
class SequentialLR : public EpochSchedule {
public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<EpochSchedule>> schedules,
               std::vector<std::int64_t> milestones);

private:
  double rate_at(std::int64_t epoch) const override;
  void apply_more(std::int64_t epoch) override;
  // The part that runs at `epoch`, and the epoch it started at.
  std::pair<std::size_t, std::int64_t> part_at(std::int64_t epoch) const;
  std::vector<std::shared_ptr<EpochSchedule>> schedules_;
  std::vector<std::int64_t> milestones_;
};

// Lowers the rate when a watched metric stops improving (torch.optim.lr_scheduler's
// ReduceLROnPlateau): call step(metric) once per epoch with, say, the validation loss.
// After more than `patience` epochs in a row without improvement, the rate is multiplied
// by `factor` (never below min_lr) and `cooldown` epochs pass before counting again.
// An improvement beats the best so far by more than `threshold` relative to it
// (best * (1 - threshold) in Mode::min; best * (1 + threshold) in Mode::max, for an
// accuracy); a NaN never improves. min_lr applies to the optimizer's base rate; groups
// keep their ratio to it.
struct ReduceLROnPlateauOptions {
  enum class Mode { min, max };
  Mode mode = Mode::min;
  double factor = 0.1;
  std::int64_t patience = 10;
  double threshold = 1e-4;
  std::int64_t cooldown = 0;
  double min_lr = 0.0;
  ReduceLROnPlateauOptions& set_mode(Mode v) {
    mode = v;
    return *this;
  }
  ReduceLROnPlateauOptions& set_factor(double v) {
    factor = v;
    return *this;
  }
  ReduceLROnPlateauOptions& set_patience(std::int64_t v) {
    patience = v;
    return *this;
  }
  ReduceLROnPlateauOptions& set_threshold(double v) {
    threshold = v;
    return *this;
  }
  ReduceLROnPlateauOptions& set_cooldown(std::int64_t v) {
    cooldown = v;
    return *this;
  }
  ReduceLROnPlateauOptions& set_min_lr(double v) {
    min_lr = v;
    return *this;
  }
};

class ReduceLROnPlateau {
public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  void step(double metric);
  double lr() const { return lr_; }  // the base rate now
  std::int64_t epochs_without_improvement() const { return bad_epochs_; }
  double best() const { return best_; }
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

private:
  bool improves(double metric) const;
  Optimizer& opt_;
  ReduceLROnPlateauOptions options_;
  double lr_, best_;
  std::int64_t bad_epochs_ = 0, cooldown_left_ = 0;
};

}  // namespace kiln::optim
