#include "kiln/optim/averaging.hpp"

#include <cmath>
#include <string>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"

namespace kiln::optim {

ParameterAverage::ParameterAverage(std::vector<Tensor> params, Averaging averaging, double decay)
    : params_(std::move(params)), averaging_(averaging), decay_(decay) {
  KILN_CHECK(!params_.empty(), "ParameterAverage: no parameters to average");
  KILN_CHECK(decay >= 0 && decay <= 1, "ParameterAverage: decay ", decay, " must be in [0, 1]");
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    KILN_CHECK(params_[i].defined() && is_floating(params_[i].dtype()), "ParameterAverage: parameter ", i,
               " must be a defined floating tensor");
    averages_.push_back(params_[i].detach().clone());
  }
}

void ParameterAverage::update() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& avg = averages_[i];
    const Tensor p = params_[i].detach();
    if (updates_ == 0) {
      avg.copy_(p);
    } else if (averaging_ == Averaging::ema) {
      avg.mul_(decay_).add_(p, 1 - decay_);
    } else {  // the running mean of updates_ + 1 values
      avg.add_(p - avg, 1.0 / static_cast<double>(updates_ + 1));
    }
  }
  ++updates_;
}

void ParameterAverage::swap() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor held = params_[i].detach().clone();
    Tensor(params_[i]).copy_(averages_[i]);
    averages_[i].copy_(held);
  }
}

void ParameterAverage::copy_to() const {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) Tensor(params_[i]).copy_(averages_[i]);
}

StateDict ParameterAverage::state_dict() const {
  StateDict out{{"num_updates", scalar_tensor(static_cast<double>(updates_), kInt64)}};
  for (std::size_t i = 0; i < averages_.size(); ++i)
    out["average." + std::to_string(i)] = averages_[i].detach().clone();
  return out;
}

void ParameterAverage::load_state_dict(const StateDict& state) {
  const auto count = state.find("num_updates");
  KILN_CHECK(count != state.end(), "ParameterAverage.load_state_dict: the state has no 'num_updates'");
  const double n = count->second.item();
  KILN_CHECK(n >= 0 && n == std::floor(n), "ParameterAverage.load_state_dict: num_updates ", n,
             " is not a count");
  // Check every average before copying any, so a failed load changes nothing.
  for (std::size_t i = 0; i < averages_.size(); ++i) {
    const auto it = state.find("average." + std::to_string(i));
    KILN_CHECK(it != state.end() && it->second.shape() == averages_[i].shape(),
               "ParameterAverage.load_state_dict: ", "'average.", i, "' is missing or not of shape ",
               fmt(averages_[i].shape()), "; the state must come from an average of the same parameters");
  }
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < averages_.size(); ++i)
    averages_[i].copy_(state.at("average." + std::to_string(i)).to(averages_[i].device()));
  updates_ = static_cast<std::int64_t>(n);
}

}  // namespace kiln::optim
