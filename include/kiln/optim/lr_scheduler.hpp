// Learning-rate schedules; call step() once per epoch, after the optimizer's steps.
#pragma once

#include "kiln/optim/optimizer.hpp"

namespace kiln::optim {

// lr = initial * gamma^floor(epoch / step_size)
class StepLR {
public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  void step();
  std::int64_t epoch() const { return epoch_; }

private:
  Optimizer& opt_;
  std::int64_t step_size_;
  double gamma_;
  std::int64_t epoch_ = 0;
};

// lr = eta_min + (initial - eta_min) (1 + cos(pi epoch / T_max)) / 2
class CosineAnnealingLR {
public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0.0);
  void step();
  std::int64_t epoch() const { return epoch_; }

private:
  Optimizer& opt_;
  std::int64_t t_max_;
  double eta_min_;
  std::int64_t epoch_ = 0;
};

}  // namespace kiln::optim
