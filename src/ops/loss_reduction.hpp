// What the losses share: the check that an input and its target (or other tensor) match
// in shape, and the last step, per-element (or per-sample) losses reduced as asked.
#pragma once

#include "kiln/ops/loss.hpp"
#include "kiln/ops/reduce.hpp"

namespace kiln::detail {

inline void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  KILN_CHECK(input.shape() == target.shape(), op, ": input of shape ", fmt(input.shape()),
             " and target of shape ", fmt(target.shape()), " differ; they must match");
}

inline Tensor reduce_loss(const Tensor& losses, Reduction r) {
  switch (r) {
    case Reduction::mean:
      return mean(losses);
    case Reduction::sum:
      return sum(losses);
    case Reduction::none:
      return losses;
  }
  return losses;
}

}  // namespace kiln::detail
