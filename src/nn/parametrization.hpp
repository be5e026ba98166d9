// How a parameter becomes a tensor computed from others before each call: the parameter
// leaves the registry, the tensors it is now computed from enter it, and a forward
// pre-hook recomputes the layer's member (see Module::Parametrized).
#pragma once

#include <algorithm>
#include <functional>
#include <string>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/nn/module.hpp"

namespace kiln::nn {

// Module's registry, opened to the tensors computed from others: weight_norm,
// spectral_norm (src/nn/weight_norms.cpp) and pruning (src/nn/prune.cpp).
struct ParametrizationAccess {
  // The member parameter `name` binds to; refuses what cannot be normalised.
  static Tensor* slot_of(Module& m, const char* op, const std::string& name) {
    if (const auto it = m.parametrized_.find(name); it != m.parametrized_.end())
      throw Error(std::string(op) + ": '" + name + "' of " + m.description() + " already has " +
                  it->second.kind + "; remove it first (remove_" + it->second.kind + ")");
    const auto it = std::find_if(m.parameters_.begin(), m.parameters_.end(),
                                 [&](const auto& p) { return p.first == name; });
    if (it == m.parameters_.end() || !it->second.defined()) {
      std::string names;
      for (const auto& [n, t] : m.parameters_)
        if (t.defined()) names += (names.empty() ? "" : ", ") + n;
      throw Error(std::string(op) + ": " + m.description() + " has no parameter '" + name +
                  "' (its own: " + (names.empty() ? std::string("none") : names) + ")");
    }
    const auto slot = m.slots_.find(name);
    KILN_CHECK(slot != m.slots_.end(), op, ": parameter '", name, "' of ", m.description(),
               " is not bound to a member the layer computes with; a layer binds it by registering "
               "it with register_parameter(name, member, tensor)");
    return slot->second;
  }

  // What `name` is computed by now ("weight_norm", "spectral_norm", "prune"), or "".
  static std::string kind_of(const Module& m, const std::string& name) {
    const auto it = m.parametrized_.find(name);
    return it == m.parametrized_.end() ? std::string() : it->second.kind;
  }
  static bool has_kind(const Module& m, const std::string& kind) {
    return std::any_of(m.parametrized_.begin(), m.parametrized_.end(),
                       [&](const auto& p) { return p.second.kind == kind; });
  }
  // The layer's member that parametrized `name` computes, and recomputes it now.
  static const Tensor& refreshed(Module& m, const std::string& name) {
    Module::Parametrized& p = m.parametrized_.at(name);
    p.refresh();
    return *p.slot;
  }
  static Tensor find(const NamedTensors& list, const std::string& name) {
    const auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.first == name; });
    return it == list.end() ? Tensor() : it->second;
  }
  static Tensor parameter(const Module& m, const std::string& name) { return find(m.parameters_, name); }
  static Tensor buffer(const Module& m, const std::string& name) { return find(m.buffers_, name); }

  static Tensor take(NamedTensors& list, const std::string& name) {
    const auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.first == name; });
    Tensor t = it->second;
    list.erase(it);
    return t;
  }
  static Tensor take_parameter(Module& m, const std::string& name) {
    m.slots_.erase(name);
    return take(m.parameters_, name);
  }
  static Tensor take_buffer(Module& m, const std::string& name) { return take(m.buffers_, name); }
  static Tensor add_parameter(Module& m, const std::string& name, Tensor t) {
    return m.register_parameter(name, std::move(t));
  }
  static Tensor add_buffer(Module& m, const std::string& name, Tensor t) {
    return m.register_buffer(name, std::move(t));
  }

  // Runs recompute(training) before each call, and once now (without gradient).
  static void attach(Module& m, const std::string& name, const char* kind, Tensor* slot,
                     std::function<Tensor(bool training)> recompute) {
    Module::Parametrized p;
    p.kind = kind;
    p.slot = slot;
    p.hook = m.register_forward_pre_hook(
        [slot, recompute](Module& self) { *slot = recompute(self.is_training()); });
    p.refresh = [slot, recompute] {
      NoGradGuard no_grad;
      *slot = recompute(false);
    };
    p.refresh();
    m.parametrized_.emplace(name, std::move(p));
  }

  // Removes the hook and makes `name` a parameter again, holding the weight it gives now.
  static void release(Module& m, const char* op, const std::string& name, const char* kind) {
    const auto it = m.parametrized_.find(name);
    KILN_CHECK(it != m.parametrized_.end() && it->second.kind == kind, op, ": '", name, "' of ",
               m.description(), " has no ", kind);
    Module::Parametrized p = it->second;
    m.parametrized_.erase(it);
    m.remove_hook(p.hook);
    p.refresh();
    m.register_parameter(name, *p.slot, p.slot->detach().clone());
  }
};

}  // namespace kiln::nn
