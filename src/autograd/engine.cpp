// The backward pass: dependency counting, then Kahn's topological order.
// backward() and grad() share one walk; grad() first marks the nodes that lead to
// one of its inputs and runs only those.
#include "kiln/autograd/engine.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kiln/autograd/anomaly.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// The gradient that starts the walk at `output`: `given`, or 1 for a one-element output.
Tensor seed_for(const Tensor& output, const Tensor& given, const char* op, const std::string& which) {
  if (!given.defined()) {
    KILN_CHECK(output.numel() == 1, op, ": ", which, " has shape ", fmt(output.shape()),
               "; an implicit gradient exists only for one-element outputs, so pass a gradient "
               "of the same shape (or reduce the output to a scalar first)");
    // A shared read-only 1 (on a GPU: no fill kernel); whoever keeps it copies it.
    return detail::constant_like(output, 1.0).reshape(output.shape());
  }
  KILN_CHECK(given.shape() == output.shape(), op, ": gradient of shape ", fmt(given.shape()), " for ", which,
             " of shape ", fmt(output.shape()));
  return given;
}

// The walk. Starts at each root's node with its seed (seeds for one node add up).
// With `targets` null it runs every node below the roots, leaves included, as
// backward() does. Otherwise it runs only the nodes from which a target can be
// reached, never a leaf's accumulator, and stores each target's summed gradient in
// `captured`.
// With `create_graph` the rules run while recording (each must be marked differentiable),
// and the summed gradients are recorded sums.
void run_graph(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds, bool retain_graph,
               const std::unordered_set<Node*>* targets, std::unordered_map<Node*, Tensor>* captured,
               bool create_graph = false) {
  const bool was_recording = is_grad_enabled();
  set_grad_enabled(create_graph);  // otherwise backward rules compute plain tensors
  struct Restore {
    bool on;
    ~Restore() { set_grad_enabled(on); }
  } restore{was_recording};
  std::unordered_map<Node*, Tensor> buffers;
  std::vector<std::shared_ptr<Node>> starts;  // keeps the root nodes alive for the walk
  for (std::size_t k = 0; k < roots.size(); ++k) {
    std::shared_ptr<Node> node = gradient_edge(roots[k]);
    Tensor& buf = buffers[node.get()];
    buf = buf.defined() ? add(buf, seeds[k]) : seeds[k];
    starts.push_back(std::move(node));
  }

  // 1. Find every node below the roots, and who points at whom.
  std::vector<Node*> found;
  std::unordered_map<Node*, std::vector<Node*>> parents;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (const auto& s : starts)
    if (seen.insert(s.get()).second) stack.push_back(s.get());
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    found.push_back(node);
    for (const auto& next : node->next()) {
      if (!next) continue;
      if (targets) parents[next.get()].push_back(node);
      if (seen.insert(next.get()).second) stack.push_back(next.get());
    }
  }

  // 2. The nodes that take part: all of them, or (grad) those above a target.
  std::unordered_set<Node*> needed;
  if (targets) {
    for (Node* t : *targets)
      if (seen.count(t) && needed.insert(t).second) stack.push_back(t);
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      for (Node* p : parents[node])
        if (needed.insert(p).second) stack.push_back(p);
    }
  }
  const auto takes_part = [&](Node* n) { return !targets || needed.count(n) > 0; };

  // 3. Count, for every node that takes part, how many edges from such nodes point at it.
  std::unordered_map<Node*, int> pending;
  for (Node* node : found) {
    if (!takes_part(node)) continue;
    pending.try_emplace(node, 0);
    for (const auto& next : node->next())
      if (next && takes_part(next.get())) ++pending[next.get()];
  }

  // 4. Run each node once all of its consumers have sent their gradients.
  std::vector<Node*> ready;
  for (const auto& s : starts)
    if (takes_part(s.get()) && pending[s.get()] == 0 && !std::count(ready.begin(), ready.end(), s.get()))
      ready.push_back(s.get());
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad;
    if (auto it = buffers.find(node); it != buffers.end()) {
      grad = std::move(it->second);
      buffers.erase(it);
    }
    if (grad.defined()) grad = node->run_hooks(grad);  // the tensor's hooks see its summed gradient
    bool feeds_on = !targets;  // does a node that takes part wait for this one's output?
    for (const auto& next : node->next()) feeds_on = feeds_on || (next && takes_part(next.get()));
    Grads input_grads;
    if (grad.defined() && feeds_on) {
      KILN_CHECK(!create_graph || node->differentiable_backward(),
                 "grad with create_graph: the backward of '", node->name(),
                 "' cannot be differentiated again yet, so the gradient it sends on would be wrong "
                 "as a function of its inputs; compose that op from ops with differentiable backwards "
                 "(docs/autograd.md lists them), or leave create_graph off");
      input_grads = node->apply(grad);
    }
    if (targets && targets->count(node)) (*captured)[node] = std::move(grad);
    input_grads.resize(node->next().size());
    if (is_anomaly_enabled())
      for (std::size_t i = 0; i < input_grads.size(); ++i)
        check_anomaly(input_grads[i], *node, "backward", detail::concat("the gradient of its input ", i));
    KILN_ASSERT(input_grads.size() == node->next().size());
    for (std::size_t i = 0; i < node->next().size(); ++i) {
      Node* next = node->next()[i].get();
      if (!next || !takes_part(next)) continue;
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

}  // namespace

