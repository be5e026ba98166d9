#include "kiln/optim/optimizer.hpp"

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/ref/ref_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/optim/one_group.hpp"

namespace kiln::optim {

namespace {

// Runs fn(p, g, i0, i1) over slices of a parameter's elements, in parallel; the
// parameter is changed in place (its version counts it, see Storage::version).
template <class T, class Fn>
void for_elements(const Tensor& p, const Tensor& g, Fn fn) {
  p.storage()->bump_version();
  T* pp = p.data_ptr<T>();
  const T* pg = g.data_ptr<T>();
  parallel_for(0, p.numel(), kElementwiseGrain, [&](std::int64_t b, std::int64_t e) { fn(pp, pg, b, e); });
}
}  // namespace

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const char* name)
    : base_lr_(lr), name_(name) {
  KILN_CHECK(lr >= 0, name, ": learning rate ", lr, " must be >= 0");
  KILN_CHECK(!groups.empty(), name, ": no parameters to optimize");
  for (auto& pg : groups) {
    Group g;
    g.initial_lr = g.lr = pg.overrides.lr.value_or(lr);
    g.weight_decay = pg.overrides.weight_decay.value_or(weight_decay);
    for (const Tensor& p : pg.params) {
      // A frozen parameter (requires_grad false) is allowed, as in PyTorch: it gets no
      // gradient, and every step skips a parameter without one.
      KILN_CHECK(p.defined() && p.is_leaf(), name,
                 ": every parameter must be a leaf tensor (one made by the program, not an op's result)");
      KILN_CHECK(p.is_contiguous(), name, ": parameter of shape ", fmt(p.shape()), " is not contiguous");
    }
    g.params = std::move(pg.params);
    g.state.resize(g.params.size());
    groups_.push_back(std::move(g));
  }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.set_grad(Tensor());
}

void Optimizer::set_momentum(double) {
  KILN_CHECK(false, name_,
             ": has no momentum to set (OneCycleLR's cycle_momentum needs SGD, RMSprop or the Adam "
             "family; turn it off with OneCycleLROptions().set_cycle_momentum(false))");
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.lr = base_lr_ > 0 ? g.initial_lr * lr / base_lr_ : lr;
}

Tensor& Optimizer::state_tensor(Group& g, std::size_t i, const std::string& key) {
  auto& slot = g.state[i][key];
  if (!slot.defined()) slot = zeros_like(g.params[i]);
  return slot;
}

double Optimizer::next_step(Group& g, std::size_t i) {
  Tensor& count = g.state[i]["step"];
  if (!count.defined()) count = scalar_tensor(0, kFloat64);
  return count.data_ptr<double>()[0] += 1;
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  // Copies, not the live buffers: the snapshot must not change as training goes on.
  out["step"] = scalar_tensor(static_cast<double>(step_count_), kInt64);
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    out["group." + std::to_string(gi) + ".lr"] = scalar_tensor(groups_[gi].lr, kFloat64);
    for (std::size_t i = 0; i < groups_[gi].state.size(); ++i)
      for (const auto& [key, t] : groups_[gi].state[i])
        out["state." + std::to_string(gi) + "." + std::to_string(i) + "." + key] = t.clone();
  }
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  auto find = [&](const std::string& key) -> const Tensor& {
    auto it = state.find(key);
    KILN_CHECK(it != state.end(), name_, ".load_state_dict: missing key '", key,
               "' (was the state saved from the same optimizer over the same parameters?)");
    return it->second;
  };
  // Validate every entry first, then apply, so a bad state changes nothing.
  for (const auto& [key, t] : state) {
    if (key.rfind("state.", 0) != 0) continue;
    std::size_t gi = 0, i = 0;
    char name[64] = {0};
    KILN_CHECK(std::sscanf(key.c_str(), "state.%zu.%zu.%63s", &gi, &i, name) == 3 && gi < groups_.size() &&
                   i < groups_[gi].params.size(),
               name_, ".load_state_dict: key '", key, "' names no parameter of this optimizer");
    KILN_CHECK(t.shape() == groups_[gi].params[i].shape() || t.dim() == 0, name_, ".load_state_dict: '", key,
               "' has shape ", fmt(t.shape()), " but the parameter has shape ", fmt(groups_[gi].params[i].shape()));
  }
  const std::int64_t step = static_cast<std::int64_t>(find("step").item());
  std::vector<double> lrs;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) lrs.push_back(find("group." + std::to_string(gi) + ".lr").item());
  step_count_ = step;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    groups_[gi].lr = lrs[gi];
    for (auto& s : groups_[gi].state) s.clear();
  }
  for (const auto& [key, t] : state) {
    if (key.rfind("state.", 0) != 0) continue;
    std::size_t gi = 0, i = 0;
    char name[64] = {0};
    std::sscanf(key.c_str(), "state.%zu.%zu.%63s", &gi, &i, name);
    const Tensor& param = groups_[gi].params[i];
    // Per-element state follows its parameter's dtype and device; step counters stay host scalars.
    groups_[gi].state[i][name] = t.dim() == 0 ? t.clone() : t.to(param.dtype()).to(param.device()).clone();
  }
}

