// What every loss does last: per-element (or per-sample) losses reduced as asked.
#pragma once

#include "kiln/ops/loss.hpp"
#include "kiln/ops/reduce.hpp"

namespace kiln::detail {

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
