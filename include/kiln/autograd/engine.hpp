// The backward pass.
//
// backward(root, grad) walks the graph below `root` in reverse topological
// order (iteratively; deep graphs cannot overflow the stack), calling each
// Node once with the sum of the gradients that reached it, and accumulates
// into the leaves' .grad(). Unless retain_graph, it frees the saved tensors.
//
// grad(outputs, inputs) runs the same walk but returns the gradients of the
// outputs with respect to `inputs` instead: no leaf's .grad() changes, and only
// the ops that lie between the outputs and the inputs run.
//
//   Tensor loss = kiln::cross_entropy(model.forward(x), labels);   // x requires grad
//   Tensor saliency = kiln::grad(loss, {x})[0];                     // d loss / d x, same shape as x
//
// With create_graph the walk records the gradients it computes, so they can be
// differentiated again: second derivatives, gradient penalties, Hessian-vector products.
//
//   Tensor y = kiln::sum(kiln::tanh(x) * x);
//   Tensor dy = kiln::grad(y, {x}, Tensor(), {.create_graph = true})[0];   // requires grad
//   Tensor d2y = kiln::grad(kiln::sum(dy), {x})[0];                         // the Hessian's row sums
#pragma once

#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

// create_graph records the walk (as GradOptions::create_graph), so the .grad() it leaves
// can be differentiated again; it implies retain_graph.
void backward(const Tensor& root, const Tensor& grad_output = Tensor(), bool retain_graph = false,
              bool create_graph = false);
// Several outputs in one walk, as torch.autograd.backward: the leaves get the gradient of
// sum_k <grad_outputs[k], outputs[k]>, each node running once (two losses that share a
// network go through it once, not twice). `grad_outputs` may be empty when every output
// has one element.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

struct GradOptions {
  // Keep the saved tensors, so that another backward()/grad() can go through the graph.
  bool retain_graph = false;
  // An input the outputs do not depend on gets an undefined Tensor instead of an Error.
  bool allow_unused = false;
  // Record the backward pass, so the returned gradients require grad and can be
  // differentiated again (any number of times). Implies retain_graph. Every op on the way
  // must have a differentiable backward rule (docs/autograd.md lists them); one without
  // stops the walk with an Error naming it.
  bool create_graph = false;
};

// Gradients of sum_k <grad_outputs[k], outputs[k]> with respect to each input, in
// the inputs' order, shapes and dtypes. Inputs may be leaves or tensors an op computed
// (then the gradient is the one that reaches them from the outputs). `grad_outputs`
// may be empty when every output has one element (the gradient is then 1); otherwise
// give one per output, of its shape. The results require grad only with create_graph.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, const GradOptions& options = {});
// One output: kiln::grad(loss, {w, b}).
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output = Tensor(), const GradOptions& options = {});

// For a fused op's backward rule while a walk records (create_graph): the gradients of
// sum(output * grad_output) with respect to each input, recorded, where `output` is the same
// function computed by recorded ops from the inputs (a composite the rule has just run).
// One entry per input: undefined where the input does not require grad, zeros where the
// output does not depend on it. So the op's plain rule keeps its kernel, and its recorded
// rule is the composite's (tests: grid_sample, ctc_loss, the recurrent layers).
std::vector<Tensor> composite_gradients(const Tensor& output, const std::vector<Tensor>& inputs,
                                        const Tensor& grad_output);

}  // namespace kiln
