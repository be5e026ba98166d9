// Averages of a model's parameters over training (torch.optim.swa_utils.AveragedModel's
// two): an exponential moving average (EMA), avg = decay avg + (1 - decay) p, or stochastic
// weight averaging's equal-weight mean of every update's parameters (SWA). The first update
// copies the parameters, as PyTorch's. Evaluate or save with the average in place:
//
//   optim::ParameterAverage ema(model->parameters(), optim::Averaging::ema, 0.999);
//   ... after each optimizer.step():  ema.update();
//   ema.swap();   // the model now holds the average: evaluate, save
//   ema.swap();   // its own weights back, to train on
//
// Buffers (batch norm's running statistics) are not averaged; after SWA, recompute them
// with a pass over the training data in train mode.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/optim/optimizer.hpp"

namespace kiln::optim {

enum class Averaging { ema, swa };

class ParameterAverage {
public:
  // decay: the EMA's, in [0, 1] (unused by SWA).
  ParameterAverage(std::vector<Tensor> params, Averaging averaging, double decay = 0.999);
  void update();         // folds the parameters' current values into the averages
  void swap();           // exchanges the parameters' values with the averages (twice: no change)
  void copy_to() const;  // writes the averages into the parameters
  const std::vector<Tensor>& averages() const { return averages_; }
  std::int64_t num_updates() const { return updates_; }
  // {"num_updates", "average.<i>"}: to checkpoint beside the model and optimizer.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

private:
  std::vector<Tensor> params_, averages_;
  Averaging averaging_;
  double decay_;
  std::int64_t updates_ = 0;
};

}  // namespace kiln::optim
