// The autograd graph: one Node per recorded operation.
//
// A Node knows, for each of its op's inputs, the Node that will receive that
// input's gradient (`next()`; null when the input needs none). `apply(g)`
// turns the gradient of the op's output into one gradient per input.
// Leaves (tensors the user created with requires_grad) end in an
// AccumulateGrad node that adds into their `.grad()`.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

// The gradient hooks of a tensor (Tensor::register_hook), by id, in the order registered.
struct GradHookList {
  std::vector<std::pair<std::uint64_t, GradHook>> hooks;
  // g passed through each hook in turn; `what` names the tensor in errors.
  Tensor run(Tensor g, const std::string& what) const;
  void remove(std::uint64_t id);
};

class Node : public std::enable_shared_from_this<Node> {
public:
  Node(std::string name, std::vector<std::shared_ptr<Node>> next);
  virtual ~Node();

  // Gradient of the output -> gradients of the inputs (one per input, in order;
  // an undefined Tensor where next()[i] is null).
  virtual Grads apply(const Tensor& grad_output) = 0;
  // Frees what the backward rule saved; called after backward unless retain_graph.
  virtual void release() {}

  const std::string& name() const { return name_; }
  // Nodes are numbered in the order they were made: a node made later has a larger number.
  std::uint64_t sequence_number() const { return sequence_number_; }
  const std::vector<std::shared_ptr<Node>>& next() const { return next_; }
  // The gradient of the node's output once summed, through the hooks registered on the
  // tensor it made (a leaf's accumulator: on the leaf). The engine calls it before apply().
  virtual Tensor run_hooks(const Tensor& grad);
  GradHookList& hooks() { return hooks_; }
  // The op's inputs as "(3, 4) float32, (4) float32": kept only under anomaly detection.
  const std::string& inputs_description() const { return inputs_; }
  void set_inputs_description(std::string s) { inputs_ = std::move(s); }
  // Whether apply() can itself be differentiated (grad with create_graph): see
  // mark_differentiable_backward.
  bool differentiable_backward() const { return differentiable_backward_; }
  void set_differentiable_backward() { differentiable_backward_ = true; }

private:
  std::string name_;
  GradHookList hooks_;
  std::uint64_t sequence_number_;
  std::vector<std::shared_ptr<Node>> next_;
  std::string inputs_;
  bool differentiable_backward_ = false;
};

// The number the next node made will get (see Node::sequence_number).
std::uint64_t next_node_sequence_number();

// Anomaly detection (kiln/autograd/anomaly.hpp): throws kiln::Error when `t`
// holds NaN or Inf, naming the op, the pass ("forward" / "backward") and `what`.
void check_anomaly(const Tensor& t, const Node& node, const char* pass, const std::string& what);

// A Node whose backward rule is a closure written next to the op's forward.
class FunctionNode final : public Node {
public:
  FunctionNode(std::string name, std::vector<std::shared_ptr<Node>> next, BackwardFn fn)
      : Node(std::move(name), std::move(next)), fn_(std::move(fn)) {}
  // Runs the rule, after checking that no tensor it saved was changed in place since.
  Grads apply(const Tensor& grad_output) override;
  void release() override {
    fn_ = nullptr;
    saved_.clear();
  }
  // Notes the storage versions of the tensors the rule reads (undefined ones skipped).
  void save_versions(std::initializer_list<Tensor> saved);
  void save_versions(const std::vector<Tensor>& saved);

private:
  void save_version(const Tensor& t);
  struct Saved {
    std::shared_ptr<Storage> storage;
    std::uint64_t version;
    Shape shape;
  };
  BackwardFn fn_;
  std::vector<Saved> saved_;
};

// The sink for a leaf tensor: adds the incoming gradient into leaf.grad().
class AccumulateGrad final : public Node {
public:
  explicit AccumulateGrad(std::weak_ptr<TensorImpl> leaf)
      : Node("AccumulateGrad", {}), leaf_(std::move(leaf)) {
    set_differentiable_backward();  // it has no inputs; a recorded walk adds out of place
  }
  Grads apply(const Tensor& grad_output) override;
  Tensor run_hooks(const Tensor& grad) override;  // the leaf's hooks
  // The leaf, or an undefined Tensor once it is gone.
  Tensor leaf() const;

private:
  std::weak_ptr<TensorImpl> leaf_;
};

// --- Recording an op -------------------------------------------------------
// True when grad mode is on and any input requires a gradient.
bool should_record(std::initializer_list<Tensor> inputs);
bool should_record(const std::vector<Tensor>& inputs);

// Makes `output` the result of a recorded op `name` over `inputs`, whose
// gradients `backward` computes. Save detached copies of tensors in the
// closure (x.detach()), never `output` itself, so the graph has no cycles, and
// list in `saved` every tensor the closure reads that a program could change in
// place (inputs, the output): backward refuses to run the rule if one was.
void attach_grad_fn(Tensor& output, const char* name, const std::vector<Tensor>& inputs,
                    BackwardFn backward, std::initializer_list<Tensor> saved = {});
void attach_grad_fn(Tensor& output, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward,
                    const std::vector<Tensor>& saved);

// Declares that the backward rule just attached to `output` can be differentiated again,
// so that grad(..., create_graph = true) may run it while recording. Such a rule is
// written in recorded ops (add, mul, where, matmul, ...) over its gradient and over the
// op's inputs saved without detach() (saving them is not a cycle; saving the output is,
// so a rule that reads the output recomputes it from the inputs while recording). Inside
// a backward rule grad mode is on exactly when the walk records (create_graph), which is
// how a rule picks its recorded form over a faster kernel. A rule not marked stops such a
// walk with an Error naming the op, instead of giving a silently wrong derivative.
void mark_differentiable_backward(const Tensor& output);

// Inside a backward rule, the op's output that the rule saved as `detached` (out.detach()):
// while the walk records (create_graph), the same values as a tensor of the graph again,
// made by the node running the rule, so a derivative through it reaches the op's inputs;
// otherwise `detached` itself. Costs no copy.
Tensor output_for_backward(const Tensor& detached);

// Inside a backward rule, a value the op computed from its input number `input` on the way
// (cross_entropy's log-probabilities), saved as `detached`: while the walk records, the
// same values as a tensor of the graph, made by a new node `name` whose rule `backward`
// takes them back to that input; otherwise `detached` itself. So a fused op can be
// differentiated again without keeping its input as well.
Tensor intermediate_for_backward(const Tensor& detached, const char* name, std::size_t input,
                                 BackwardFn backward);

// The node that receives gradients for `t`: its grad_fn, its leaf
// accumulator, or null when t needs no gradient.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

}  // namespace kiln
