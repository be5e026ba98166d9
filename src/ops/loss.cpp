// Losses. cross_entropy is fused (its own kernel pass and backward);
// binary_cross_entropy_with_logits runs its composite's kernels chunk by chunk on
// the CPU (FusedBce) and in one kernel each way on a GPU; the others are composed
// from differentiable ops, so their gradients come for free.
#include "kiln/ops/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cuda/index_math.hpp"  // sum_scratch_slots
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/cuda/runtime.hpp"
#include "src/ops/indexing.hpp"
#include "src/ops/loss_reduction.hpp"

namespace kiln {

using detail::ptr;
using detail::reduce_loss;
using detail::Upstream;
using detail::upstream_values;

namespace {

// Targets are class indices (int64 or int32), one per sample.
void check_target_shape(const char* op, const Tensor& target, std::int64_t n) {
  KILN_CHECK(target.dtype() == kInt64 || target.dtype() == kInt32, op,
             ": targets must be class indices (int64 or int32) but are ", target.dtype());
  KILN_CHECK(target.dim() == 1 && target.size(0) == n, op, ": targets of shape ", fmt(target.shape()),
             " do not match ", n, " samples; expected shape (", n, ")");
}

// Class indices as int64, each checked to lie in [0, classes).
std::vector<std::int64_t> class_targets(const char* op, const Tensor& target, std::int64_t n,
                                        std::int64_t classes) {
  check_target_shape(op, target, n);
  std::vector<std::int64_t> t = target.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < t.size(); ++i)
    KILN_CHECK(t[i] >= 0 && t[i] < classes, op, ": target ", t[i], " of sample ", i,
               " is not a class index in [0, ", classes, ")");
  return t;
}

// What a loss's kernel found: targets out of range (as the CPU's message says).
std::string bad_target_message(const char* op, const cuda_kernels::IndexReport& found) {
  std::string m = detail::concat(op, ": target ", found.value, " of sample ", found.position,
                                 " is not a class index in [0, ", found.bound, ")");
  if (found.count > 1) m += detail::concat(" (nor are ", found.count - 1, " other targets)");
  return m;
}
std::string bad_cross_entropy_target(const cuda_kernels::IndexReport& found) {
  return bad_target_message("cross_entropy", found);
}
std::string bad_nll_loss_target(const cuda_kernels::IndexReport& found) {
  return bad_target_message("nll_loss", found);
}

// cross_entropy's gradient in recorded ops, for a backward pass that records
// (create_graph): (softmax - q) times the upstream coefficient, q = (1 - eps) onehot(t) +
// eps / C, softmax = exp(logp) with logp rebuilt as log_softmax(logits) of the graph.
Tensor recorded_cross_entropy_grad(const Tensor& logp_saved, const Tensor& targets, double eps,
                                   Reduction reduction, const Tensor& g) {
  const Tensor logp = intermediate_for_backward(logp_saved, "log_softmax", 0, [logp_saved](const Tensor& gl) {
    // d log_softmax: gl - softmax * sum(gl) along the classes
    const Tensor p = exp(output_for_backward(logp_saved));
    return Grads{sub(gl, mul(p, sum(gl, {1}, true)))};
  });
  const std::int64_t n = logp.size(0), c = logp.size(1);
  const Tensor classes = arange(c).to(logp.device()).unsqueeze(0);
  const Tensor q =
      add(mul(eq(classes, targets.unsqueeze(1)).to(logp.dtype()), detail::constant_like(logp, 1 - eps)),
          detail::constant_like(logp, eps / static_cast<double>(c)));
  const Tensor up = g.to(logp.dtype());
  const Tensor coef = reduction == Reduction::none ? up.reshape({n, 1})
                      : reduction == Reduction::mean
                          ? div(up, detail::constant_like(up, static_cast<double>(n)))
                          : up;
  return mul(sub(exp(logp), q), coef);
}

// cross_entropy with logits and targets on a GPU: the same formulas as below, as kernels.
Tensor cross_entropy_cuda(const Tensor& logits, const Tensor& target, Reduction reduction, double eps) {
  const char* op = "cross_entropy";
  KILN_CHECK(target.device() == logits.device(), op, ": logits on ", logits.device(), " but targets on ",
             target.device(), "; move the targets with .to(logits.device())");
  const std::int64_t n = logits.size(0), c = logits.size(1);
  check_target_shape(op, target, n);
  const Tensor t = detail::int64_index(target);
  const auto& k = detail::cuda_for(logits);
  const Tensor x = logits.detach().contiguous();
  Tensor logp = Tensor::empty({n, c}, logits.dtype(), logits.device());
  Tensor losses = Tensor::empty({n}, logits.dtype(), logits.device());
  const auto scalar = detail::cuda_scalar(logits.dtype(), op);
  // The kernel checks the targets; a bad one is an Error at the next copy to the host
  // (item(), to(cpu)), so the host never waits here.
  const std::int64_t slots = cuda_kernels::sum_scratch_slots(n, c, 1);  // few samples of many classes
  const Tensor scratch = slots > 0 ? Tensor::empty({3 * slots}, kFloat64, logits.device()) : Tensor();
  k.cross_entropy(scalar, n, c, detail::dptr(x), detail::dptr<std::int64_t>(t), eps, detail::dptr(logp),
                  detail::dptr(losses),
                  detail::cuda_report_slot(logits.device().index, bad_cross_entropy_target),
                  detail::dptr_or_null<double>(scratch));
  Tensor result = reduce_loss(losses.detach(), reduction);
  if (should_record({logits})) {
    attach_grad_fn(result, op, {logits},
                   [logp, t, eps, reduction, scalar](const Tensor& g) {
                     if (is_grad_enabled())
                       return Grads{recorded_cross_entropy_grad(logp, t, eps, reduction, g)};
                     const std::int64_t n2 = logp.size(0), c2 = logp.size(1);
                     const Tensor gc = g.to(logp.dtype()).contiguous();
                     Tensor gx = Tensor::empty({n2, c2}, logp.dtype(), logp.device());
                     const double scale = reduction == Reduction::mean ? 1.0 / static_cast<double>(n2) : 1.0;
                     detail::cuda_for(logp).cross_entropy_backward(
                         scalar, n2, c2, detail::dptr(logp), detail::dptr<std::int64_t>(t), eps,
                         detail::dptr(gc), reduction == Reduction::none, scale, detail::dptr(gx));
                     return Grads{gx};
                   },
                   {t});
    mark_differentiable_backward(result);
  }
  return result;
}

// cross_entropy and nll_loss with class weights or an ignored target, composed of
// log-probabilities `logp`, as PyTorch defines them: nll_i = -w[t_i] logp[i, t_i] (0 where
// ignored); mean = sum / sum of w[t_i] kept; the smoothing term -sum_c w[c] logp[i, c]
// reduced the same way and mixed in by eps / C.
Tensor weighted_class_loss(const char* op, const Tensor& logp, const Tensor& target, Reduction reduction,
                           double eps, const Tensor& weight, std::optional<std::int64_t> ignore_index) {
  const std::int64_t n = logp.size(0), c = logp.size(1);
  check_target_shape(op, target, n);
  if (weight.defined()) {
    detail::check_same_dtype_device(op, {logp, weight});
    KILN_CHECK(weight.dim() == 1 && weight.size(0) == c, op, ": weight of shape ", fmt(weight.shape()),
               " must be (", c, "), one per class");
  }
  std::vector<std::int64_t> t = target.to_vector<std::int64_t>();
  std::vector<double> kept(t.size(), 1.0);
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (ignore_index && t[i] == *ignore_index) {
      kept[i] = 0.0;
      t[i] = 0;  // any class: its term is multiplied by 0
      continue;
    }
    KILN_CHECK(t[i] >= 0 && t[i] < c, op, ": target ", t[i], " of sample ", i,
               " is not a class index in [0, ", c, ")",
               ignore_index ? detail::concat(" nor the ignore_index ", *ignore_index) : std::string());
  }
  const Device dev = logp.device();
  const Tensor classes = from_vector(t).to(dev);
  const Tensor keep = from_vector(kept).to(logp.dtype()).to(dev);
  const Tensor w = weight.defined() ? weight.detach() : ones({c}, logp.dtype(), dev);
  const Tensor wt = index_select(w, 0, classes) * keep;  // each sample's weight, 0 where ignored
  const Tensor nll = -(wt * gather(logp, 1, classes.unsqueeze(1)).squeeze(1));
  // Every target ignored: the mean is 0 / 0, NaN, with a zero gradient (as PyTorch's).
  const bool none_kept = std::find(kept.begin(), kept.end(), 1.0) == kept.end();
  const auto reduce_weighted = [&](const Tensor& per_sample) {
    if (reduction != Reduction::mean) return reduce_loss(per_sample, reduction);
    if (none_kept) return sum(per_sample) * 0.0 + std::numeric_limits<double>::quiet_NaN();
    return sum(per_sample) / sum(wt);
  };
  if (eps == 0) return reduce_weighted(nll);
  const Tensor smooth = -(sum(logp * w.unsqueeze(0), {1}) * keep);
  return reduce_weighted(nll) * (1 - eps) + reduce_weighted(smooth) * (eps / static_cast<double>(c));
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction, double label_smoothing,
                     const Tensor& weight, std::optional<std::int64_t> ignore_index) {
  detail::check_floating("cross_entropy", logits);
  KILN_CHECK(logits.dim() == 2, "cross_entropy: logits must be (N, C) but have shape ", fmt(logits.shape()));
  KILN_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy: label_smoothing ", label_smoothing,
             " must be in [0, 1]");
  if (weight.defined() || ignore_index)
    return weighted_class_loss("cross_entropy", log_softmax(logits, 1), target, reduction, label_smoothing,
                               weight, ignore_index);
  if (logits.device().is_cuda()) return cross_entropy_cuda(logits, target, reduction, label_smoothing);
  const std::int64_t n = logits.size(0), c = logits.size(1);
  const std::vector<std::int64_t> t = class_targets("cross_entropy", target, n, c);
  const Tensor x = logits.detach().contiguous();
  Tensor logp = Tensor::empty({n, c}, logits.dtype());
  Tensor losses = Tensor::empty({n}, logits.dtype());
  const double eps = label_smoothing;
  visit_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    const auto log_softmax_rows = cpu::kernels<T>().log_softmax_rows;
    T* lp = ptr<T>(logp);
    T* out = ptr<T>(losses);
    parallel_for(0, n, std::max<std::int64_t>(1, 8192 / std::max<std::int64_t>(c, 1)),
                 [&](std::int64_t b, std::int64_t e) {
                   log_softmax_rows(e - b, c, ptr<T>(x) + b * c, lp + b * c);
                   for (std::int64_t i = b; i < e; ++i) {
                     // loss_i = -(1 - eps) logp[i, t_i] - eps/C sum_j logp[i, j]
                     double row = 0;
                     if (eps > 0)
                       for (std::int64_t j = 0; j < c; ++j) row += lp[i * c + j];
                     out[i] = static_cast<T>(-(1 - eps) * lp[i * c + t[i]] - eps / c * row);
                   }
                 });
  });
  Tensor result = reduce_loss(losses.detach(), reduction);
  if (should_record({logits})) {
    // d loss_i / d logits[i, j] = softmax[i, j] - q[i, j],  q = (1 - eps) onehot(t_i) + eps / C
    attach_grad_fn(result, "cross_entropy", {logits}, [logp, t, eps, reduction](const Tensor& g) {
      if (is_grad_enabled())
        return Grads{recorded_cross_entropy_grad(logp, from_vector(t), eps, reduction, g)};
      const std::int64_t n2 = logp.size(0), c2 = logp.size(1);
      Tensor gx = Tensor::empty({n2, c2}, logp.dtype());
      const std::vector<double> gv = g.contiguous().to_vector<double>();
      visit_floating(logp.dtype(), "cross_entropy backward", [&]<class T>() {
        const T* lp = ptr<T>(logp);
        T* out = ptr<T>(gx);
        parallel_for(0, n2, std::max<std::int64_t>(1, 8192 / std::max<std::int64_t>(c2, 1)),
                     [&](std::int64_t b, std::int64_t e) {
                       for (std::int64_t i = b; i < e; ++i) {
                         const double coef = reduction == Reduction::none   ? gv[i]
                                             : reduction == Reduction::mean ? gv[0] / static_cast<double>(n2)
                                                                            : gv[0];
                         for (std::int64_t j = 0; j < c2; ++j) {
                           const double q = (j == t[i] ? 1 - eps : 0) + eps / c2;
                           out[i * c2 + j] = static_cast<T>(coef * (std::exp(double(lp[i * c2 + j])) - q));
                         }
                       }
                     });
      });
      return Grads{gx};
    });
    mark_differentiable_backward(result);
  }
  return result;
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction, const Tensor& weight,
                std::optional<std::int64_t> ignore_index) {
  KILN_CHECK(log_probs.dim() == 2, "nll_loss: log-probabilities must be (N, C) but have shape ",
             fmt(log_probs.shape()));
  if (weight.defined() || ignore_index)
    return weighted_class_loss("nll_loss", log_probs, target, reduction, 0.0, weight, ignore_index);
  // loss_i = -log_probs[i, t_i]
  if (log_probs.device().is_cuda() && target.device() == log_probs.device()) {
    // The kernel checks the targets (negative ones are bad); a bad one reads 0 and is an
    // Error at the next copy to the host.
    check_target_shape("nll_loss", target, log_probs.size(0));
    const Tensor picked = detail::gather_cuda(log_probs, 1, detail::int64_index(target).unsqueeze(1), false,
                                              bad_nll_loss_target);
    return reduce_loss(neg(picked.squeeze(1)), reduction);
  }
  class_targets("nll_loss", target, log_probs.size(0), log_probs.size(1));
  return reduce_loss(neg(gather(log_probs, 1, target.to(kInt64).unsqueeze(1)).squeeze(1)), reduction);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  detail::check_same_shape("mse_loss", input, target);
  const Tensor d = sub(input, target);
  return reduce_loss(mul(d, d), reduction);
}

Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target) {
  detail::check_same_shape("kl_div", input, target);
  detail::check_floating("kl_div", input);
  if (log_target) return reduce_loss(mul(exp(target), sub(target, input)), reduction);
  // log of 1 where target is 0, so that 0 log 0 counts as 0 with no NaN in either gradient
  // (a negative target gives NaN, as in PyTorch).
  const Tensor log_or_zero = log(where(eq(target, 0.0), 1.0, target));
  return reduce_loss(mul(target, sub(log_or_zero, input)), reduction);
}