void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph, bool create_graph) {
  KILN_CHECK(root.requires_grad(),
             "backward: this tensor does not require grad and has no grad_fn; "
             "call requires_grad_() on the inputs you want gradients for before computing it");
  run_graph({root}, {seed_for(root, grad_output, "backward", "the output")}, retain_graph || create_graph,
            nullptr, nullptr, create_graph);
}

namespace {
// The seeds of several outputs, checked: one per output (1 for one-element outputs
// when `grad_outputs` is empty), each output requiring grad.
std::vector<Tensor> seeds_for(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                              const char* op) {
  KILN_CHECK(!outputs.empty(), op, ": no outputs given; pass the tensors to differentiate (e.g. the loss)");
  KILN_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), op, ": ", outputs.size(),
             " outputs but ", grad_outputs.size(),
             " grad_outputs; pass one gradient per output, or none when every output has one element");
  std::vector<Tensor> seeds;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    const std::string which = detail::concat("output ", k);
    KILN_CHECK(outputs[k].defined(), op, ": ", which, " is an undefined Tensor");
    KILN_CHECK(outputs[k].requires_grad(), op, ": ", which, " (shape ", fmt(outputs[k].shape()),
               ") does not require grad, so no input can have a gradient through it; call requires_grad_() "
               "on the inputs before computing the outputs, outside a NoGradGuard");
    seeds.push_back(seed_for(outputs[k], grad_outputs.empty() ? Tensor() : grad_outputs[k], op, which));
  }
  return seeds;
}
}  // namespace

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
              bool create_graph) {
  run_graph(outputs, seeds_for(outputs, grad_outputs, "backward"), retain_graph || create_graph, nullptr,
            nullptr, create_graph);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, const GradOptions& options) {
  const std::vector<Tensor> seeds = seeds_for(outputs, grad_outputs, "grad");
  std::unordered_set<Node*> targets;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    KILN_CHECK(inputs[i].defined(), "grad: input ", i, " is an undefined Tensor");
    KILN_CHECK(inputs[i].requires_grad(), "grad: input ", i, " (shape ", fmt(inputs[i].shape()),
               ") does not require grad; call requires_grad_() on it before computing the outputs");
    targets.insert(gradient_edge(inputs[i]).get());
  }
  std::unordered_map<Node*, Tensor> captured;
  run_graph(outputs, seeds, options.retain_graph || options.create_graph, &targets, &captured,
            options.create_graph);

  std::vector<Tensor> result;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto it = captured.find(gradient_edge(inputs[i]).get());
    const bool used = it != captured.end() && it->second.defined();
    KILN_CHECK(used || options.allow_unused, "grad: input ", i, " (shape ", fmt(inputs[i].shape()),
               ") is not used to compute the outputs, so it has no gradient; pass allow_unused = true "
               "to get an undefined Tensor for it");
    if (!used) {
      result.emplace_back();
      continue;
    }
    // Each input's own copy where the walk's tensor is shared (a seed, the constant 1).
    it->second = detail::owned_gradient(it->second, inputs[i].dtype());
    result.push_back(it->second);
  }
  return result;
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& grad_output,
                         const GradOptions& options) {
  return grad(std::vector<Tensor>{output}, inputs,
              grad_output.defined() ? std::vector<Tensor>{grad_output} : std::vector<Tensor>{}, options);
}

std::vector<Tensor> composite_gradients(const Tensor& output, const std::vector<Tensor>& inputs,
                                        const Tensor& grad_output) {
  std::vector<Tensor> wrt;
  std::vector<std::size_t> slot;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      wrt.push_back(inputs[i]);
      slot.push_back(i);
    }
  std::vector<Tensor> grads(inputs.size());
  if (wrt.empty()) return grads;
  const std::vector<Tensor> found =
      grad({output}, wrt, {grad_output}, {.allow_unused = true, .create_graph = true});
  for (std::size_t k = 0; k < wrt.size(); ++k)
    grads[slot[k]] = found[k].defined() ? found[k] : zeros_like(wrt[k]);
  return grads;
}

}  // namespace kiln
