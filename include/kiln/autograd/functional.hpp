// Derivatives of whole functions (torch.autograd.functional).
//
//   // d softmax(x) / dx: (3, 3), diag(p) - p p^T
//   const Tensor J = kiln::jacobian([](const Tensor& x) { return kiln::softmax(x, 0); }, x);
//   const Tensor H = kiln::hessian([](const Tensor& x) { return kiln::sum(x * x * x); }, x);  // diag(6 x)
//
// hessian, hvp and jvp differentiate gradients (grad with create_graph), so every op f
// uses needs a differentiable backward rule (docs/autograd.md lists them).
#pragma once

#include <functional>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

// The Jacobian of f at `inputs`, one tensor per input of shape f's output shape followed by
// that input's shape: J[o..., i...] = d out[o...] / d in[i...] (zeros where the output does
// not depend on the input). f runs once, on copies of the inputs, with grad mode on; each
// output element then takes one backward pass (reverse mode), so it suits small outputs.
std::vector<Tensor> jacobian(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             const std::vector<Tensor>& inputs);
Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& input);

// The Hessian of a function with one-element output at `input`: shape input.shape twice,
// H[i..., j...] = d^2 f / d in[i...] d in[j...]. The gradient is recorded once, then
// differentiated once per element (so it suits small inputs; for large ones use hvp).
Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& input);

// The Hessian times a vector, H v (v of the input's shape), without forming H: the
// gradient of <grad f, v>, two backward passes whatever the input's size.
Tensor hvp(const std::function<Tensor(const Tensor&)>& f, const Tensor& input, const Tensor& v);

// A vector times the Jacobian, v^T J (v of f's output shape, the result of the input's):
// reverse mode's product, the gradient of <f(x), v>, one backward pass. Also the one
// product here that needs no second derivatives.
Tensor vjp(const std::function<Tensor(const Tensor&)>& f, const Tensor& input, const Tensor& v);

// The Jacobian times a vector, J v (v of the input's shape, the result of the output's):
// forward-mode's product, from two backward passes (the gradient J^T u is linear in u, and
// its derivative with respect to u in the direction v is J v).
Tensor jvp(const std::function<Tensor(const Tensor&)>& f, const Tensor& input, const Tensor& v);

}  // namespace kiln
