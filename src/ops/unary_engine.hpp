// Internal: running the dispatched elementwise kernels over whole tensors.
#pragma once

#include "kernels/cpu/kernel_table.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln::detail {

// y = f(x) elementwise (floating x; no autograd).
Tensor unary_forward(cpu::Unary op, const char* name, const Tensor& x);
// gx = g * f'(saved) elementwise; `saved` and `g` have one shape (no autograd).
Tensor unary_grad(cpu::UnaryGrad op, const Tensor& saved, const Tensor& g);
// out = a (op) b over the broadcast shape (one dtype and device; no autograd).
Tensor binary_forward(cpu::Binary op, const char* name, const Tensor& a, const Tensor& b);

}  // namespace kiln::detail
