// The backward pass.
//
// backward(root, grad) walks the graph below `root` in reverse topological
// order (iteratively; deep graphs cannot overflow the stack), calling each
// Node once with the sum of the gradients that reached it, and accumulates
// into the leaves' .grad(). Unless retain_graph, it frees the saved tensors.
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln {

void backward(const Tensor& root, const Tensor& grad_output = Tensor(), bool retain_graph = false);

}  // namespace kiln
