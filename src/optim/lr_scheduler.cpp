// Learning-rate schedules and their state dicts.
#include "kiln/optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kiln/core/factories.hpp"

namespace kiln::optim {

namespace {

// The number under `key` in a schedule's state: a one-element tensor.
double state_value(const StateDict& state, const std::string& key, const char* who) {
  const auto it = state.find(key);
  KILN_CHECK(it != state.end() && it->second.numel() == 1, who,
             ".load_state_dict: the state has no number under '", key, "'; pass what ", who,
             "::state_dict() returned");
  return it->second.item();
}

}  // namespace

void EpochSchedule::step() {
  ++epoch_;
  apply();
}
StateDict EpochSchedule::state_dict() const {
  return {{"epoch", scalar_tensor(static_cast<double>(epoch_), kInt64)}};
}
void EpochSchedule::load_state_dict(const StateDict& state) {
  const double epoch = state_value(state, "epoch", name_);
  KILN_CHECK(epoch >= 0 && epoch == std::floor(epoch), name_, ".load_state_dict: epoch ", epoch,
             " is not a count of epochs");
  epoch_ = static_cast<std::int64_t>(epoch);
  apply();
}

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : EpochSchedule(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  KILN_CHECK(step_size > 0, "StepLR: step_size ", step_size, " must be positive");
}
double StepLR::rate_at(std::int64_t epoch) const {
  return opt_.initial_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : EpochSchedule(optimizer, "ExponentialLR"), gamma_(gamma) {
  KILN_CHECK(gamma > 0 && std::isfinite(gamma), "ExponentialLR: gamma ", gamma,
             " must be positive and finite");
}
double ExponentialLR::rate_at(std::int64_t epoch) const {
  return opt_.initial_lr() * std::pow(gamma_, static_cast<double>(epoch));
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma)
    : EpochSchedule(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  KILN_CHECK(std::all_of(milestones_.begin(), milestones_.end(), [](std::int64_t m) { return m > 0; }),
             "MultiStepLR: milestones must be positive epoch counts");
  std::sort(milestones_.begin(), milestones_.end());
}
double MultiStepLR::rate_at(std::int64_t epoch) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return opt_.initial_lr() * std::pow(gamma_, static_cast<double>(passed));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min)
    : EpochSchedule(optimizer, "CosineAnnealingLR"), t_max_(t_max), eta_min_(eta_min) {
  KILN_CHECK(t_max > 0, "CosineAnnealingLR: T_max ", t_max, " must be positive");
}
double CosineAnnealingLR::rate_at(std::int64_t epoch) const {
  const double base = opt_.initial_lr();
  return eta_min_ + (base - eta_min_) * (1 + std::cos(M_PI * static_cast<double>(epoch) / t_max_)) / 2;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, std::int64_t total_iters)
    : EpochSchedule(optimizer, "LinearLR"), start_(start_factor), end_(end_factor), total_(total_iters) {
  KILN_CHECK(start_factor > 0 && start_factor <= 1 && end_factor >= 0 && end_factor <= 1 && total_iters > 0,
             "LinearLR: start_factor ", start_factor, " must be in (0, 1], end_factor ", end_factor,
             " in [0, 1] and total_iters ", total_iters, " positive");
  apply();  // the starting rate
}
double LinearLR::rate_at(std::int64_t epoch) const {
  const double t = static_cast<double>(std::min(epoch, total_)) / static_cast<double>(total_);
  return opt_.initial_lr() * (start_ + (end_ - start_) * t);
}

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, std::int64_t total_iters)
    : EpochSchedule(optimizer, "ConstantLR"), factor_(factor), total_(total_iters) {
  KILN_CHECK(factor >= 0 && factor <= 1 && total_iters >= 0, "ConstantLR: factor ", factor,
             " must be in [0, 1] and total_iters ", total_iters, " >= 0");
  apply();  // the starting rate
}
double ConstantLR::rate_at(std::int64_t epoch) const {
  return opt_.initial_lr() * (epoch < total_ ? factor_ : 1.0);
}

