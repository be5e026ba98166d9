// Internal: running the dispatched unary kernels over a whole tensor.
#pragma once

#include "kernels/cpu/kernel_table.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln::detail {

// y = f(x) elementwise (floating x; no autograd).
Tensor unary_forward(cpu::Unary op, const char* name, const Tensor& x);
// gx = g * f'(saved) elementwise; `saved` and `g` have one shape (no autograd).
Tensor unary_grad(cpu::UnaryGrad op, const Tensor& saved, const Tensor& g);

}  // namespace kiln::detail