namespace {
// |input - target|, checked: the shared start of the L1 family.
Tensor abs_difference(const char* op, const Tensor& input, const Tensor& target) {
  detail::check_same_shape(op, input, target);
  detail::check_floating(op, input);
  return abs(sub(input, target));
}

// 0.5 d^2 / beta below beta, d - 0.5 beta from there (d >= 0). The quadratic branch is
// fed min(d, beta), so the branch that where() discards stays finite and its zero
// gradient stays zero.
Tensor smooth_l1_of(const Tensor& d, double beta) {
  const Tensor near = clamp(d, 0.0, beta);
  return where(lt(d, scalar_like(d, beta)), mul(near, near) * (0.5 / beta), d - 0.5 * beta);
}

void check_threshold(const char* op, const char* name, double v) {
  KILN_CHECK(std::isfinite(v) && v >= 0, op, ": ", name, " must be finite and >= 0, not ", v);
}
}  // namespace

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return reduce_loss(abs_difference("l1_loss", input, target), reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  check_threshold("smooth_l1_loss", "beta", beta);
  const Tensor d = abs_difference("smooth_l1_loss", input, target);
  return reduce_loss(beta == 0 ? d : smooth_l1_of(d, beta), reduction);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  KILN_CHECK(std::isfinite(delta) && delta > 0, "huber_loss: delta must be finite and > 0, not ", delta);
  const Tensor d = abs_difference("huber_loss", input, target);
  return reduce_loss(smooth_l1_of(d, delta) * delta, reduction);
}