PolynomialLR::PolynomialLR(Optimizer& optimizer, std::int64_t total_iters, double power)
    : EpochSchedule(optimizer, "PolynomialLR"), total_(total_iters), power_(power) {
  KILN_CHECK(total_iters > 0 && power >= 0, "PolynomialLR: total_iters ", total_iters,
             " must be positive and power ", power, " >= 0");
}
double PolynomialLR::rate_at(std::int64_t epoch) const {
  const double left = 1.0 - static_cast<double>(std::min(epoch, total_)) / static_cast<double>(total_);
  return opt_.initial_lr() * std::pow(left, power_);
}

LambdaLR::LambdaLR(Optimizer& optimizer, std::function<double(std::int64_t)> lr_lambda)
    : EpochSchedule(optimizer, "LambdaLR"), lambda_(std::move(lr_lambda)) {
  KILN_CHECK(static_cast<bool>(lambda_), "LambdaLR: the function of the epoch is empty");
  apply();  // lr_lambda(0) sets the starting rate
}
double LambdaLR::rate_at(std::int64_t epoch) const { return opt_.initial_lr() * lambda_(epoch); }

MultiplicativeLR::MultiplicativeLR(Optimizer& optimizer, std::function<double(std::int64_t)> lr_lambda)
    : EpochSchedule(optimizer, "MultiplicativeLR"), lambda_(std::move(lr_lambda)) {
  KILN_CHECK(static_cast<bool>(lambda_), "MultiplicativeLR: the function of the epoch is empty");
}
double MultiplicativeLR::rate_at(std::int64_t epoch) const {
  double rate = opt_.initial_lr();
  for (std::int64_t e = 1; e <= epoch; ++e) rate *= lambda_(e);  // torch's order of products
  return rate;
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t t_0,
                                                         std::int64_t t_mult, double eta_min)
    : EpochSchedule(optimizer, "CosineAnnealingWarmRestarts"), t_0_(t_0), t_mult_(t_mult), eta_min_(eta_min) {
  KILN_CHECK(t_0 > 0 && t_mult >= 1, "CosineAnnealingWarmRestarts: T_0 ", t_0,
             " must be positive and T_mult ", t_mult, " a whole number >= 1");
}
double CosineAnnealingWarmRestarts::rate_at(std::int64_t epoch) const {
  // Walk the cycles (exact in integers): the epoch's place in its cycle, and that cycle's length.
  std::int64_t t_cur = epoch, t_i = t_0_;
  if (t_mult_ == 1) {
    t_cur = epoch % t_0_;
  } else {
    while (t_cur >= t_i) {
      t_cur -= t_i;
      t_i *= t_mult_;
    }
  }
  const double base = opt_.initial_lr();
  return eta_min_ +
         (base - eta_min_) * (1 + std::cos(M_PI * static_cast<double>(t_cur) / static_cast<double>(t_i))) / 2;
}

namespace {
// What a schedule that cycles the momentum needs: an optimizer that has one, and a range
// 0 <= base <= max < 1.
void check_momentum_range(const char* schedule, const Optimizer& optimizer, double base, double max) {
  KILN_CHECK(
      optimizer.momentum().has_value(), schedule,
      ": cycle_momentum needs an optimizer with a momentum or beta1 (SGD, RMSprop, the Adam family); pass ",
      schedule, "Options().set_cycle_momentum(false)");
  KILN_CHECK(base >= 0 && base <= max && max < 1, schedule, ": the momentum range [", base, ", ", max,
             "] must satisfy 0 <= base <= max < 1");
}
}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, std::int64_t total_steps, OneCycleLROptions o)
    : EpochSchedule(optimizer, "OneCycleLR"), max_lr_(max_lr), total_(total_steps), options_(o) {
  KILN_CHECK(max_lr > 0 && total_steps > 0, "OneCycleLR: max_lr ", max_lr, " and total_steps ", total_steps,
             " must be positive");
  KILN_CHECK(o.pct_start > 0 && o.pct_start < 1 && o.div_factor > 0 && o.final_div_factor > 0,
             "OneCycleLR: pct_start ", o.pct_start, " must be in (0, 1), div_factor ", o.div_factor,
             " and final_div_factor ", o.final_div_factor, " positive");
  KILN_CHECK(o.pct_start * static_cast<double>(total_steps) > 1, "OneCycleLR: pct_start ", o.pct_start,
             " of ", total_steps, " steps leaves the rise no steps; raise either");
  if (o.cycle_momentum) check_momentum_range("OneCycleLR", optimizer, o.base_momentum, o.max_momentum);
  apply();  // the starting rate, max_lr / div_factor (and momentum, max_momentum)
}
double OneCycleLR::along_phases(std::int64_t step, const std::vector<std::pair<double, double>>& ends) const {
  KILN_CHECK(step <= total_, "OneCycleLR: stepped ", step, " times, past its total_steps ", total_,
             "; give total_steps = epochs * batches per epoch");
  // PyTorch's phases end at these steps: the rise, (three_phase) the fall back, the last fall.
  const double rise = options_.pct_start * static_cast<double>(total_) - 1,
               last = static_cast<double>(total_) - 1;
  const std::vector<double> phase_end =
      ends.size() == 3 ? std::vector<double>{rise, 2 * rise, last} : std::vector<double>{rise, last};
  const auto s = static_cast<double>(step);
  double begin = 0;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    if (s <= phase_end[i] || i + 1 == ends.size()) {
      const double pct = (s - begin) / (phase_end[i] - begin);
      const auto [from, to] = ends[i];
      if (options_.anneal_strategy == OneCycleLROptions::Anneal::linear) return (to - from) * pct + from;
      return to + (from - to) / 2.0 * (std::cos(M_PI * pct) + 1);
    }
    begin = phase_end[i];
  }
  return ends.back().second;
}

