// The backward pass: dependency counting, then Kahn's topological order.
#include "kiln/autograd/engine.hpp"

#include <unordered_map>
#include <vector>

#include "kiln/autograd/anomaly.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  KILN_CHECK(root.requires_grad(), "backward: this tensor does not require grad and has no grad_fn; "
             "call requires_grad_() on the inputs you want gradients for before computing it");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    KILN_CHECK(root.numel() == 1, "backward: the output has shape ", fmt(root.shape()),
               "; an implicit gradient exists only for one-element outputs, so pass a gradient "
               "of the same shape (or reduce the output to a scalar first)");
    // A shared read-only 1 (on a GPU: no fill kernel); a leaf copies it into its .grad.
    seed = detail::constant_like(root, 1.0).reshape(root.shape());
  }
  KILN_CHECK(seed.shape() == root.shape(), "backward: gradient of shape ", fmt(seed.shape()),
             " for an output of shape ", fmt(root.shape()));
  const std::shared_ptr<Node> start = gradient_edge(root);
  NoGradGuard no_grad;  // backward rules compute plain tensors

  // 1. Count, for every node below the root, how many edges point at it.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{start.get()};
  pending[start.get()] = 0;
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& next : node->next()) {
      if (!next) continue;
      auto [it, inserted] = pending.try_emplace(next.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(next.get());
    }
  }

  // 2. Run each node once all of its consumers have sent their gradients.
  std::unordered_map<Node*, Tensor> buffers;
  buffers[start.get()] = seed;
  std::vector<Node*> ready{start.get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad;
    if (auto it = buffers.find(node); it != buffers.end()) {
      grad = std::move(it->second);
      buffers.erase(it);
    }
    Grads input_grads;
    if (grad.defined()) input_grads = node->apply(grad);
    input_grads.resize(node->next().size());
    if (is_anomaly_enabled())
      for (std::size_t i = 0; i < input_grads.size(); ++i)
        check_anomaly(input_grads[i], *node, "backward", detail::concat("the gradient of its input ", i));
    KILN_ASSERT(input_grads.size() == node->next().size());
    for (std::size_t i = 0; i < node->next().size(); ++i) {
      Node* next = node->next()[i].get();
      if (!next) continue;
      if (input_grads[i].defined()) {
        Tensor& buf = buffers[next];
        KILN_CHECK(!buf.defined() || buf.device() == input_grads[i].device(), "backward: '", node->name(),
                   "' sent the gradient of its input ", i, " on ", input_grads[i].device(),
                   " but another gradient for that input is on ", buf.device(),
                   " (a backward rule returned a gradient on the wrong device)");
        buf = buf.defined() ? add(buf, input_grads[i]) : input_grads[i];
      }
      if (--pending[next] == 0) ready.push_back(next);
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace kiln