detail::Upstream detail::upstream_values(const Tensor& g_in, DType dtype) {
  const bool one_value = g_in.numel() > 0 && std::all_of(g_in.strides().begin(), g_in.strides().end(),
                                                         [](std::int64_t st) { return st == 0; });
  Tensor g = g_in;
  if (one_value)
    while (g.dim() > 0) g = g.select(0, 0);
  return {g.to(dtype).contiguous(), one_value ? 0 : 1};
}

namespace {

// Elements per cache-resident chunk of the fused loss below (five buffers of them).
constexpr std::int64_t kLossChunk = 2048;

// binary_cross_entropy_with_logits' per-element losses on the CPU,
//   loss = (1 - y) x + (1 + (w - 1) y) softplus(-x),
// with the composite's operations, kernel for kernel, run chunk by chunk in cache:
// each element gets exactly the composite's value and gradient, while x and y are
// read once per pass and no full-size temporaries are made or kept for backward.
// `w1` is pos_weight - 1 (one value, or one per element), or undefined for w = 1.
class FusedBce {
public:
  FusedBce(Tensor x, Tensor y, Tensor w1) : x_(std::move(x)), y_(std::move(y)), w1_(std::move(w1)) {}

  Tensor forward() const {
    Tensor out = Tensor::empty(x_.shape(), x_.dtype());
    visit_floating(x_.dtype(), "binary_cross_entropy_with_logits", [&]<class T>() {
      chunks<T>([&](const cpu::KernelTable<T>& k, std::int64_t o, std::int64_t n, T* const* buf) {
        T* a = buf[0];
        T* t1 = buf[1];
        T* nx = buf[2];
        T* sp = buf[3];
        T* t2 = buf[4];
        k.binary[int(cpu::Binary::sub)](n, &one<T>, 0, y<T>(o), 1, a);  // 1 - y
        k.binary[int(cpu::Binary::mul)](n, a, 1, x<T>(o), 1, t1);       // (1 - y) x
        k.unary[int(cpu::Unary::neg)](n, x<T>(o), nx);
        k.unary[int(cpu::Unary::softplus)](n, nx, sp);  // softplus(-x)
        if (weight_pos<T>(k, o, n, a))
          k.binary[int(cpu::Binary::mul)](n, a, 1, sp, 1, t2);  // a now holds 1 + (w-1) y
        else
          k.binary[int(cpu::Binary::mul)](n, &one<T>, 0, sp, 1, t2);
        k.binary[int(cpu::Binary::add)](n, t1, 1, t2, 1, ptr<T>(out) + o);
      });
    });
    return out;
  }

