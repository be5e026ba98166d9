// L-BFGS (kiln/optim/lbfgs.hpp): torch.optim.LBFGS's iteration, history and strong-Wolfe
// line search. The vectors (gradients, directions, history) are tensors on the parameters'
// device; the scalars they reduce to (dot products, step lengths, losses) are doubles on
// the host, as torch's are Python floats.
#include "kiln/optim/lbfgs.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/optim/one_group.hpp"

namespace kiln::optim {

namespace {

double dot(const Tensor& a, const Tensor& b) { return sum(a * b).item(); }
double abs_max(const Tensor& a) { return max(abs(a)).item(); }

// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, kept in
// [lo, hi] (by default between x1 and x2); the middle where the cubic has none.
double cubic_minimum(double x1, double f1, double g1, double x2, double f2, double g2,
                     std::optional<double> lo = {}, std::optional<double> hi = {}) {
  const double low = lo.value_or(std::min(x1, x2)), high = hi.value_or(std::max(x1, x2));
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square < 0) return (low + high) / 2;
  const double d2 = std::sqrt(d2_square);
  const double at = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                             : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
  return std::min(std::max(at, low), high);
}

// One point of a line search: its step length, loss, gradient and slope along d.
struct LinePoint {
  double t, f;
  Tensor g;
  double gtd;
};

struct LineSearchResult {
  LinePoint best;
  std::int64_t evaluations;
};

// A step length along d from the point (loss f, gradient g, slope gtd < 0) meeting the strong
// Wolfe conditions: enough decrease, f(t) <= f + c1 t gtd, and a flat enough slope,
// |g(t).d| <= c2 |gtd|. First steps outward (each new guess the cubic's minimum, between
// 1.01 t and 10 t) until a bracket holds such a point, then narrows the bracket. As
// torch's _strong_wolfe, with its constants.
template <class Evaluate>
LineSearchResult strong_wolfe(const Evaluate& evaluate, double t, const Tensor& d, double f, const Tensor& g,
                              double gtd, double tolerance_change) {
  constexpr double c1 = 1e-4, c2 = 0.9;
  constexpr std::int64_t max_ls = 25;
  const double d_norm = abs_max(d);
  const auto at = [&](double step) {
    auto [loss, grad] = evaluate(step);
    return LinePoint{step, loss, grad, dot(grad, d)};
  };
  LinePoint now = at(t), prev{0, f, g, gtd};
  std::int64_t evaluations = 1, ls_iter = 0;
  std::vector<LinePoint> bracket;
  bool done = false;
  while (ls_iter < max_ls) {
    if (now.f > f + c1 * now.t * gtd || (ls_iter > 1 && now.f >= prev.f)) {
      bracket = {prev, now};
      break;
    }
    if (std::fabs(now.gtd) <= -c2 * gtd) {
      bracket = {now};
      done = true;
      break;
    }
    if (now.gtd >= 0) {
      bracket = {prev, now};
      break;
    }
    const double next = cubic_minimum(prev.t, prev.f, prev.gtd, now.t, now.f, now.gtd,
                                      now.t + 0.01 * (now.t - prev.t), now.t * 10);
    prev = now;
    now = at(next);
    ++evaluations;
    ++ls_iter;
  }
  if (ls_iter == max_ls) bracket = {LinePoint{0, f, g, gtd}, now};
  // Narrow [low, high] (low the lower loss), the new guess the cubic's minimum, kept at
  // least a tenth of the bracket from its ends once it has crowded one twice.
  bool insufficient_progress = false;
  std::size_t low = 0, high = 1;
  if (bracket.size() == 2 && bracket[0].f > bracket[1].f) std::swap(low, high);
  while (!done && ls_iter < max_ls) {
    const double lo_t = std::min(bracket[0].t, bracket[1].t), hi_t = std::max(bracket[0].t, bracket[1].t);
    if ((hi_t - lo_t) * d_norm < tolerance_change) break;
    double next =
        cubic_minimum(bracket[0].t, bracket[0].f, bracket[0].gtd, bracket[1].t, bracket[1].f, bracket[1].gtd);
    const double eps = 0.1 * (hi_t - lo_t);
    if (std::min(hi_t - next, next - lo_t) < eps) {
      if (insufficient_progress || next >= hi_t || next <= lo_t) {
        next = std::fabs(next - hi_t) < std::fabs(next - lo_t) ? hi_t - eps : lo_t + eps;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    const LinePoint point = at(next);
    ++evaluations;
    ++ls_iter;
    if (point.f > f + c1 * point.t * gtd || point.f >= bracket[low].f) {
      bracket[high] = point;
      low = bracket[0].f <= bracket[1].f ? 0 : 1;
      high = 1 - low;
    } else {
      if (std::fabs(point.gtd) <= -c2 * gtd)
        done = true;
      else if (point.gtd * (bracket[high].t - bracket[low].t) >= 0)
        bracket[high] = bracket[low];
      bracket[low] = point;
    }
  }
  return {bracket[low], evaluations};
}

}  // namespace

LBFGS::LBFGS(std::vector<Tensor> params, LBFGSOptions o)
    : Optimizer(one_group(std::move(params)), o.lr, 0.0, "LBFGS"), options(o) {
  KILN_CHECK(o.max_iter >= 1 && o.history_size >= 1, "LBFGS: max_iter ", o.max_iter, " and history_size ",
             o.history_size, " must be >= 1");
  KILN_CHECK(!o.max_eval || *o.max_eval >= 1, "LBFGS: max_eval ", o.max_eval.value_or(0), " must be >= 1");
  for (const Tensor& p : groups_[0].params) numel_ += p.numel();
}

void LBFGS::step() {
  KILN_CHECK(false,
             "LBFGS: step() needs a closure that recomputes the loss and its gradients: "
             "opt.step([&] { opt.zero_grad(); Tensor loss = ...; loss.backward(); return loss; })");
}

Tensor LBFGS::flat_grad() const {
  std::vector<Tensor> pieces;
  for (const Tensor& p : groups_[0].params)
    pieces.push_back(p.grad().defined() ? p.grad().reshape({p.numel()})
                                        : zeros({p.numel()}, p.dtype(), p.device()));
  return cat(pieces, 0);
}

void LBFGS::add_to_params(double t, const Tensor& d) {
  std::int64_t offset = 0;
  for (Tensor& p : groups_[0].params) {
    const Tensor piece = d.narrow(0, offset, p.numel()).reshape(p.shape());
    p.copy_(p + piece * t);
    offset += p.numel();
  }
}

Tensor LBFGS::step(const Closure& closure) {
  const double lr = groups_[0].lr;
  const std::int64_t max_eval = options.max_eval.value_or(options.max_iter * 5 / 4);
  const auto evaluate = [&] {
    EnableGradGuard with_grad;  // the closure's backward needs the graph, whatever the caller set
    return closure();
  };
  ++step_count_;
  const Tensor first_loss = evaluate();
  NoGradGuard no_grad;
  double loss = first_loss.item();
  std::int64_t evals = 1;
  ++func_evals_;
  Tensor g = flat_grad();
  if (abs_max(g) <= options.tolerance_grad) return first_loss;

  for (std::int64_t n = 1; n <= options.max_iter; ++n) {
    ++n_iter_;
    // The direction: -g at first, then the two-loop recursion over the history.
    if (n_iter_ == 1) {
      d_ = -g;
      h_diag_ = 1;
    } else {
      const Tensor y = g - prev_flat_grad_, s = d_ * t_;
      const double ys = dot(y, s);
      if (ys > 1e-10) {  // keep the pair only where the curvature is positive
        if (old_dirs_.defined() && old_dirs_.size(0) == options.history_size) {
          old_dirs_ = old_dirs_.narrow(0, 1, options.history_size - 1);
          old_steps_ = old_steps_.narrow(0, 1, options.history_size - 1);
          ro_ = ro_.narrow(0, 1, options.history_size - 1);
        }
        const auto append = [](const Tensor& rows, const Tensor& row) {
          return rows.defined() ? cat({rows, row.unsqueeze(0)}, 0) : row.unsqueeze(0).clone();
        };
        old_dirs_ = append(old_dirs_, y);
        old_steps_ = append(old_steps_, s);
        ro_ = append(ro_, full({1}, 1.0 / ys, y.dtype(), y.device()).squeeze(0));
        h_diag_ = ys / dot(y, y);
      }
      const std::int64_t k = old_dirs_.defined() ? old_dirs_.size(0) : 0;
      std::vector<double> alpha(static_cast<std::size_t>(k)), ro(static_cast<std::size_t>(k));
      if (k > 0) ro = ro_.to(kFloat64).to(Device::cpu()).to_vector<double>();
      Tensor q = -g;
      for (std::int64_t i = k - 1; i >= 0; --i) {
        const auto u = static_cast<std::size_t>(i);
        alpha[u] = dot(old_steps_.select(0, i), q) * ro[u];
        q = q - old_dirs_.select(0, i) * alpha[u];
      }
      Tensor r = q * h_diag_;
      for (std::int64_t i = 0; i < k; ++i) {
        const auto u = static_cast<std::size_t>(i);
        const double beta = dot(old_dirs_.select(0, i), r) * ro[u];
        r = r + old_steps_.select(0, i) * (alpha[u] - beta);
      }
      d_ = r;
    }
    prev_flat_grad_ = g.clone();
    prev_loss_ = loss;
    // The step length: lr, the first time shortened to 1 / |g|_1 where that is less.
    t_ = n_iter_ == 1 ? std::min(1.0, 1.0 / sum(abs(g)).item()) * lr : lr;
    const double gtd = dot(g, d_);
    if (gtd > -options.tolerance_change) break;  // not a descent direction any more

    std::int64_t line_evals = 0;
    if (options.strong_wolfe) {
      std::vector<Tensor> start;
      for (const Tensor& p : groups_[0].params) start.push_back(p.clone());
      const auto loss_at = [&](double step) {
        add_to_params(step, d_);
        const double f = evaluate().item();
        Tensor grad = flat_grad();
        for (std::size_t i = 0; i < start.size(); ++i) groups_[0].params[i].copy_(start[i]);
        return std::pair<double, Tensor>{f, grad};
      };
      const LineSearchResult found = strong_wolfe(loss_at, t_, d_, loss, g, gtd, options.tolerance_change);
      t_ = found.best.t;
      loss = found.best.f;
      g = found.best.g;
      line_evals = found.evaluations;
      add_to_params(t_, d_);
    } else {
      add_to_params(t_, d_);
      if (n != options.max_iter) {  // the last iteration's loss is left to the next step
        loss = evaluate().item();
        g = flat_grad();
        line_evals = 1;
      }
    }
    evals += line_evals;
    func_evals_ += line_evals;
    if (n == options.max_iter || evals >= max_eval) break;
    if (abs_max(g) <= options.tolerance_grad) break;
    if (abs_max(d_ * t_) <= options.tolerance_change) break;
    if (std::fabs(loss - prev_loss_) < options.tolerance_change) break;
  }
  return first_loss;
}

StateDict LBFGS::state_dict() const {
  StateDict out = Optimizer::state_dict();
  const auto scalar = [](double v) { return scalar_tensor(v, kFloat64); };
  out["lbfgs.t"] = scalar(t_);
  out["lbfgs.h_diag"] = scalar(h_diag_);
  out["lbfgs.prev_loss"] = scalar(prev_loss_);
  out["lbfgs.n_iter"] = scalar(static_cast<double>(n_iter_));
  out["lbfgs.func_evals"] = scalar(static_cast<double>(func_evals_));
  for (const auto& [key, t] : {std::pair<const char*, const Tensor&>{"lbfgs.d", d_},
                               {"lbfgs.prev_flat_grad", prev_flat_grad_},
                               {"lbfgs.old_dirs", old_dirs_},
                               {"lbfgs.old_steps", old_steps_},
                               {"lbfgs.ro", ro_}})
    if (t.defined()) out[key] = t.clone();
  return out;
}

void LBFGS::load_state_dict(const StateDict& state) {
  const auto get = [&](const std::string& key) -> Tensor {
    const auto it = state.find(key);
    return it == state.end() ? Tensor() : it->second;
  };
  for (const char* key : {"lbfgs.t", "lbfgs.h_diag", "lbfgs.prev_loss", "lbfgs.n_iter", "lbfgs.func_evals"})
    KILN_CHECK(get(key).defined() && get(key).numel() == 1, "LBFGS.load_state_dict: missing key '", key,
               "' (was the state saved from an LBFGS optimizer?)");
  // Every vector has the parameters' n entries; the two histories agree in length.
  const Tensor d = get("lbfgs.d"), prev = get("lbfgs.prev_flat_grad");
  const Tensor dirs = get("lbfgs.old_dirs"), steps = get("lbfgs.old_steps"), ro = get("lbfgs.ro");
  for (const Tensor& v : {d, prev})
    KILN_CHECK(!v.defined() || v.shape() == Shape{numel_}, "LBFGS.load_state_dict: a vector of shape ",
               fmt(v.shape()), " for parameters of ", numel_, " entries");
  KILN_CHECK(dirs.defined() == steps.defined() && dirs.defined() == ro.defined(),
             "LBFGS.load_state_dict: the history (old_dirs, old_steps, ro) is incomplete");
  if (dirs.defined())
    KILN_CHECK(dirs.dim() == 2 && dirs.size(1) == numel_ && steps.shape() == dirs.shape() && ro.dim() == 1 &&
                   ro.size(0) == dirs.size(0),
               "LBFGS.load_state_dict: history of shapes ", fmt(dirs.shape()), ", ", fmt(steps.shape()),
               " and ", fmt(ro.shape()), " for parameters of ", numel_, " entries");
  Optimizer::load_state_dict(state);
  const Tensor& like = groups_[0].params[0];
  const auto on_device = [&](const Tensor& t) {
    return t.defined() ? t.to(like.dtype()).to(like.device()).clone() : Tensor();
  };
  d_ = on_device(d);
  prev_flat_grad_ = on_device(prev);
  old_dirs_ = on_device(dirs);
  old_steps_ = on_device(steps);
  ro_ = on_device(ro);
  t_ = get("lbfgs.t").item();
  h_diag_ = get("lbfgs.h_diag").item();
  prev_loss_ = get("lbfgs.prev_loss").item();
  n_iter_ = static_cast<std::int64_t>(get("lbfgs.n_iter").item());
  func_evals_ = static_cast<std::int64_t>(get("lbfgs.func_evals").item());
}

}  // namespace kiln::optim
