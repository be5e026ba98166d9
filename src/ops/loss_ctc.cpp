// Connectionist temporal classification (Graves et al. 2006), as
// torch.nn.functional.ctc_loss. Item b's targets l_1 .. l_L are extended with blanks,
// l' = (blank, l_1, blank, l_2, ..., l_L, blank), S = 2 L + 1 states; an alignment walks
// them in time, from state 0 or 1 to state S - 1 or S - 2, each step staying, moving one
// state on, or skipping a blank between two different labels. With
//   alpha_t(s) = lp[t, l'_s] + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2))
// (the last only where the skip is allowed), the loss is -log p = -logsumexp(alpha_{T-1}(S-1),
// alpha_{T-1}(S-2)). The CPU runs its own loops in double, forward (alpha) and backward
// (alpha and beta, recomputed); a GPU runs the recursion as tensor ops, one step at a time,
// where autograd derives the backward.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/loss.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/loss_reduction.hpp"

namespace kiln {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// The batch, read and checked once: every item's lengths and where its labels start in
// `labels` (all targets, concatenated).
struct CtcBatch {
  std::int64_t time = 0, batch = 0, classes = 0, blank = 0;
  std::vector<std::int64_t> input_lengths, target_lengths, offsets, labels;
  std::int64_t states(std::int64_t b) const { return 2 * target_lengths[static_cast<std::size_t>(b)] + 1; }
  // l'_s of item b: the blank at even s, label s / 2 at odd s.
  std::int64_t state_label(std::int64_t b, std::int64_t s) const {
    return s % 2 == 0 ? blank
                      : labels[static_cast<std::size_t>(offsets[static_cast<std::size_t>(b)] + s / 2)];
  }
  // May an alignment of item b reach state s from s - 2 (skipping the blank between)?
  bool may_skip(std::int64_t b, std::int64_t s) const {
    return s >= 2 && s % 2 == 1 && state_label(b, s) != state_label(b, s - 2);
  }
};

CtcBatch read_batch(const Tensor& log_probs, const Tensor& targets,
                    const std::vector<std::int64_t>& input_lengths,
                    const std::vector<std::int64_t>& target_lengths, std::int64_t blank) {
  constexpr const char* op = "ctc_loss";
  CtcBatch p;
  p.time = log_probs.size(0);
  p.batch = log_probs.size(1);
  p.classes = log_probs.size(2);
  p.blank = blank;
  const auto n = static_cast<std::size_t>(p.batch);
  KILN_CHECK(input_lengths.size() == n && target_lengths.size() == n, op, ": ", input_lengths.size(),
             " input lengths and ", target_lengths.size(), " target lengths for a batch of ", p.batch,
             " (log_probs of shape ", fmt(log_probs.shape()), "); give one of each per item");
  KILN_CHECK(blank >= 0 && blank < p.classes, op, ": blank = ", blank, " is not one of the ", p.classes,
             " classes of log_probs of shape ", fmt(log_probs.shape()));
  KILN_CHECK(targets.dtype() == kInt64 || targets.dtype() == kInt32, op,
             ": targets must be int64 or int32, got ", dtype_name(targets.dtype()));
  p.input_lengths = input_lengths;
  p.target_lengths = target_lengths;
  for (std::size_t b = 0; b < n; ++b) {
    KILN_CHECK(input_lengths[b] >= 1 && input_lengths[b] <= p.time, op, ": item ", b, "'s input length ",
               input_lengths[b], " must be in 1 .. ", p.time, " (log_probs of shape ", fmt(log_probs.shape()),
               ")");
    KILN_CHECK(target_lengths[b] >= 0, op, ": item ", b, "'s target length ", target_lengths[b],
               " is negative");
  }
  const std::vector<std::int64_t> all =
      targets.detach().to(Device::cpu()).to(kInt64).contiguous().to_vector<std::int64_t>();
  if (targets.dim() == 2) {  // (N, S_max), each row padded after its labels
    KILN_CHECK(targets.size(0) == p.batch, op, ": targets of shape ", fmt(targets.shape()),
               " for a batch of ", p.batch,
               "; give (N, S_max) or the labels concatenated (sum of the target lengths)");
    for (std::size_t b = 0; b < n; ++b) {
      KILN_CHECK(target_lengths[b] <= targets.size(1), op, ": item ", b, "'s target length ",
                 target_lengths[b], " is longer than the targets' rows, of shape ", fmt(targets.shape()));
      p.offsets.push_back(static_cast<std::int64_t>(p.labels.size()));
      const auto row =
          all.begin() + static_cast<std::ptrdiff_t>(static_cast<std::int64_t>(b) * targets.size(1));
      p.labels.insert(p.labels.end(), row, row + target_lengths[b]);
    }
  } else {
    KILN_CHECK(targets.dim() == 1, op, ": targets of shape ", fmt(targets.shape()),
               " must be (N, S_max) or one row of the labels concatenated");
    const std::int64_t total = std::accumulate(target_lengths.begin(), target_lengths.end(), std::int64_t{0});
    KILN_CHECK(total == targets.numel(), op, ": ", targets.numel(),
               " concatenated targets, but the target lengths add up to ", total);
    for (std::size_t b = 0; b < n; ++b)
      p.offsets.push_back(b == 0 ? 0 : p.offsets[b - 1] + target_lengths[b - 1]);
    p.labels = all;
  }
  for (std::size_t i = 0; i < p.labels.size(); ++i)
    KILN_CHECK(p.labels[i] >= 0 && p.labels[i] < p.classes && p.labels[i] != blank, op, ": target label ",
               p.labels[i], " must be a class in 0 .. ", p.classes - 1, " other than the blank, ", blank);
  return p;
}

// ---- The CPU loops ---------------------------------------------------------------------

// Item b's lattice: its steps, its states' labels l'_s, and where a state may be reached
// from two before.
struct Lattice {
  std::int64_t steps = 0, states = 0;
  std::vector<std::int64_t> label, classes;  // classes: the labels and the blank, once each
  std::vector<char> skip;
  Lattice(const CtcBatch& p, std::int64_t b)
      : steps(p.input_lengths[static_cast<std::size_t>(b)]), states(p.states(b)) {
    for (std::int64_t s = 0; s < states; ++s) {
      label.push_back(p.state_label(b, s));
      skip.push_back(p.may_skip(b, s) ? 1 : 0);
    }
    classes = label;
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  }
  // The states an alignment can be in at step t: it has had t + 1 steps to get there
  // (two states a step at most) and has steps - t - 1 left to reach the end.
  std::int64_t first(std::int64_t t) const { return std::max<std::int64_t>(0, states - 2 * (steps - t)); }
  std::int64_t end(std::int64_t t) const { return std::min<std::int64_t>(states, 2 * (t + 1)); }
};

// log(e^a + e^b + e^c), -inf where all three are.
double log_sum3(double a, double b, double c) {
  const double m = std::max(a, std::max(b, c));
  if (m == kNegInf) return kNegInf;
  return m + std::log(std::exp(a - m) + std::exp(b - m) + std::exp(c - m));
}

// In logs, for the items the scaled recursion below cannot take: alpha (steps x states,
// row-major) of item b, every entry written; returns log p (-inf where no alignment fits).
template <class T>
double forward_in_logs(const CtcBatch& p, std::int64_t b, const Lattice& l, const T* lp, double* alpha) {
  const std::int64_t states = l.states;
  const auto emission = [&](std::int64_t t) { return lp + (t * p.batch + b) * p.classes; };
  std::fill(alpha, alpha + l.steps * states, kNegInf);
  for (std::int64_t s = l.first(0); s < l.end(0); ++s)
    alpha[s] = static_cast<double>(emission(0)[l.label[static_cast<std::size_t>(s)]]);
  for (std::int64_t t = 1; t < l.steps; ++t) {
    const double* prev = alpha + (t - 1) * states;
    double* row = alpha + t * states;
    const T* y = emission(t);
    for (std::int64_t s = l.first(t); s < l.end(t); ++s) {
      const auto i = static_cast<std::size_t>(s);
      const double sum = log_sum3(prev[s], s >= 1 ? prev[s - 1] : kNegInf, l.skip[i] ? prev[s - 2] : kNegInf);
      row[s] = sum + static_cast<double>(y[l.label[i]]);
    }
  }
  const double* last = alpha + (l.steps - 1) * states;
  return states > 1 ? log_sum3(last[states - 1], last[states - 2], kNegInf) : last[0];
}

// Item b's gradient of log p, times `scale`, into grad (T, N, C) (zero elsewhere):
// d log p / d lp[t, c] is the sum over the states s labelled c of alpha_t(s) beta_t(s) /
// (p y_t(c)), each term the chance that an alignment is in state s at t (at most 1, so
// summed as it is). beta, the log-probability of the rest from state s at t with t's
// emission, runs backward one row at a time beside it. An item without any alignment
// gets no gradient.
template <class T>
void gradient_in_logs(const CtcBatch& p, std::int64_t b, const Lattice& l, const T* lp, const double* alpha,
                      double log_p, double scale, T* grad) {
  if (log_p == kNegInf || scale == 0.0) return;
  const std::int64_t states = l.states;
  std::vector<double> beta(static_cast<std::size_t>(states), kNegInf), next(beta.size());
  std::vector<double> sums(static_cast<std::size_t>(p.classes));
  for (std::int64_t t = l.steps - 1; t >= 0; --t) {
    const T* y = lp + (t * p.batch + b) * p.classes;
    std::swap(beta, next);
    std::fill(beta.begin(), beta.end(), kNegInf);
    for (std::int64_t s = l.first(t); s < l.end(t); ++s) {
      const auto i = static_cast<std::size_t>(s);
      const double rest = t == l.steps - 1
                              ? 0.0
                              : log_sum3(next[i], s + 1 < states ? next[i + 1] : kNegInf,
                                         s + 2 < states && l.skip[i + 2] ? next[i + 2] : kNegInf);
      beta[i] = rest + static_cast<double>(y[l.label[i]]);
    }
    std::fill(sums.begin(), sums.end(), 0.0);
    const double* a = alpha + t * states;
    for (std::int64_t s = l.first(t); s < l.end(t); ++s) {
      const auto i = static_cast<std::size_t>(s);
      const std::int64_t c = l.label[i];
      if (a[s] == kNegInf || beta[i] == kNegInf) continue;  // no path through it (y may be 0 too)
      sums[static_cast<std::size_t>(c)] += std::exp(a[s] + beta[i] - static_cast<double>(y[c]) - log_p);
    }
    T* out = grad + (t * p.batch + b) * p.classes;
    for (std::int64_t c = 0; c < p.classes; ++c)
      out[c] = static_cast<T>(scale * sums[static_cast<std::size_t>(c)]);
  }
}

// Step t's emissions as probabilities relative to the likeliest class the lattice uses,
// y[c] = e^(lp[t, c] - shift) for those classes; returns the shift (-inf or inf: none usable).
template <class T>
double relative_emissions(const Lattice& l, const T* row, std::vector<double>& y) {
  double shift = kNegInf;
  for (const std::int64_t c : l.classes) shift = std::max(shift, static_cast<double>(row[c]));
  if (!std::isfinite(shift)) return shift;
  for (const std::int64_t c : l.classes)
    y[static_cast<std::size_t>(c)] = std::exp(static_cast<double>(row[c]) - shift);
  return shift;
}

// alpha scaled to sum to 1 at each step (Rabiner's scaling): products and sums, one
// exponential per class a step, log p the sum of the scales' logs. Returns NaN where a
// step's sum underflows (no alignment, or one forced through emissions some 700 nats below
// the step's likeliest): the caller then works in logs.
template <class T>
double forward_scaled(const CtcBatch& p, std::int64_t b, const Lattice& l, const T* lp, double* alpha,
                      std::vector<double>& y) {
  const std::int64_t states = l.states;
  std::fill(alpha, alpha + l.steps * states, 0.0);
  double log_p = 0;
  for (std::int64_t t = 0; t < l.steps; ++t) {
    const double shift = relative_emissions(l, lp + (t * p.batch + b) * p.classes, y);
    if (!std::isfinite(shift)) return std::nan("");
    double* row = alpha + t * states;
    const double* prev = row - states;
    double total = 0;
    for (std::int64_t s = l.first(t); s < l.end(t); ++s) {
      const auto i = static_cast<std::size_t>(s);
      const double reach =
          t == 0 ? 1.0 : prev[s] + (s >= 1 ? prev[s - 1] : 0.0) + (l.skip[i] ? prev[s - 2] : 0.0);
      row[s] = reach * y[static_cast<std::size_t>(l.label[i])];
      total += row[s];
    }
    if (!(total >= std::numeric_limits<double>::min())) return std::nan("");
    for (std::int64_t s = l.first(t); s < l.end(t); ++s) row[s] /= total;
    log_p += std::log(total) + shift;
  }
  const double* last = alpha + (l.steps - 1) * states;
  const double ends = states > 1 ? last[states - 1] + last[states - 2] : last[0];
  return ends > 0 ? log_p + std::log(ends) : std::nan("");
}

// The gradient of log p from the scaled alpha, as gradient_in_logs, with beta scaled the
// same way: at each step, alpha_t(s) beta_t(s) / y_t(l'_s) is proportional to the chance of
// state s at t, and those chances add up to 1. Returns false where beta's sum underflows.
template <class T>
bool gradient_scaled(const CtcBatch& p, std::int64_t b, const Lattice& l, const T* lp, const double* alpha,
                     double scale, T* grad, std::vector<double>& y) {
  const std::int64_t states = l.states;
  std::vector<double> beta(static_cast<std::size_t>(states), 0.0), next(beta.size()), chance(beta.size());
  std::vector<double> sums(static_cast<std::size_t>(p.classes), 0.0);
  for (std::int64_t t = l.steps - 1; t >= 0; --t) {
    const T* row = lp + (t * p.batch + b) * p.classes;
    relative_emissions(l, row, y);
    std::swap(beta, next);
    std::fill(beta.begin(), beta.end(), 0.0);
    const double* a = alpha + t * states;
    double total = 0, occupied = 0;
    for (std::int64_t s = l.first(t); s < l.end(t); ++s) {
      const auto i = static_cast<std::size_t>(s);
      const double rest = t == l.steps - 1 ? 1.0
                                           : next[i] + (s + 1 < states ? next[i + 1] : 0.0) +
                                                 (s + 2 < states && l.skip[i + 2] ? next[i + 2] : 0.0);
      const double emission = y[static_cast<std::size_t>(l.label[i])];
      beta[i] = rest * emission;
      total += beta[i];
      chance[i] = emission > 0 ? a[s] * rest : 0.0;  // alpha beta / y, beta not yet scaled
      occupied += chance[i];
    }
    if (!(total >= std::numeric_limits<double>::min() && occupied > 0)) return false;
    for (const std::int64_t c : l.classes) sums[static_cast<std::size_t>(c)] = 0;
    for (std::int64_t s = l.first(t); s < l.end(t); ++s) {
      const auto i = static_cast<std::size_t>(s);
      beta[i] /= total;
      sums[static_cast<std::size_t>(l.label[i])] += chance[i] / occupied;
    }
    T* out = grad + (t * p.batch + b) * p.classes;
    for (const std::int64_t c : l.classes) out[c] = static_cast<T>(scale * sums[static_cast<std::size_t>(c)]);
  }
  return true;
}

Tensor log_likelihoods_composed(const Tensor& log_probs, const CtcBatch& p);

// Every item's log p, (N) in the input's dtype, with the CPU backward attached (alpha kept
// from the forward, scaled, or in logs for the items whose scaled recursion underflowed).
// While a walk records (create_graph), the rule is instead the gradient of the recursion
// as tensor ops (below), taken by a nested recorded grad(): derivatives of every order.
Tensor log_likelihoods_cpu(const Tensor& log_probs, const CtcBatch& p) {
  const Tensor lp = log_probs.detach().contiguous();
  std::vector<std::int64_t> at{0};  // where each item's alpha starts
  for (std::int64_t b = 0; b < p.batch; ++b)
    at.push_back(at.back() + p.input_lengths[static_cast<std::size_t>(b)] * p.states(b));
  auto alphas = std::make_shared<std::vector<double>>(static_cast<std::size_t>(at.back()));
  auto log_p = std::make_shared<std::vector<double>>(static_cast<std::size_t>(p.batch));
  auto in_logs = std::make_shared<std::vector<char>>(static_cast<std::size_t>(p.batch), 0);
  visit_floating(lp.dtype(), "ctc_loss", [&]<class T>() {
    parallel_for(0, p.batch, 1, [&](std::int64_t begin, std::int64_t end) {
      std::vector<double> y(static_cast<std::size_t>(p.classes));
      for (std::int64_t b = begin; b < end; ++b) {
        const auto i = static_cast<std::size_t>(b);
        const Lattice l(p, b);
        double* alpha = alphas->data() + at[i];
        (*log_p)[i] = forward_scaled(p, b, l, lp.data_ptr<T>(), alpha, y);
        if (!std::isnan((*log_p)[i])) continue;
        (*in_logs)[i] = 1;
        (*log_p)[i] = forward_in_logs(p, b, l, lp.data_ptr<T>(), alpha);
      }
    });
  });
  Tensor out = from_vector(*log_p, {p.batch}).to(lp.dtype());
  if (!should_record({log_probs})) return out;
  attach_grad_fn(out, "ctc_loss", {log_probs},
                 [p, log_probs, lp, at, alphas, log_p, in_logs](const Tensor& up) {
                   if (is_grad_enabled())
                     return composite_gradients(log_likelihoods_composed(log_probs, p), {log_probs}, up);
                   const std::vector<double> scale = up.to(kFloat64).contiguous().to_vector<double>();
                   Tensor grad = zeros(lp.shape(), lp.dtype());
                   visit_floating(lp.dtype(), "ctc_loss backward", [&]<class T>() {
                     parallel_for(0, p.batch, 1, [&](std::int64_t begin, std::int64_t end) {
                       std::vector<double> y(static_cast<std::size_t>(p.classes)), logs;
                       for (std::int64_t b = begin; b < end; ++b) {
                         const auto i = static_cast<std::size_t>(b);
                         const Lattice l(p, b);
                         const double* alpha = alphas->data() + at[i];
                         if (!(*in_logs)[i] && gradient_scaled<T>(p, b, l, lp.data_ptr<T>(), alpha, scale[i],
                                                                  grad.data_ptr<T>(), y))
                           continue;
                         if (!(*in_logs)[i]) {  // beta underflowed: alpha again, in logs
                           logs.resize(static_cast<std::size_t>(at[i + 1] - at[i]));
                           forward_in_logs(p, b, l, lp.data_ptr<T>(), logs.data());
                           alpha = logs.data();
                         }
                         gradient_in_logs<T>(p, b, l, lp.data_ptr<T>(), alpha, (*log_p)[i], scale[i],
                                             grad.data_ptr<T>());
                       }
                     });
                   });
                   return Grads{grad};
                 },
                 {lp});
  mark_differentiable_backward(out);
  return out;
}

// ---- The recursion as tensor ops (a GPU) ---------------------------------------------
// States past an item's end, and paths that cannot be, hold `kImpossible`, a finite stand-in
// for log 0: -inf would turn logaddexp's gradient into NaN (inf - inf), and no real path is
// anywhere near it.

constexpr double kImpossible = -1e30;

Tensor log_likelihoods_composed(const Tensor& log_probs, const CtcBatch& p) {
  std::int64_t most_states = 1;
  for (std::int64_t b = 0; b < p.batch; ++b) most_states = std::max(most_states, p.states(b));
  const std::int64_t s_max = most_states;
  std::vector<std::int64_t> labels, last_two;
  std::vector<double> valid, skip, start, has_second;
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t s = 0; s < s_max; ++s) {
      const bool inside = s < p.states(b);
      labels.push_back(inside ? p.state_label(b, s) : p.blank);
      valid.push_back(inside ? 1.0 : 0.0);
      skip.push_back(inside && p.may_skip(b, s) ? 1.0 : 0.0);
      start.push_back(inside && s < 2 ? 1.0 : 0.0);
    }
  for (std::int64_t b = 0; b < p.batch; ++b) {
    last_two.push_back(p.states(b) - 1);
    last_two.push_back(std::max<std::int64_t>(p.states(b) - 2, 0));
    has_second.push_back(p.states(b) > 1 ? 1.0 : 0.0);
  }
  const Device device = log_probs.device();
  const auto mask = [&](const std::vector<double>& v, const Shape& shape) {
    return from_vector(v, shape).to(device) != 0.0;
  };
  const Tensor is_valid = mask(valid, {p.batch, s_max}), may_skip = mask(skip, {p.batch, s_max});
  const Tensor label_index =
      from_vector(labels, {1, p.batch, s_max}).to(device).expand({p.time, p.batch, s_max}).contiguous();
  const Tensor emissions = gather(log_probs, 2, label_index);  // (T, N, S_max): lp[t, l'_s]
  Tensor alpha = where(mask(start, {p.batch, s_max}), emissions.select(0, 0), kImpossible);
  const std::int64_t longest = *std::max_element(p.input_lengths.begin(), p.input_lengths.end());
  const auto shifted = [&](const Tensor& a, std::int64_t by) {  // a[:, s - by], kImpossible before 0
    if (by >= s_max) return full_like(a, kImpossible);
    return pad(a.narrow(1, 0, s_max - by), {by, 0}, kImpossible);
  };
  // Which items are still running at each step, uploaded once: (longest, N, 1).
  std::vector<double> running;
  for (std::int64_t t = 0; t < longest; ++t)
    for (std::int64_t len : p.input_lengths) running.push_back(t < len ? 1.0 : 0.0);
  const Tensor is_running = mask(running, {longest, p.batch, 1});
  for (std::int64_t t = 1; t < longest; ++t) {
    const Tensor stay_or_step = logaddexp(alpha, shifted(alpha, 1));
    const Tensor reach = logaddexp(stay_or_step, where(may_skip, shifted(alpha, 2), kImpossible));
    const Tensor next = where(is_valid, reach + emissions.select(0, t), kImpossible);
    alpha = where(is_running.select(0, t), next, alpha);  // ended items keep their last step
  }
  const Tensor ends = gather(alpha, 1, from_vector(last_two, {p.batch, 2}).to(device));
  const Tensor second = where(mask(has_second, {p.batch}), ends.select(1, 1), kImpossible);
  return logaddexp(ends.select(1, 0), second);
}

}  // namespace

Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets,
                const std::vector<std::int64_t>& input_lengths,
                const std::vector<std::int64_t>& target_lengths, std::int64_t blank, Reduction reduction,
                bool zero_infinity) {
  constexpr const char* op = "ctc_loss";
  detail::check_floating(op, log_probs);
  KILN_CHECK(log_probs.dim() == 3 || log_probs.dim() == 2, op,
             ": log_probs must be (T, N, C) or (T, C), got shape ", fmt(log_probs.shape()));
  const bool unbatched = log_probs.dim() == 2;
  const Tensor lp = unbatched ? log_probs.unsqueeze(1) : log_probs;
  const Tensor tg = unbatched && targets.dim() == 1 ? targets.unsqueeze(0) : targets;
  const CtcBatch p = read_batch(lp, tg, input_lengths, target_lengths, blank);
  const Tensor log_p = lp.device().is_cpu() ? log_likelihoods_cpu(lp, p) : log_likelihoods_composed(lp, p);
  // An item with no alignment: log p = -inf on the CPU, kImpossible (or about) composed.
  const Tensor is_possible = log_p.detach() > kImpossible / 2;
  Tensor losses = where(is_possible, -log_p, zero_infinity ? 0.0 : std::numeric_limits<double>::infinity());
  if (unbatched) losses = losses.squeeze(0);
  if (reduction != Reduction::mean) return detail::reduce_loss(losses, reduction);
  // mean: each loss over its target length (at least 1), then the mean over the batch.
  std::vector<double> lengths;
  for (std::int64_t len : target_lengths)
    lengths.push_back(static_cast<double>(std::max<std::int64_t>(len, 1)));
  const Tensor per_label = from_vector(lengths, {p.batch}).to(lp.dtype()).to(lp.device());
  return mean(losses / (unbatched ? per_label.squeeze(0) : per_label));
}

}  // namespace kiln
