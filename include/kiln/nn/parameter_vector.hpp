// Parameters as one flat vector and back (torch.nn.utils.parameters_to_vector /
// vector_to_parameters): for methods that treat a model's weights as a single point, such
// as a line search, an evolution strategy or a Hessian-vector product.
//
//   const Tensor theta = nn::parameters_to_vector(model->parameters());  // (P)
//   nn::vector_to_parameters(theta * 0.5, model->parameters());
#pragma once

#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::nn {

// The parameters flattened and joined in order: a new (P) tensor, differentiable in each.
// They must share one device and dtype.
Tensor parameters_to_vector(const std::vector<Tensor>& parameters);
// Copies consecutive slices of vec (P) into the parameters, in order and in place, without
// recording a gradient; vec must hold exactly their number of values.
void vector_to_parameters(const Tensor& vec, const std::vector<Tensor>& parameters);

}  // namespace kiln::nn