// ---- SGD ------------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : SGD(one_group(std::move(params)), o) {}
SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "SGD"), options(o) {
  KILN_CHECK(o.momentum >= 0 && o.weight_decay >= 0, "SGD: momentum ", o.momentum, " and weight_decay ",
             o.weight_decay, " must be >= 0");
  KILN_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD: Nesterov needs momentum > 0 and dampening 0");
}

void SGD::step() {
  NoGradGuard no_grad;
  ++step_count_;
  const double mu = options.momentum, damp = options.dampening;
  for (auto& group : groups_) {
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      Tensor& p = group.params[i];
      const Tensor g = p.grad();
      if (!g.defined()) continue;
      const bool first = mu > 0 && !group.state[i].count("momentum_buffer");
      Tensor buf = mu > 0 ? state_tensor(group, i, "momentum_buffer") : Tensor();
      const Tensor gc = g.contiguous();
      if (p.device().is_cuda()) {  // the same update, as tensor ops on the GPU
        auto s = [&](double v) { return detail::constant_like(p, v); };
        Tensor d = group.weight_decay != 0 ? add(gc, mul(p, s(group.weight_decay))) : gc;
        if (buf.defined()) {
          buf.copy_(first ? d : add(mul(buf, s(mu)), mul(d, s(1 - damp))));
          d = options.nesterov ? add(d, mul(buf, s(mu))) : buf;
        }
        p.copy_(sub(p, mul(d, s(group.lr))));
        continue;
      }
      visit_floating(p.dtype(), "SGD", [&]<class T>() {
        T* pb = buf.defined() ? buf.data_ptr<T>() : nullptr;
        const T lr = static_cast<T>(group.lr), wd = static_cast<T>(group.weight_decay);
        const bool nesterov = options.nesterov;
        for_elements<T>(p, gc, [&](T* pp, const T* pg, std::int64_t b, std::int64_t e) {
          for (std::int64_t k = b; k < e; ++k) {
            T d = pg[k] + wd * pp[k];
            if (pb) {
              pb[k] = first ? d : static_cast<T>(mu) * pb[k] + static_cast<T>(1 - damp) * d;
              d = nesterov ? d + static_cast<T>(mu) * pb[k] : pb[k];
            }
            pp[k] -= lr * d;
          }
        });
      });
    }
  }
}

// ---- RMSprop ------------------------------------------------------------------------

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions o) : RMSprop(one_group(std::move(params)), o) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "RMSprop"), options(o) {
  KILN_CHECK(o.alpha >= 0 && o.alpha < 1 && o.eps >= 0 && o.momentum >= 0 && o.weight_decay >= 0,
             "RMSprop: alpha ", o.alpha, " must be in [0, 1); eps ", o.eps, ", momentum ", o.momentum,
             " and weight_decay ", o.weight_decay, " must be >= 0");
}

void RMSprop::step() {
  NoGradGuard no_grad;
  ++step_count_;
  const double alpha = options.alpha, eps = options.eps, mu = options.momentum;
  for (auto& group : groups_) {
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      Tensor& p = group.params[i];
      const Tensor g = p.grad();
      if (!g.defined()) continue;
      Tensor v = state_tensor(group, i, "square_avg");
      Tensor a = options.centered ? state_tensor(group, i, "grad_avg") : Tensor();
      Tensor buf = mu > 0 ? state_tensor(group, i, "momentum_buffer") : Tensor();
      const Tensor gc = g.contiguous();
      if (p.device().is_cuda()) {  // the same update, as tensor ops on the GPU
        auto s = [&](double x) { return detail::constant_like(p, x); };
        const Tensor d = group.weight_decay != 0 ? add(gc, mul(p, s(group.weight_decay))) : gc;
        v.copy_(add(mul(v, s(alpha)), mul(mul(d, d), s(1 - alpha))));
        Tensor var = v;
        if (a.defined()) {
          a.copy_(add(mul(a, s(alpha)), mul(d, s(1 - alpha))));
          var = sub(v, mul(a, a));
        }
        Tensor u = div(d, add(sqrt(var), s(eps)));
        if (buf.defined()) {
          buf.copy_(add(mul(buf, s(mu)), u));
          u = buf;
        }
        p.copy_(sub(p, mul(u, s(group.lr))));
        continue;
      }
      visit_floating(p.dtype(), "RMSprop", [&]<class T>() {
        T* pv = v.data_ptr<T>();
        T* pa = a.defined() ? a.data_ptr<T>() : nullptr;
        T* pb = buf.defined() ? buf.data_ptr<T>() : nullptr;
        const T lr = static_cast<T>(group.lr), wd = static_cast<T>(group.weight_decay),
                al = static_cast<T>(alpha), e = static_cast<T>(eps), m = static_cast<T>(mu);
        for_elements<T>(p, gc, [&](T* pp, const T* pg, std::int64_t b, std::int64_t end) {
          for (std::int64_t k = b; k < end; ++k) {
            const T d = pg[k] + wd * pp[k];
            pv[k] = al * pv[k] + (1 - al) * d * d;
            T var = pv[k];
            if (pa) {
              pa[k] = al * pa[k] + (1 - al) * d;
              var -= pa[k] * pa[k];
            }
            T u = d / (std::sqrt(var) + e);
            if (pb) {
              pb[k] = m * pb[k] + u;
              u = pb[k];
            }
            pp[k] -= lr * u;
          }
        });
      });
    }
  }
}

