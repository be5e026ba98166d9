#include "kiln/autograd/node.hpp"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "kiln/autograd/anomaly.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/ops/elementwise.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {
std::atomic<std::int64_t> live_nodes{0};
std::atomic<std::uint64_t> nodes_made{0};
std::atomic<bool> anomaly_on{[] {
  const char* v = std::getenv("KILN_DETECT_ANOMALY");
  return v != nullptr && std::strcmp(v, "1") == 0;
}()};

bool all_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return true;
  // A debugging mode: copying a GPU tensor back to look at it is fine.
  const Tensor c = t.device().is_cpu() ? t.contiguous() : t.detach().to(Device::cpu());
  return visit_floating(c.dtype(), "anomaly check", [&]<class T>() {
    const T* p = c.data_ptr<T>();
    const std::int64_t n = c.numel();
    for (std::int64_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) return false;
    return true;
  });
}

std::string describe_inputs(const std::vector<Tensor>& inputs) {
  std::ostringstream os;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i) os << ", ";
    if (inputs[i].defined()) os << fmt(inputs[i].shape()) << " " << inputs[i].dtype();
    else os << "(none)";
  }
  return os.str();
}
}  // namespace

void set_detect_anomaly(bool on) { anomaly_on = on; }
bool is_anomaly_enabled() { return anomaly_on; }
std::int64_t live_autograd_nodes() { return live_nodes; }

std::uint64_t next_node_sequence_number() { return nodes_made.load(); }

Node::Node(std::string name, std::vector<std::shared_ptr<Node>> next)
    : name_(std::move(name)), sequence_number_(nodes_made++), next_(std::move(next)) {
  ++live_nodes;
}
// Dropping the last reference to a long chain of nodes would destroy it one nested call
// per node, and a chain of some ten thousand ops would overflow the stack. Instead each
// edge to a node that dies with this one is taken into a local list, and that node's own
// edges with it, so every destructor below runs with no edges left.
Node::~Node() {
  --live_nodes;
  std::vector<std::shared_ptr<Node>> dying = std::move(next_);
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    if (node && node.use_count() == 1) {
      for (std::shared_ptr<Node>& edge : node->next_) dying.push_back(std::move(edge));
      node->next_.clear();
    }
  }
}

void check_anomaly(const Tensor& t, const Node& node, const char* pass, const std::string& what) {
  if (all_finite(t)) return;
  throw Error(detail::concat("anomaly detected: the ", pass, " of '", node.name(), "' produced NaN or Inf in ", what,
                             " (shape ", fmt(t.shape()), "); the op's inputs: ", node.inputs_description(),
                             ". This is the first op, in execution order, to do so"));
}

namespace {
thread_local bool grad_enabled = true;
}
bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

namespace {
thread_local Node* node_in_backward = nullptr;  // the node whose rule runs, for output_for_backward
}

Grads FunctionNode::apply(const Tensor& grad_output) {
  KILN_CHECK(fn_ != nullptr, "backward: trying to go through the graph a second time (at op '", name(),
             "'): its saved tensors were freed after the first backward; pass retain_graph=true "
             "to the first backward() if you need to call it twice");
  for (const Saved& s : saved_)
    KILN_CHECK(s.storage->version() == s.version, "backward: '", name(), "' saved a tensor of shape ",
               fmt(s.shape),
               " for its gradient, and it was changed in place after the forward pass "
               "(fill_, copy_, add_, mul_, +=, an optimizer step), so the gradient would be wrong; change a "
               "clone() of it instead, or change it after backward()");
  struct Running {
    Node* previous;
    ~Running() { node_in_backward = previous; }
  } running{node_in_backward};
  node_in_backward = this;
  return fn_(grad_output);
}

namespace {
// `values` as a tensor made by `node`.
Tensor made_by(const Tensor& values, std::shared_ptr<Node> node) {
  auto impl = std::make_shared<TensorImpl>();
  const TensorImpl& from = *values.impl_ptr();
  impl->storage = from.storage;
  impl->shape = from.shape;
  impl->strides = from.strides;
  impl->offset = from.offset;
  impl->dtype = from.dtype;
  impl->requires_grad = true;
  impl->grad_fn = std::move(node);
  return Tensor(std::move(impl));
}
}  // namespace

Tensor output_for_backward(const Tensor& detached) {
  if (!is_grad_enabled() || node_in_backward == nullptr || !detached.defined()) return detached;
  return made_by(detached, node_in_backward->shared_from_this());
}

Tensor intermediate_for_backward(const Tensor& detached, const char* name, std::size_t input,
                                 BackwardFn backward) {
  if (!is_grad_enabled() || node_in_backward == nullptr || !detached.defined()) return detached;
  KILN_ASSERT(input < node_in_backward->next().size());
  std::shared_ptr<Node> edge = node_in_backward->next()[input];
  if (!edge) return detached;
  auto node = std::make_shared<FunctionNode>(name, std::vector<std::shared_ptr<Node>>{std::move(edge)},
                                             std::move(backward));
  node->set_differentiable_backward();
  return made_by(detached, std::move(node));
}

