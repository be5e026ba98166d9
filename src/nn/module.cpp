#include "kiln/nn/module.hpp"

#include <algorithm>
#include <atomic>
#include <set>
#include <sstream>

#include "kiln/autograd/grad_mode.hpp"

namespace kiln::nn {

Tensor Module::forward(const Tensor&) {
  throw Error(description() + ": this module has no single-input forward(); call its own methods");
}

void Module::check_name(const std::string& name) const {
  KILN_CHECK(!name.empty() && name.find('.') == std::string::npos, "register: name '", name,
             "' must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  KILN_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), "register: the name '", name,
             "' is already used in ", description());
}

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_name(name);
  if (tensor.defined() && requires_grad) tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
  return parameters_.back().second;
}

Tensor& Module::register_parameter(const std::string& name, Tensor& slot, Tensor tensor, bool requires_grad) {
  Tensor& registered = register_parameter(name, std::move(tensor), requires_grad);
  slot = registered;
  slots_[name] = &slot;
  return registered;
}

namespace {
Module::HookId next_hook_id() {
  static std::atomic<Module::HookId> next{1};
  return next++;
}
}  // namespace

Module::HookId Module::register_forward_pre_hook(ForwardPreHook hook) {
  KILN_CHECK(hook != nullptr, "register_forward_pre_hook: the hook is empty");
  const HookId id = next_hook_id();
  pre_hooks_.emplace_back(id, std::move(hook));
  return id;
}

Module::HookId Module::register_forward_hook(ForwardHook hook) {
  KILN_CHECK(hook != nullptr, "register_forward_hook: the hook is empty");
  const HookId id = next_hook_id();
  hooks_.emplace_back(id, std::move(hook));
  return id;
}

void Module::remove_hook(HookId id) {
  std::erase_if(pre_hooks_, [&](const auto& h) { return h.first == id; });
  std::erase_if(hooks_, [&](const auto& h) { return h.first == id; });
}

void Module::run_pre_hooks() {
  const auto hooks = pre_hooks_;  // a hook may remove itself
  for (const auto& [_, hook] : hooks) hook(*this);
}

void Module::run_hooks(Tensor& output) {
  const auto hooks = hooks_;
  for (const auto& [_, hook] : hooks) hook(*this, output);
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor, bool persistent) {
  check_name(name);
  if (!persistent) transient_buffers_.push_back(name);
  buffers_.emplace_back(name, tensor);
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool params, bool recurse, NamedTensors& out,
                     bool persistent_only) const {
  for (const auto& [name, t] : params ? parameters_ : buffers_) {
    const bool transient = !params && std::find(transient_buffers_.begin(), transient_buffers_.end(), name) !=
                                          transient_buffers_.end();
    if (t.defined() && !(persistent_only && transient)) out.emplace_back(prefix + name, t);
  }
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", params, true, out, persistent_only);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, recurse, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

StateDict Module::state_dict() const {
  StateDict out;
  for (auto& [name, t] : named_parameters()) out[name] = t;
  NamedTensors kept;
  collect("", false, true, kept, /*persistent_only=*/true);
  for (auto& [name, t] : kept) out[name] = t;
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict own = state_dict();
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, _] : own)
    if (!state.count(name)) missing.push_back(name);
  for (const auto& [name, _] : state)
    if (!own.count(name)) unexpected.push_back(name);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::ostringstream os;
    os << "load_state_dict: keys do not match " << description() << ".";
    if (!missing.empty()) {
      os << " Missing:";
      for (const auto& k : missing) os << " " << k;
      os << ".";
    }
    if (!unexpected.empty()) {
      os << " Unexpected:";
      for (const auto& k : unexpected) os << " " << k;
      os << ".";
    }
    os << " Pass strict=false to load the keys that match.";
    throw Error(os.str());
  }
  // Check every shape before copying anything, so a failed load changes nothing.
  for (const auto& [name, target] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    KILN_CHECK(it->second.shape() == target.shape(), "load_state_dict: '", name, "' has shape ",
               fmt(it->second.shape()), " in the state but ", fmt(target.shape()), " in the module");
  }
  NoGradGuard no_grad;
  for (const auto& [name, target] : own) {
    auto it = state.find(name);
    if (it != state.end()) Tensor(target).copy_(it->second.to(target.device()));
  }
  notify_state_loaded();
}

void Module::notify_state_loaded() {
  for (auto& [_, child] : children_) child->notify_state_loaded();
  for (auto& [_, p] : parametrized_) p.refresh();
  state_loaded();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

void Module::replace_in_place(const std::function<Tensor(const Tensor&)>& convert) {
  NoGradGuard no_grad;
  bool any_changed = false;
  auto replace = [&](const Tensor& t) {
    if (!t.defined()) return;
    const Tensor changed = convert(t);
    if (!changed.defined()) return;
    any_changed = true;
    TensorImpl* impl = t.unsafe_impl();
    impl->storage = changed.storage();
    impl->strides = changed.strides();
    impl->offset = changed.offset();
    impl->dtype = changed.dtype();
    impl->grad = nullptr;
  };
  for (const auto& [name, t] : named_parameters()) replace(t);
  for (const auto& [name, t] : named_buffers()) replace(t);
  if (any_changed)
    notify_state_loaded();  // layers that keep a derived copy (quantized weights) rebuild it there
}

Module& Module::to(Device device) {
  replace_in_place([&](const Tensor& t) { return t.device() == device ? Tensor() : t.detach().to(device); });
  return *this;
}

Module& Module::to(DType dtype) {
  KILN_CHECK(dtype == kFloat32 || dtype == kFloat64, "Module::to: ", dtype_name(dtype),
             " is not a type to train in; convert a module to float32 or float64");
  replace_in_place([&](const Tensor& t) {
    const bool floating = t.dtype() == kFloat32 || t.dtype() == kFloat64;
    return !floating || t.dtype() == dtype ? Tensor() : t.detach().to(dtype).contiguous();
  });
  return *this;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (const auto& [name, child] : children_)
    for (const auto& [below, m] : child->named_modules())
      out.emplace_back(below.empty() ? name : name + "." + below, m);
  return out;
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (const auto& [_, m] : named_modules()) out.push_back(m);
  return out;
}

Module& Module::requires_grad_(bool on) {
  for (auto& [_, t] : named_parameters()) {
    Tensor p = t;
    if (!on) p.set_grad(Tensor());
    p.requires_grad_(on);
  }
  return *this;
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.set_grad(Tensor());
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [_, child] : children_) child->apply(fn);
  fn(*this);
  return *this;
}

void Module::print(std::ostream& os, int indent) const {
  os << description();
  if (children_.empty()) return;
  os << "(\n";
  for (const auto& [name, child] : children_) {
    os << std::string(indent + 2, ' ') << "(" << name << "): ";
    child->print(os, indent + 2);
    os << "\n";
  }
  os << std::string(indent, ' ') << ")";
}

std::string Module::str() const {
  std::ostringstream os;
  print(os, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

}  // namespace kiln::nn
