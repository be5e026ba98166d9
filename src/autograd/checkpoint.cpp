// checkpoint(fn, inputs): fn runs once now, its graph is dropped at once, and one node
// stands for it. That node's edges go to fn's inputs and to the leaves fn's graph ended
// at (the parameters it read), found by walking the graph before dropping it. Its
// backward rule runs fn again on fresh copies of the inputs, with the random generator
// rewound, and asks grad() for the gradients of the outputs with respect to those
// copies and leaves: exactly the gradients the plain graph would have sent them. While
// the walk records (create_graph), fn runs on the inputs themselves and grad() records,
// so a checkpointed segment has derivatives of every order (a gradient penalty through it).
//
// Several outputs that carry gradients are joined into one flat tensor, the node's
// output, and handed back as views of it: their gradients meet in the flat tensor's,
// so fn is run again once, whichever outputs the loss used.
#include "kiln/autograd/checkpoint.hpp"

#include <unordered_set>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln {

namespace {

class GradModeScope {
public:
  explicit GradModeScope(bool on) : previous_(is_grad_enabled()) { set_grad_enabled(on); }
  ~GradModeScope() { set_grad_enabled(previous_); }
  GradModeScope(const GradModeScope&) = delete;
  GradModeScope& operator=(const GradModeScope&) = delete;

private:
  bool previous_;
};

// Sets the default generator to `state` for its scope, then back to where it was.
class RewoundGenerator {
public:
  RewoundGenerator(const Generator& state, bool rewind) : resume_(default_generator()), rewind_(rewind) {
    if (rewind_) default_generator() = state;
  }
  ~RewoundGenerator() {
    if (rewind_) default_generator() = resume_;
  }
  RewoundGenerator(const RewoundGenerator&) = delete;
  RewoundGenerator& operator=(const RewoundGenerator&) = delete;

private:
  Generator resume_;
  bool rewind_;
};

// The inputs as fn sees them: the same values with no history, requiring grad where
// `needs_grad` says (where the caller's do), so that the graph of a run of fn ends at them.
std::vector<Tensor> fresh_inputs(const std::vector<Tensor>& inputs, const std::vector<bool>& needs_grad) {
  std::vector<Tensor> fresh;
  fresh.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      fresh.emplace_back();
      continue;
    }
    Tensor d = inputs[i].detach();
    if (needs_grad[i]) d.requires_grad_(true);
    fresh.push_back(std::move(d));
  }
  return fresh;
}

// The leaves requiring grad that `outputs` were computed from, in the order a walk of
// their graph meets them, leaving out fn's own inputs. Every other node must have been
// made by fn's run (numbered from `first_node` on): the graph of a tensor computed
// before, which fn read without taking it as an input, would be run again by the
// backward rule's grad(), and freed there.
std::vector<Tensor> leaves_below(const std::vector<Tensor>& outputs, const std::vector<Tensor>& fresh,
                                 std::uint64_t first_node) {
  std::unordered_set<Node*> seen;
  std::vector<std::shared_ptr<Node>> own;  // the inputs' accumulators, alive for the walk
  for (const Tensor& t : fresh)
    if (auto edge = gradient_edge(t)) {
      seen.insert(edge.get());
      own.push_back(std::move(edge));
    }
  std::vector<Node*> stack;
  for (const Tensor& out : outputs)
    if (auto edge = gradient_edge(out); edge && seen.insert(edge.get()).second) stack.push_back(edge.get());
  std::vector<Tensor> leaves;
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (const auto* acc = dynamic_cast<const AccumulateGrad*>(node)) {
      if (Tensor leaf = acc->leaf(); leaf.defined()) leaves.push_back(std::move(leaf));
      continue;
    }
    KILN_CHECK(node->sequence_number() >= first_node,
               "checkpoint: the function reads a tensor that requires grad and was computed before it "
               "(by '",
               node->name(), "'); pass that tensor as one of the inputs, so that its gradient goes through");
    for (const auto& next : node->next())
      if (next && seen.insert(next.get()).second) stack.push_back(next.get());
  }
  return leaves;
}

// Which outputs carry gradients: the floating ones that require grad.
std::vector<std::size_t> carried_outputs(const std::vector<Tensor>& outputs) {
  std::vector<std::size_t> carried;
  for (std::size_t k = 0; k < outputs.size(); ++k)
    if (outputs[k].defined() && outputs[k].requires_grad()) carried.push_back(k);
  return carried;
}

std::vector<Tensor> run(const CheckpointFunction& fn, const std::vector<Tensor>& inputs) {
  GradModeScope grad_on(true);
  return fn(inputs);
}

}  // namespace