void FunctionNode::save_version(const Tensor& t) {
  if (t.defined()) saved_.push_back({t.storage(), t.storage()->version(), t.shape()});
}
void FunctionNode::save_versions(std::initializer_list<Tensor> saved) {
  for (const Tensor& t : saved) save_version(t);
}
void FunctionNode::save_versions(const std::vector<Tensor>& saved) {
  for (const Tensor& t : saved) save_version(t);
}

Tensor detail::owned_gradient(const Tensor& g, DType dtype) {
  // The engine passes its only handle to a gradient that no view shares.
  const TensorImpl& impl = *g.impl_ptr();
  const bool sole = g.impl_ptr().use_count() == 1 && impl.storage.use_count() == 1 && impl.offset == 0 &&
                    impl.storage->nbytes() == storage_bytes(impl.dtype, g.numel());
  if (sole && impl.dtype == dtype && !impl.requires_grad && !impl.grad_fn && g.is_contiguous()) return g;
  return g.clone().to(dtype);
}

Grads AccumulateGrad::apply(const Tensor& grad_output) {
  const std::shared_ptr<TensorImpl> leaf = leaf_.lock();
  if (!leaf) return {};  // the leaf is gone: nobody can read its gradient
  Tensor target(leaf);
  KILN_CHECK(grad_output.shape() == target.shape(), "backward: gradient of shape ",
             fmt(grad_output.shape()), " reached a leaf of shape ", fmt(target.shape()),
             " (a backward rule returned the wrong shape)");
  KILN_CHECK(grad_output.device() == target.device(), "backward: a gradient on ", grad_output.device(),
             " reached a leaf on ", target.device(), " (a backward rule returned it on the wrong device)");
  detail::accumulate_gradient(leaf->grad, grad_output, target.dtype());
  return {};
}

void detail::accumulate_gradient(std::shared_ptr<TensorImpl>& slot, const Tensor& g, DType dtype) {
  if (is_grad_enabled()) {  // recording: out of place, the sum part of the graph
    slot = (slot ? add(Tensor(slot), g.to(dtype)) : owned_gradient(g, dtype)).impl_ptr();
  } else if (!slot) {
    // The slot is added into later, so it needs memory of its own.
    slot = owned_gradient(g, dtype).impl_ptr();
  } else {
    Tensor(slot).add_(g);
  }
}

Tensor GradHookList::run(Tensor g, const std::string& what) const {
  const auto list = hooks;  // a hook may add or remove hooks
  for (const auto& [id, hook] : list) {
    const Tensor r = hook(g);
    if (!r.defined()) continue;
    KILN_CHECK(r.shape() == g.shape() && r.device() == g.device(), "backward: a gradient hook on ", what,
               " returned a tensor of shape ", fmt(r.shape()), " on ", r.device(),
               " for a gradient of shape ", fmt(g.shape()), " on ", g.device(),
               "; return one like the gradient, or an undefined Tensor to leave it as it is");
    g = r.dtype() == g.dtype() ? r : r.to(g.dtype());
  }
  return g;
}

void GradHookList::remove(std::uint64_t id) {
  std::erase_if(hooks, [id](const auto& h) { return h.first == id; });
}

Tensor Node::run_hooks(const Tensor& grad) {
  return hooks_.hooks.empty() ? grad : hooks_.run(grad, "the output of '" + name_ + "'");
}

Tensor AccumulateGrad::run_hooks(const Tensor& grad) {
  const std::shared_ptr<TensorImpl> leaf = leaf_.lock();
  if (!leaf || !leaf->grad_hooks || leaf->grad_hooks->hooks.empty()) return grad;
  return leaf->grad_hooks->run(grad, "a leaf tensor");
}

Tensor AccumulateGrad::leaf() const {
  std::shared_ptr<TensorImpl> impl = leaf_.lock();
  return impl ? Tensor(std::move(impl)) : Tensor();
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

namespace {
template <class List>
void attach(Tensor& output, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward,
            const List& saved) {
  std::vector<std::shared_ptr<Node>> next;
  next.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    KILN_ASSERT(!in.defined() || in.unsafe_impl() != output.unsafe_impl());
    next.push_back(gradient_edge(in));
  }
  TensorImpl* impl = output.unsafe_impl();
  auto node = std::make_shared<FunctionNode>(name, std::move(next), std::move(backward));
  node->save_versions(saved);
  if (is_anomaly_enabled()) {
    node->set_inputs_description(describe_inputs(inputs));
    check_anomaly(output, *node, "forward", "its output");
  }
  impl->grad_fn = std::move(node);
  impl->requires_grad = true;
}

}  // namespace

void mark_differentiable_backward(const Tensor& output) {
  if (const std::shared_ptr<Node>& node = output.grad_fn()) node->set_differentiable_backward();
}

void attach_grad_fn(Tensor& output, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward,
                    std::initializer_list<Tensor> saved) {
  attach(output, name, inputs, std::move(backward), saved);
}
void attach_grad_fn(Tensor& output, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward,
                    const std::vector<Tensor>& saved) {
  attach(output, name, inputs, std::move(backward), saved);
}

}  // namespace kiln
