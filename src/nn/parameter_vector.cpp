#include "kiln/nn/parameter_vector.hpp"

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::nn {

Tensor parameters_to_vector(const std::vector<Tensor>& parameters) {
  KILN_CHECK(!parameters.empty(), "parameters_to_vector: no parameters given");
  std::vector<Tensor> flat;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i];
    KILN_CHECK(p.device() == parameters[0].device() && p.dtype() == parameters[0].dtype(),
               "parameters_to_vector: parameter ", i, " is ", dtype_name(p.dtype()), " on ", p.device(),
               " but parameter 0 is ", dtype_name(parameters[0].dtype()), " on ", parameters[0].device(),
               "; join the parameters of each dtype and device separately");
    flat.push_back(p.reshape({p.numel()}));
  }
  return cat(flat, 0);
}

void vector_to_parameters(const Tensor& vec, const std::vector<Tensor>& parameters) {
  std::int64_t total = 0;
  for (const Tensor& p : parameters) total += p.numel();
  KILN_CHECK(vec.dim() == 1 && vec.numel() == total, "vector_to_parameters: vec of shape ", fmt(vec.shape()),
             " must be a vector of ", total, " values, one per entry of the ", parameters.size(),
             " parameters");
  NoGradGuard no_grad;
  std::int64_t at = 0;
  for (const Tensor& p : parameters) {
    Tensor(p).copy_(vec.narrow(0, at, p.numel()).reshape(p.shape()));
    at += p.numel();
  }
}

}  // namespace kiln::nn
