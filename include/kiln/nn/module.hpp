// nn::Module: a named tree of parameters, buffers and sub-modules.
//
// The registry is the one source of truth: a layer registers its tensors by name
// (register_parameter / register_buffer) and its children (register_module), and
// everything else - parameters(), state_dict(), printing, train()/eval() - walks
// that registry. Names compose with dots, as in PyTorch: "fc1.weight", "bn1.running_mean".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::nn {

using StateDict = std::map<std::string, Tensor>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // One-input, one-output layers override this (Sequential chains them).
  virtual Tensor forward(const Tensor& x);
  // Calling a module runs its hooks around forward(); calling forward() directly skips them.
  Tensor operator()(const Tensor& x) {
    return call_with_hooks([&] { return forward(x); });
  }

  // Hooks, as PyTorch's: they run when the module is called - m(x), (*m)(x), the call
  // operators of the modules with several inputs, and Sequential's chain - not when
  // forward() is called directly. A pre-hook runs before forward (weight_norm and
  // spectral_norm recompute their weight in one); a forward hook sees the output and may
  // replace it, e.g. to keep an intermediate activation:
  //   Tensor features;
  //   model->named_children()[3].second->register_forward_hook(
  //       [&](nn::Module&, Tensor& out) { features = out.detach(); });
  using HookId = std::uint64_t;
  using ForwardPreHook = std::function<void(Module&)>;
  using ForwardHook = std::function<void(Module&, Tensor& output)>;
  HookId register_forward_pre_hook(ForwardPreHook hook);
  HookId register_forward_hook(ForwardHook hook);
  void remove_hook(HookId id);  // does nothing for an id already removed

  // Registration order, children after the module's own tensors.
  NamedTensors named_parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  // This module (named "") and every module below it, parents before their children
  // ("encoder", "encoder.0", ...), as PyTorch's named_modules(); modules() the same unnamed.
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<Module*> modules();
  // Sets requires_grad on every parameter (PyTorch's requires_grad_): false freezes the
  // module, e.g. a pretrained encoder while a new head trains; optimizers skip parameters
  // that get no gradient. Existing gradients are cleared when freezing.
  Module& requires_grad_(bool on = true);

  // Parameters and buffers by dotted name. Tensors are shared, not copied.
  StateDict state_dict() const;
  // Copies values into this module's tensors. strict: every key must match both ways.
  // Shapes must match; values are converted to each tensor's dtype.
  void load_state_dict(const StateDict& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();  // clears every parameter's gradient
  // Calls fn on every sub-module, children before their parent, and last on this one
  // (PyTorch's apply), e.g. to initialise every Linear of a model one way:
  //   model.apply([](nn::Module& m) {
  //     if (auto* fc = dynamic_cast<nn::Linear*>(&m)) nn::init::xavier_uniform_(fc->weight);
  //   });
  Module& apply(const std::function<void(Module&)>& fn);
  // Moves every parameter and buffer to `device` in place: the tensors keep their
  // identity (an optimizer made before still holds them); their gradients are cleared.
  // Quantized layers move their kernels' weights along.
  Module& to(Device device);
  // Converts every floating parameter and buffer to `dtype` (float32 or float64) in place,
  // as PyTorch's .double() / .float(): identities kept, gradients cleared. Integer buffers
  // (a count, quantized weights) stay as they are. E.g. a layer in float64 for a gradcheck.
  Module& to(DType dtype);

  // "Linear(in_features=784, out_features=256, bias=true)"; containers print their children.
  virtual std::string description() const = 0;
  std::string str() const;

protected:
  // Called after load_state_dict has copied new values in (children first), for
  // layers that keep something derived from their tensors (a packed copy, say).
  virtual void state_loaded() {}

  // Runs the pre-hooks, then run() (the forward), then the forward hooks on its output.
  template <class Run>
  Tensor call_with_hooks(Run&& run) {
    if (!pre_hooks_.empty()) run_pre_hooks();
    Tensor out = run();
    if (!hooks_.empty()) run_hooks(out);
    return out;
  }

  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  // The same, binding the layer's member `slot` to the parameter (slot = the tensor):
  // weight_norm and spectral_norm can then replace what the layer computes with.
  Tensor& register_parameter(const std::string& name, Tensor& slot, Tensor tensor, bool requires_grad = true);
  // A buffer moves with the module (to()) and is listed by named_buffers(); a persistent one
  // (the default) is also in state_dict(). A non-persistent one, such as a table the module
  // can rebuild (a positional encoding, a causal mask), is left out of checkpoints.
  Tensor& register_buffer(const std::string& name, Tensor tensor, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_name(name);
    children_.emplace_back(name, module);
    return module;
  }

private:
  friend struct ParametrizationAccess;  // weight_norm, spectral_norm, pruning (src/nn/parametrization.hpp)

  // A parameter replaced by weight_norm or spectral_norm: the tensors it is now computed
  // from are registered in its place; refresh() recomputes the layer's member from them.
  struct Parametrized {
    std::string kind;  // "weight_norm" / "spectral_norm"
    Tensor* slot;
    HookId hook;
    std::function<void()> refresh;
  };

  // Points each parameter and buffer that convert() changes (it returns an undefined
  // tensor for the others) at the converted storage, clearing its gradient; then lets the
  // layers rebuild what they derive from their tensors.
  void replace_in_place(const std::function<Tensor(const Tensor&)>& convert);
  void run_pre_hooks();
  void run_hooks(Tensor& output);
  void notify_state_loaded();
  void check_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, bool recurse, NamedTensors& out,
               bool persistent_only = false) const;
  void print(std::ostream& os, int indent) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::map<std::string, Tensor*> slots_;  // parameter name -> the layer's member
  std::vector<std::string> transient_buffers_;  // registered with persistent = false
  std::vector<std::pair<HookId, ForwardPreHook>> pre_hooks_;
  std::vector<std::pair<HookId, ForwardHook>> hooks_;
  std::map<std::string, Parametrized> parametrized_;  // by the replaced parameter's name
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace kiln::nn