  // d loss / dx = g (1 - y) - softplus'(-x) g (1 + (w - 1) y), for g of x's shape
  // (contiguous, or one value broadcast).
  Tensor backward(const Tensor& g_in) const {
    const Upstream up = upstream_values(g_in, x_.dtype());
    const Tensor& g = up.values;
    const std::int64_t gs = up.stride;
    Tensor gx = Tensor::empty(x_.shape(), x_.dtype());
    visit_floating(x_.dtype(), "binary_cross_entropy_with_logits backward", [&]<class T>() {
      chunks<T>([&](const cpu::KernelTable<T>& k, std::int64_t o, std::int64_t n, T* const* buf) {
        const T* go = ptr<T>(g) + o * gs;
        T* a = buf[0];
        T* gx1 = buf[1];
        T* nx = buf[2];
        T* gsp = buf[3];
        T* gnx = buf[4];
        k.binary[int(cpu::Binary::sub)](n, &one<T>, 0, y<T>(o), 1, a);
        k.binary[int(cpu::Binary::mul)](n, go, gs, a, 1, gx1);  // through (1 - y) x
        if (weight_pos<T>(k, o, n, a))
          k.binary[int(cpu::Binary::mul)](n, go, gs, a, 1, gsp);
        else
          k.binary[int(cpu::Binary::mul)](n, go, gs, &one<T>, 0, gsp);
        k.unary[int(cpu::Unary::neg)](n, x<T>(o), nx);
        k.unary_grad[int(cpu::UnaryGrad::softplus)](n, nx, gsp, gnx);  // through softplus(-x)
        k.unary[int(cpu::Unary::neg)](n, gnx, gnx);                    // through -x
        k.binary[int(cpu::Binary::add)](n, gx1, 1, gnx, 1, ptr<T>(gx) + o);
      });
    });
    return gx;
  }

private:
  template <class T>
  static constexpr T one = T(1);

