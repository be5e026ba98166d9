// Finite-difference gradient checking, public so users can test their own layers.
//
//   auto r = kiln::gradcheck([](const std::vector<kiln::Tensor>& in) {
//     return kiln::tanh(kiln::matmul(in[0], in[1]));
//   }, {kiln::randn({3, 4}, kiln::kFloat64), kiln::randn({4, 2}, kiln::kFloat64)});
//   if (!r.ok) std::cerr << r.message;
//
// Every floating input is differentiated. The analytic Jacobian comes from one
// kiln::grad pass per output element; the numeric one from central differences
// (f(x+eps) - f(x-eps)) / 2 eps. Inputs should be float64.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // on failure: which input, which element, both values
};

// An entry passes when |analytic - numeric| <= tol * (1 + |numeric|).
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          std::vector<Tensor> inputs, double eps = 1e-6, double tol = 1e-5);

// The same check one order up (torch.autograd.gradgradcheck): the gradient of
// <f(inputs), u>, for a fixed pseudo-random u, recorded by grad() with create_graph and
// differentiated again, against central differences of that gradient. It checks the
// backward rules' own backward, which second derivatives (hessian, hvp, gradient
// penalties) rely on.
GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                              std::vector<Tensor> inputs, double eps = 1e-6, double tol = 1e-5);

}  // namespace kiln
