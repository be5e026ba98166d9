#include "kiln/autograd/node.hpp"

#include "kiln/autograd/grad_mode.hpp"

namespace kiln {

namespace {
thread_local bool grad_enabled = true;
}
bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

Grads FunctionNode::apply(const Tensor& grad_output) {
  KILN_CHECK(fn_ != nullptr, "backward: trying to go through the graph a second time (at op '", name(),
             "'): its saved tensors were freed after the first backward; pass retain_graph=true "
             "to the first backward() if you need to call it twice");
  return fn_(grad_output);
}

Grads AccumulateGrad::apply(const Tensor& grad_output) {
  const std::shared_ptr<TensorImpl> leaf = leaf_.lock();
  if (!leaf) return {};  // the leaf is gone: nobody can read its gradient
  Tensor target(leaf);
  KILN_CHECK(grad_output.shape() == target.shape(), "backward: gradient of shape ",
             fmt(grad_output.shape()), " reached a leaf of shape ", fmt(target.shape()),
             " (a backward rule returned the wrong shape)");
  if (!leaf->grad) {
    leaf->grad = grad_output.clone().to(target.dtype()).impl_ptr();  // own the memory: it will be += later
  } else {
    Tensor(leaf->grad).add_(grad_output);
  }
  return {};
}

bool should_record(std::initializer_list<Tensor> inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  TensorImpl* impl = t.unsafe_impl();
  if (auto acc = impl->grad_accumulator.lock()) return acc;
  auto acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
  impl->grad_accumulator = acc;
  return acc;
}

void attach_grad_fn(Tensor& output, const char* name, const std::vector<Tensor>& inputs,
                    BackwardFn backward) {
  std::vector<std::shared_ptr<Node>> next;
  next.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    KILN_ASSERT(!in.defined() || in.unsafe_impl() != output.unsafe_impl());
    next.push_back(gradient_edge(in));
  }
  TensorImpl* impl = output.unsafe_impl();
  impl->grad_fn = std::make_shared<FunctionNode>(name, std::move(next), std::move(backward));
  impl->requires_grad = true;
}

}  // namespace kiln