// ---- Adam / AdamW ------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Adam(one_group(std::move(params)), o, false, "Adam") {}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o) : Adam(std::move(groups), o, false, "Adam") {}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o, bool decoupled, const char* name)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, name), options(o), decoupled_(decoupled) {
  KILN_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps >= 0 && o.weight_decay >= 0, name,
             ": betas (", o.beta1, ", ", o.beta2, ") must be in [0, 1), eps and weight_decay >= 0");
}
AdamW::AdamW(std::vector<Tensor> params, AdamOptions o) : Adam(one_group(std::move(params)), o, true, "AdamW") {}
AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions o) : Adam(std::move(groups), o, true, "AdamW") {}

namespace {

// Parameters on a GPU gathered into one Adam launch (flushed when full, when the
// device changes, and at the end of the step). Holds the gradients it points to.
class AdamLaunches {
public:
  void add(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const cpu::AdamStep& step) {
    if (batch_.count == cuda_kernels::kAdamTensors || (batch_.count > 0 && p.device() != device_)) flush();
    device_ = p.device();
    p.storage()->bump_version();  // changed in place by the launch
    const int t = batch_.count++;
    batch_.p[t] = detail::dptr<float>(p);
    batch_.g[t] = detail::dptr<float>(g);
    batch_.m[t] = detail::dptr<float>(m);
    batch_.v[t] = detail::dptr<float>(v);
    batch_.n[t] = p.numel();
    batch_.step[t] = step;
    held_.push_back(g);
  }
  void flush() {
    if (batch_.count == 0) return;
    detail::cuda_for(held_.front()).adam(batch_);
    batch_.count = 0;
    held_.clear();
  }

private:
  cuda_kernels::AdamTensors batch_;
  Device device_ = Device::cpu();
  std::vector<Tensor> held_;
};

}  // namespace

void Adam::step() {
  NoGradGuard no_grad;
  ++step_count_;
  const double b1 = options.beta1, b2 = options.beta2;
  AdamLaunches on_gpu;
  for (auto& group : groups_) {
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      Tensor& p = group.params[i];
      const Tensor g = p.grad();
      if (!g.defined()) continue;
      const double t = next_step(group, i);
      Tensor m = state_tensor(group, i, "exp_avg");
      Tensor v = state_tensor(group, i, "exp_avg_sq");
      const Tensor gc = g.contiguous();
      const double lr = group.lr, wd = group.weight_decay;
      const double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t);
      const double step_size = lr / c1, inv_sqrt_c2 = 1 / std::sqrt(c2);
      const bool decoupled = decoupled_;
      const cpu::AdamStep consts{static_cast<float>(b1), static_cast<float>(b2), static_cast<float>(options.eps),
                                 static_cast<float>(step_size), static_cast<float>(inv_sqrt_c2),
                                 static_cast<float>(decoupled ? 0.0 : wd), static_cast<float>(decoupled ? 1 - lr * wd : 1.0)};
      if (p.device().is_cuda()) {
        KILN_CHECK(p.dtype() == kFloat32, name_, ": parameters on ", p.device(), " must be float32 (got ",
                   p.dtype(), "); the fused GPU update is written for float32");
        on_gpu.add(p, gc, m, v, consts);
        continue;
      }
      visit_floating(p.dtype(), name_, [&]<class T>() {
        T* pm = m.data_ptr<T>();
        T* pv = v.data_ptr<T>();
        for_elements<T>(p, gc, [&](T* pp, const T* pg, std::int64_t b, std::int64_t e) {
          if constexpr (std::is_same_v<T, float>) {
            cpu::kernels_f32().adam(e - b, pp + b, pg + b, pm + b, pv + b, consts);
          } else {  // float64: the reference rule, in double
            const struct {
              double beta1, beta2, eps, step_size, inv_sqrt_c2, l2, decay;
            } d{b1, b2, options.eps, step_size, inv_sqrt_c2, decoupled ? 0.0 : wd, decoupled ? 1 - lr * wd : 1.0};
            cpu::ref::adam(e - b, pp + b, pg + b, pm + b, pv + b, d);
          }
        });
      });
    }
  }
  on_gpu.flush();
}

}  // namespace kiln::optim