  template <class T>
  const T* x(std::int64_t o) const {
    return ptr<T>(x_) + o;
  }
  template <class T>
  const T* y(std::int64_t o) const {
    return ptr<T>(y_) + o;
  }

  // Writes 1 + (w - 1) y into `a` and says true, or says false where w = 1.
  template <class T>
  bool weight_pos(const cpu::KernelTable<T>& k, std::int64_t o, std::int64_t n, T* a) const {
    if (!w1_.defined()) return false;
    const bool one_value = w1_.numel() == 1;
    k.binary[int(cpu::Binary::mul)](n, ptr<T>(w1_) + (one_value ? 0 : o), one_value ? 0 : 1, y<T>(o), 1, a);
    k.binary[int(cpu::Binary::add)](n, &one<T>, 0, a, 1, a);
    return true;
  }

  // Runs body(kernels, offset, count, buffers) over the elements in chunks of
  // kLossChunk, in parallel, each thread with its own five buffers.
  template <class T, class Body>
  void chunks(Body body) const {
    const auto& k = cpu::kernels<T>();
    parallel_for(0, x_.numel(), 8 * kLossChunk, [&](std::int64_t b, std::int64_t e) {
      std::vector<T> storage(static_cast<std::size_t>(5 * kLossChunk));
      T* buf[5];
      for (int i = 0; i < 5; ++i) buf[i] = storage.data() + i * kLossChunk;
      for (std::int64_t o = b; o < e; o += kLossChunk) body(k, o, std::min(kLossChunk, e - o), buf);
    });
  }

