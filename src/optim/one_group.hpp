// The optimizers' constructors from a plain parameter list: one group, no overrides.
#pragma once

#include <utility>
#include <vector>

#include "kiln/optim/optimizer.hpp"

namespace kiln::optim {

inline std::vector<ParamGroup> one_group(std::vector<Tensor> params) {
  return {ParamGroup{std::move(params), {}}};
}

}  // namespace kiln::optim
