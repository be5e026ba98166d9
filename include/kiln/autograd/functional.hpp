// Derivatives of whole functions (torch.autograd.functional).
//
//   // d softmax(x) / dx: (3, 3), diag(p) - p p^T
//   const Tensor J = kiln::jacobian([](const Tensor& x) { return kiln::softmax(x, 0); }, x);
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

}  // namespace kiln