std::vector<Tensor> checkpoint(const CheckpointFunction& fn, const std::vector<Tensor>& inputs,
                               const CheckpointOptions& options) {
  KILN_CHECK(fn != nullptr, "checkpoint: the function is empty; pass a callable that computes the outputs");
  if (!is_grad_enabled()) return fn(inputs);

  const Generator rng_before = default_generator();
  std::vector<bool> needs_grad;
  for (const Tensor& t : inputs) needs_grad.push_back(t.defined() && t.requires_grad());
  const std::vector<Tensor> fresh = fresh_inputs(inputs, needs_grad);
  const std::uint64_t first_node = next_node_sequence_number();
  std::vector<Tensor> outputs = run(fn, fresh);
  const std::vector<std::size_t> carried = carried_outputs(outputs);
  if (carried.empty()) return outputs;  // nothing to differentiate: fn's results as they are

  const Tensor& first = outputs[carried.front()];
  std::vector<Shape> shapes;
  for (std::size_t k : carried) {
    const Tensor& out = outputs[k];
    KILN_CHECK(out.dtype() == first.dtype() && out.device() == first.device(), "checkpoint: output ", k,
               " is ", out.dtype(), " on ", out.device(), " but output ", carried.front(), " is ",
               first.dtype(), " on ", first.device(),
               "; the outputs that carry gradients must share one dtype and device");
    shapes.push_back(out.shape());
  }
  const std::vector<Tensor> leaves = leaves_below(outputs, fresh, first_node);

  // The node's output: the carried outputs without their graph (which dies here), joined
  // into one flat tensor when there are several.
  Tensor joined;
  if (carried.size() == 1) {
    joined = first.detach();
  } else {
    std::vector<Tensor> flat;
    for (std::size_t k : carried) flat.push_back(outputs[k].detach().reshape({-1}));
    joined = cat(flat, 0);
  }

  std::vector<Tensor> edges = inputs;  // gradients go to the inputs, then to the leaves
  edges.insert(edges.end(), leaves.begin(), leaves.end());
  std::vector<Tensor> saved_inputs;
  for (const Tensor& t : inputs) saved_inputs.push_back(t.defined() ? t.detach() : Tensor());
  std::vector<Tensor> watched = saved_inputs;  // a change to one before backward is an error
  watched.insert(watched.end(), leaves.begin(), leaves.end());

  auto backward = [fn, inputs, saved_inputs, needs_grad, leaves, rng_before, carried, shapes,
                   preserve = options.preserve_rng_state](const Tensor& g) -> Grads {
    // While a walk records (create_graph), fn runs on the graph's inputs themselves and the
    // gradients are recorded, so that they are functions of the inputs and leaves: any order.
    const bool recording = is_grad_enabled();
    const std::vector<Tensor> again = recording ? inputs : fresh_inputs(saved_inputs, needs_grad);
    std::vector<Tensor> outs;
    {
      RewoundGenerator rewound(rng_before, preserve);
      outs = run(fn, again);
    }
    // The outputs and their gradients, piece by piece out of the joined gradient.
    std::vector<Tensor> roots, seeds;
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < carried.size(); ++i) {
      const std::size_t k = carried[i];
      KILN_CHECK(k < outs.size() && outs[k].defined() && outs[k].shape() == shapes[i],
                 "checkpoint: running the function again in the backward pass did not give output ", k,
                 " of shape ", fmt(shapes[i]), " again; the function must compute the same thing each time");
      const std::int64_t n = numel_of(shapes[i]);
      const Tensor piece = carried.size() == 1 ? g : g.narrow(0, offset, n).reshape(shapes[i]);
      offset += n;
      if (!outs[k].requires_grad()) continue;  // a function that changed its mind: no gradient through it
      roots.push_back(outs[k]);
      seeds.push_back(piece);
    }
    Grads result(saved_inputs.size() + leaves.size());
    std::vector<Tensor> targets;
    std::vector<std::size_t> slots;
    for (std::size_t i = 0; i < again.size(); ++i)
      if (again[i].defined() && needs_grad[i]) {
        targets.push_back(again[i]);
        slots.push_back(i);
      }
    for (std::size_t j = 0; j < leaves.size(); ++j) {
      targets.push_back(leaves[j]);
      slots.push_back(saved_inputs.size() + j);
    }
    if (roots.empty() || targets.empty()) return result;
    GradOptions grad_options;
    grad_options.allow_unused = true;
    grad_options.create_graph = recording;
    const std::vector<Tensor> grads = grad(roots, targets, seeds, grad_options);
    for (std::size_t t = 0; t < grads.size(); ++t) result[slots[t]] = grads[t];
    return result;
  };
  attach_grad_fn(joined, "checkpoint", edges, std::move(backward), watched);
  mark_differentiable_backward(joined);

  // Hand back the carried outputs: `joined` itself, or views of it.
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < carried.size(); ++i) {
    if (carried.size() == 1) {
      outputs[carried[i]] = joined;
      break;
    }
    const std::int64_t n = numel_of(shapes[i]);
    outputs[carried[i]] = joined.narrow(0, offset, n).reshape(shapes[i]);
    offset += n;
  }
  return outputs;
}

Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input,
                  const CheckpointOptions& options) {
  KILN_CHECK(fn != nullptr, "checkpoint: the function is empty; pass a callable that computes the output");
  return checkpoint([fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; },
                    std::vector<Tensor>{input}, options)[0];
}

}  // namespace kiln