  Tensor x_, y_, w1_;
};

// While a walk records (create_graph): the gradient of (1 - y) x + (1 + (w - 1) y) softplus(-x)
// in recorded ops of the logits x, (1 - y) - (1 + (w - 1) y) sigmoid(-x), times g. w_minus_1
// is pos_weight - 1 (undefined for none).
Tensor bce_with_logits_recorded_grad(const Tensor& g, const Tensor& logits, const Tensor& y,
                                     const Tensor& w_minus_1) {
  const Tensor one_minus_y = 1.0 - y;
  const Tensor positive = w_minus_1.defined() ? w_minus_1 * y + 1.0 : detail::constant_like(y, 1.0);
  return g * (one_minus_y - positive * sigmoid(neg(logits)));
}

// The same losses on a GPU: one kernel forward, one backward (loss.cu), reading
// pos_weight `w` (one value, or one per element; undefined for 1) as it is.
Tensor bce_with_logits_cuda(const Tensor& logits, const Tensor& target, const Tensor& pos_weight) {
  const char* op = "binary_cross_entropy_with_logits";
  const Tensor x = logits.detach().contiguous(), y = target.detach().contiguous();
  const Tensor w = pos_weight.defined() ? pos_weight.detach().contiguous() : Tensor();
  const std::int64_t w_stride = w.defined() && w.numel() > 1 ? 1 : 0;
  const auto scalar = detail::cuda_scalar(x.dtype(), op);
  Tensor losses = Tensor::empty(x.shape(), x.dtype(), x.device());
  detail::cuda_for(x).bce_with_logits(scalar, x.numel(), detail::dptr(x), detail::dptr(y),
                                      w.defined() ? detail::dptr(w) : nullptr, w_stride,
                                      detail::dptr(losses));
  if (should_record({logits})) {
    attach_grad_fn(losses, op, {logits},
                   [logits, x, y, w, w_stride, scalar](const Tensor& g_in) {
                     if (is_grad_enabled())
                       return Grads{
                           bce_with_logits_recorded_grad(g_in, logits, y, w.defined() ? w - 1.0 : Tensor())};
                     const Upstream up = upstream_values(g_in, x.dtype());
                     Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
                     detail::cuda_for(x).bce_with_logits_backward(
                         scalar, x.numel(), detail::dptr(x), detail::dptr(y),
                         w.defined() ? detail::dptr(w) : nullptr, w_stride, detail::dptr(up.values),
                         up.stride, detail::dptr(gx));
                     return Grads{gx};
                   },
                   {x, y, w});
    mark_differentiable_backward(losses);
  }
  return losses;
}

}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, const Tensor& pos_weight,
                                        Reduction reduction) {
  KILN_CHECK(logits.shape() == target.shape(), "binary_cross_entropy_with_logits: logits of shape ",
             fmt(logits.shape()), " and targets of shape ", fmt(target.shape()), " differ; they must match");
  // -[w y log s(x) + (1-y) log(1 - s(x))] = (1 - y) x + (1 + (w - 1) y) softplus(-x)
  // When only the logits may need a gradient, this runs fused: on the CPU FusedBce
  // computes exactly the composite's values chunk by chunk (tests/test_nn_ops.cpp holds
  // it to the composite); on a GPU one kernel each way does.
  const Device dev = logits.device();
  const bool fusable =
      is_floating(logits.dtype()) && target.dtype() == logits.dtype() && target.device() == dev &&
      !target.requires_grad() &&
      (!pos_weight.defined() ||
       (pos_weight.dtype() == logits.dtype() && pos_weight.device() == dev && !pos_weight.requires_grad() &&
        ((pos_weight.numel() == 1 && pos_weight.dim() <= logits.dim()) ||
         pos_weight.shape() == logits.shape())));
  if (fusable && dev.is_cuda())
    return reduce_loss(bce_with_logits_cuda(logits, target, pos_weight), reduction);
  if (fusable) {
    Tensor w1;
    if (pos_weight.defined()) {
      NoGradGuard no_grad;
      w1 = sub(pos_weight, detail::constant_like(pos_weight, 1.0)).contiguous();
    }
    const Tensor x = logits.detach().contiguous(), y = target.detach().contiguous();
    const auto fused = std::make_shared<FusedBce>(x, y, w1);
    Tensor losses = fused->forward();
    if (should_record({logits})) {
      attach_grad_fn(losses, "binary_cross_entropy_with_logits", {logits},
                     [fused, logits, y, w1](const Tensor& g) {
                       return Grads{is_grad_enabled() ? bce_with_logits_recorded_grad(g, logits, y, w1)
                                                      : fused->backward(g)};
                     },
                     {x, y});
      mark_differentiable_backward(losses);
    }
    return reduce_loss(losses, reduction);
  }
  const Tensor one_minus_y = sub(detail::constant_like(target, 1.0), target);
  Tensor weight_pos = detail::constant_like(target, 1.0);
  if (pos_weight.defined())
    weight_pos = add(weight_pos, mul(sub(pos_weight, detail::constant_like(pos_weight, 1.0)), target));
  return reduce_loss(add(mul(one_minus_y, logits), mul(weight_pos, softplus(neg(logits)))), reduction);
}

}  // namespace kiln