double OneCycleLR::rate_at(std::int64_t step) const {
  const double start = max_lr_ / options_.div_factor, end = start / options_.final_div_factor;
  if (options_.three_phase) return along_phases(step, {{start, max_lr_}, {max_lr_, start}, {start, end}});
  return along_phases(step, {{start, max_lr_}, {max_lr_, end}});
}

double OneCycleLR::momentum_at(std::int64_t step) const {
  const double lo = options_.base_momentum, hi = options_.max_momentum;
  if (options_.three_phase) return along_phases(step, {{hi, lo}, {lo, hi}, {hi, hi}});
  return along_phases(step, {{hi, lo}, {lo, hi}});
}

void OneCycleLR::apply_more(std::int64_t step) {
  if (options_.cycle_momentum) opt_.set_momentum(momentum_at(step));
}

CyclicLR::CyclicLR(Optimizer& optimizer, double base_lr, double max_lr, CyclicLROptions o)
    : EpochSchedule(optimizer, "CyclicLR"), base_lr_(base_lr), max_lr_(max_lr), options_(o) {
  const std::int64_t down = o.step_size_down.value_or(o.step_size_up);
  KILN_CHECK(base_lr >= 0 && max_lr >= base_lr, "CyclicLR: base_lr ", base_lr, " and max_lr ", max_lr,
             " must satisfy 0 <= base_lr <= max_lr");
  KILN_CHECK(o.step_size_up >= 1 && down >= 0, "CyclicLR: step_size_up ", o.step_size_up,
             " must be >= 1 and step_size_down ", down, " >= 0");
  KILN_CHECK(o.mode != CyclicLROptions::Mode::exp_range || o.gamma > 0, "CyclicLR: exp_range's gamma ",
             o.gamma, " must be positive");
  if (o.cycle_momentum) check_momentum_range("CyclicLR", optimizer, o.base_momentum, o.max_momentum);
  apply();  // base_lr (and max_momentum)
}
double CyclicLR::height(std::int64_t step) const {
  // PyTorch's: the cycle (from 1) and the position x in it, up while x <= the rise's share.
  const double up = static_cast<double>(options_.step_size_up);
  const double total = up + static_cast<double>(options_.step_size_down.value_or(options_.step_size_up));
  const double ratio = up / total, s = static_cast<double>(step);
  const double cycle = std::floor(1 + s / total), x = 1 + s / total - cycle;
  const double rise = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
  switch (options_.mode) {
    case CyclicLROptions::Mode::triangular:
      return rise;
    case CyclicLROptions::Mode::triangular2:
      return rise / std::pow(2.0, cycle - 1);
    case CyclicLROptions::Mode::exp_range:
      return rise * std::pow(options_.gamma, s);
  }
  return rise;
}
double CyclicLR::rate_at(std::int64_t step) const { return base_lr_ + (max_lr_ - base_lr_) * height(step); }
double CyclicLR::momentum_at(std::int64_t step) const {
  return options_.max_momentum - (options_.max_momentum - options_.base_momentum) * height(step);
}
void CyclicLR::apply_more(std::int64_t step) {
  if (options_.cycle_momentum) opt_.set_momentum(momentum_at(step));
}

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<EpochSchedule>> schedules,
                           std::vector<std::int64_t> milestones)
    : EpochSchedule(optimizer, "SequentialLR"),
      schedules_(std::move(schedules)),
      milestones_(std::move(milestones)) {
  KILN_CHECK(!schedules_.empty() && milestones_.size() == schedules_.size() - 1,
             "SequentialLR: ", schedules_.size(), " schedules need ",
             schedules_.empty() ? 0 : schedules_.size() - 1,
             " milestones (the epochs where each next one takes over), got ", milestones_.size());
  for (std::size_t i = 0; i < schedules_.size(); ++i)
    KILN_CHECK(schedules_[i] && &schedules_[i]->opt_ == &optimizer, "SequentialLR: schedule ", i,
               schedules_[i] ? " was made for another optimizer" : " is null",
               "; make every part with the optimizer given here");
  for (std::size_t i = 0; i < milestones_.size(); ++i)
    KILN_CHECK(milestones_[i] > (i == 0 ? 0 : milestones_[i - 1]),
               "SequentialLR: milestones must be positive "
               "and increasing; milestone ",
               i, " is ", milestones_[i]);
  apply();  // the first schedule's starting rate
}
std::pair<std::size_t, std::int64_t> SequentialLR::part_at(std::int64_t epoch) const {
  const auto part = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return {static_cast<std::size_t>(part), part == 0 ? 0 : milestones_[static_cast<std::size_t>(part - 1)]};
}
double SequentialLR::rate_at(std::int64_t epoch) const {
  const auto [part, start] = part_at(epoch);
  return schedules_[part]->rate_at(epoch - start);
}
void SequentialLR::apply_more(std::int64_t epoch) {
  const auto [part, start] = part_at(epoch);
  schedules_[part]->apply_more(epoch - start);
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions o)
    : opt_(optimizer), options_(o), lr_(optimizer.initial_lr()) {
  KILN_CHECK(o.factor > 0 && o.factor < 1, "ReduceLROnPlateau: factor ", o.factor, " must be in (0, 1)");
  KILN_CHECK(o.patience >= 0 && o.cooldown >= 0 && o.threshold >= 0 && o.min_lr >= 0,
             "ReduceLROnPlateau: patience ", o.patience, ", cooldown ", o.cooldown, ", threshold ",
             o.threshold, " and min_lr ", o.min_lr, " must be >= 0");
  const bool min = o.mode == ReduceLROnPlateauOptions::Mode::min;
  best_ = min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::improves(double metric) const {
  if (options_.mode == ReduceLROnPlateauOptions::Mode::min) return metric < best_ * (1 - options_.threshold);
  return metric > best_ * (1 + options_.threshold);
}

void ReduceLROnPlateau::step(double metric) {
  if (improves(metric)) {
    best_ = metric;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ > options_.patience) {
    lr_ = std::max(lr_ * options_.factor, options_.min_lr);
    opt_.set_lr(lr_);
    cooldown_left_ = options_.cooldown;
    bad_epochs_ = 0;
  }
}

StateDict ReduceLROnPlateau::state_dict() const {
  return {{"lr", scalar_tensor(lr_, kFloat64)},
          {"best", scalar_tensor(best_, kFloat64)},
          {"bad_epochs", scalar_tensor(static_cast<double>(bad_epochs_), kInt64)},
          {"cooldown_left", scalar_tensor(static_cast<double>(cooldown_left_), kInt64)}};
}
void ReduceLROnPlateau::load_state_dict(const StateDict& state) {
  const char* who = "ReduceLROnPlateau";
  const double lr = state_value(state, "lr", who), best = state_value(state, "best", who);
  const double bad = state_value(state, "bad_epochs", who),
               cooldown = state_value(state, "cooldown_left", who);
  KILN_CHECK(lr >= 0 && bad >= 0 && cooldown >= 0, who, ".load_state_dict: lr ", lr, ", bad_epochs ", bad,
             " and cooldown_left ", cooldown, " must be >= 0");
  lr_ = lr;
  best_ = best;
  bad_epochs_ = static_cast<std::int64_t>(bad);
  cooldown_left_ = static_cast<std::int64_t>(cooldown);
  opt_.set_lr(lr_);
}

}  // namespace kiln::optim
