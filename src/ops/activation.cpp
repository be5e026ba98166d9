// Activation functions: forward kernel, then the backward rule next to it.
#include "kiln/ops/activation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/ops/unary_engine.hpp"

namespace kiln {

using cpu::Unary;
using cpu::UnaryGrad;
using detail::ptr;

namespace detail {

Tensor unary_forward(Unary op, const char* name, const Tensor& x) {
  check_floating(name, x);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cuda()) {
    cuda_for(x).unary(op, cuda_scalar(x.dtype(), name), out.numel(), dptr(xc), dptr(out));
    return out;
  }
  visit_floating(x.dtype(), name, [&]<class T>() {
    const auto fn = cpu::kernels<T>().unary[int(op)];
    const T* in = ptr<T>(xc);
    T* o = ptr<T>(out);
    parallel_for(0, out.numel(), kElementwiseGrain,
                 [&](std::int64_t b, std::int64_t e) { fn(e - b, in + b, o + b); });
  });
  return out;
}

Tensor unary_grad(UnaryGrad op, const Tensor& saved, const Tensor& g) {
  const Tensor s = saved.contiguous(), gc = g.to(saved.dtype()).contiguous();
  Tensor out = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
  check_same_dtype_device("backward", {s, gc});
  if (s.device().is_cuda()) {
    cuda_for(s).unary_grad(op, cuda_scalar(s.dtype(), "backward"), out.numel(), dptr(s), dptr(gc), dptr(out));
    return out;
  }
  visit_floating(saved.dtype(), "backward", [&]<class T>() {
    const auto fn = cpu::kernels<T>().unary_grad[int(op)];
    const T* ps = ptr<T>(s);
    const T* pg = ptr<T>(gc);
    T* o = ptr<T>(out);
    parallel_for(0, out.numel(), kElementwiseGrain,
                 [&](std::int64_t b, std::int64_t e) { fn(e - b, ps + b, pg + b, o + b); });
  });
  return out;
}

}  // namespace detail

namespace {

const char* backward_name(UnaryGrad op) {
  switch (op) {
    case UnaryGrad::relu:
      return "relu backward";
    case UnaryGrad::sigmoid:
      return "sigmoid backward";
    case UnaryGrad::tanh:
      return "tanh backward";
    case UnaryGrad::gelu:
      return "gelu backward";
    case UnaryGrad::softplus:
      return "softplus backward";
    case UnaryGrad::silu:
      return "silu backward";
    default:
      break;
  }
  return "activation backward";
}

// g times the slope of f'(v) in v, in recorded ops, where the rule g f'(v) reads v = x, or
// v = y for sigmoid and tanh (whose derivatives are written in their outputs); undefined for
// relu, whose f' is piecewise constant.
Tensor recorded_slope_of_derivative(UnaryGrad op, const Tensor& v, const Tensor& g) {
  const auto c = [&](double value) { return detail::constant_like(v, value); };
  switch (op) {
    case UnaryGrad::relu:
      return Tensor();
    case UnaryGrad::sigmoid:  // d/dy y (1 - y) = 1 - 2 y
      return mul(g, sub(c(1.0), mul(v, c(2.0))));
    case UnaryGrad::tanh:  // d/dy (1 - y^2) = -2 y
      return mul(g, mul(v, c(-2.0)));
    case UnaryGrad::gelu: {  // d/dx (Phi(x) + x phi(x)) = phi(x) (2 - x^2)
      const Tensor square = mul(v, v);
      const Tensor pdf =
          mul(exp(mul(square, c(-0.5))), c(0.5 * std::numbers::inv_sqrtpi * std::numbers::sqrt2));
      return mul(g, mul(pdf, sub(c(2.0), square)));
    }
    case UnaryGrad::softplus: {  // d/dx sigmoid(x) = s (1 - s)
      const Tensor sv = sigmoid(v);
      return mul(g, mul(sv, sub(c(1.0), sv)));
    }
    case UnaryGrad::silu: {  // d/dx s (1 + x (1 - s)) = s (1 - s) (2 + x (1 - 2 s))
      const Tensor sv = sigmoid(v);
      return mul(g, mul(mul(sv, sub(c(1.0), sv)), add(c(2.0), mul(v, sub(c(1.0), mul(sv, c(2.0)))))));
    }
    default:
      break;
  }
  throw Error("activation backward: no second derivative for this activation");
}

// g f'(v) by the activation's backward kernel. While a walk records (create_graph) it is one
// node whose own rule is this again (for g) and g times the slope of f' (for v), so an
// activation is differentiated to any order with one kernel per rule, as in the plain walk.
Tensor activation_backward(UnaryGrad op, const Tensor& v, const Tensor& g) {
  Tensor out;
  {
    NoGradGuard plain;
    out = detail::unary_grad(op, v, g);
  }
  if (should_record({g, v})) {
    attach_grad_fn(
        out, backward_name(op), {g, v},
        [op, v, g](const Tensor& gg) {
          return Grads{activation_backward(op, v, gg), recorded_slope_of_derivative(op, v, mul(gg, g))};
        },
        {g, v});
    mark_differentiable_backward(out);
  }
  return out;
}

// An activation whose derivative is a kernel of its input (`from_output`
// false) or of its output (true).
Tensor activation(Unary op, UnaryGrad grad_op, const char* name, const Tensor& x, bool from_output) {
  Tensor out = detail::unary_forward(op, name, x);
  if (should_record({x})) {
    attach_grad_fn(
        out, name, {x},
        [saved = from_output ? out.detach() : x, from_output, grad_op](const Tensor& g) {
          if (is_grad_enabled())  // recording: one node, itself differentiable
            return Grads{activation_backward(grad_op, from_output ? output_for_backward(saved) : saved, g)};
          return Grads{detail::unary_grad(grad_op, saved, g)};
        },
        {from_output ? out : x});
    mark_differentiable_backward(out);
  }
  return out;
}
}  // namespace

// d/dx relu(x) = 1[x > 0]
Tensor relu(const Tensor& x) { return activation(Unary::relu, UnaryGrad::relu, "relu", x, false); }
// d/dx sigmoid(x) = s (1 - s), s = sigmoid(x)
Tensor sigmoid(const Tensor& x) { return activation(Unary::sigmoid, UnaryGrad::sigmoid, "sigmoid", x, true); }
// d/dx tanh(x) = 1 - tanh(x)^2
Tensor tanh(const Tensor& x) { return activation(Unary::tanh, UnaryGrad::tanh, "tanh", x, true); }
// d/dx x Phi(x) = Phi(x) + x phi(x)
Tensor gelu(const Tensor& x) { return activation(Unary::gelu, UnaryGrad::gelu, "gelu", x, false); }
// d/dx log(1 + e^x) = sigmoid(x)
Tensor softplus(const Tensor& x) {
  return activation(Unary::softplus, UnaryGrad::softplus, "softplus", x, false);
}
// d/dx x sigmoid(x) = s (1 + x (1 - s)), s = sigmoid(x)
Tensor silu(const Tensor& x) { return activation(Unary::silu, UnaryGrad::silu, "silu", x, false); }

Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  if (approximate == GeluApproximation::none) return gelu(x);
  detail::check_floating("gelu", x);
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}
Tensor mish(const Tensor& x) { return x * tanh(softplus(x)); }
Tensor hardsigmoid(const Tensor& x) { return clamp(x * (1.0 / 6.0) + 0.5, 0.0, 1.0); }
Tensor hardswish(const Tensor& x) { return x * hardsigmoid(x); }
Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  KILN_CHECK(min_val <= max_val, "hardtanh: min_val ", min_val, " must not exceed max_val ", max_val);
  return clamp(x, min_val, max_val);
}
Tensor relu6(const Tensor& x) { return clamp(x, 0.0, 6.0); }

namespace {
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
}  // namespace

Tensor selu(const Tensor& x) { return elu(x, kSeluAlpha) * kSeluScale; }

Tensor celu(const Tensor& x, double alpha) {
  KILN_CHECK(alpha != 0, "celu: alpha must not be 0");
  return alpha == 1.0 ? elu(x) : elu(x / alpha) * alpha;  // x for x > 0; alpha (e^(x/alpha) - 1) below
}

Tensor glu(const Tensor& x, std::int64_t dim) {
  KILN_CHECK(x.dim() >= 1, "glu: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t d = dim < 0 ? dim + x.dim() : dim;
  KILN_CHECK(d >= 0 && d < x.dim(), "glu: dimension ", dim, " is out of range for shape ", fmt(x.shape()));
  const std::int64_t half = x.size(d) / 2;
  KILN_CHECK(x.size(d) % 2 == 0, "glu: dimension ", d, " of shape ", fmt(x.shape()),
             " must have an even size, to split into halves");
  return x.narrow(d, 0, half) * sigmoid(x.narrow(d, half, half));
}

Tensor logsigmoid(const Tensor& x) { return -softplus(-x); }
Tensor softsign(const Tensor& x) { return x / (abs(x) + 1.0); }
Tensor tanhshrink(const Tensor& x) { return x - tanh(x); }

Tensor softshrink(const Tensor& x, double lambd) {
  KILN_CHECK(lambd >= 0, "softshrink: lambd must be >= 0, not ", lambd);
  return where(x > lambd, x - lambd, where(x < -lambd, x + lambd, 0.0));
}

Tensor hardshrink(const Tensor& x, double lambd) { return where(abs(x) > lambd, x, 0.0); }

Tensor threshold(const Tensor& x, double threshold, double value) { return where(x > threshold, x, value); }

Tensor softmin(const Tensor& x, std::int64_t dim) { return softmax(-x, dim); }

Tensor gumbel_softmax(const Tensor& logits, double tau, bool hard, std::int64_t dim) {
  detail::check_floating("gumbel_softmax", logits);
  KILN_CHECK(tau > 0 && std::isfinite(tau), "gumbel_softmax: tau must be a finite number > 0, got ", tau);
  // -log(E), E ~ Exponential(1) as -log(1 - U): U = 0 gives E = 0, kept above 0 so that the
  // noise stays finite.
  const Tensor u = rand(logits.shape(), logits.dtype(), logits.device());
  const double tiny = logits.dtype() == kFloat32 ? 1e-30 : 1e-300;
  const Tensor gumbel = -log(clamp(-log1p(-u), tiny, std::numeric_limits<double>::infinity()));
  const Tensor soft = softmax((logits + gumbel) / tau, dim);
  if (!hard) return soft;
  const Tensor one_hot = scatter(zeros_like(soft), dim, argmax(soft, dim, /*keepdim=*/true), 1.0);
  return one_hot - soft.detach() + soft;
}

// The slope broadcast along dimension 1: w viewed as (C, 1, ..., 1) for x (N, C, ...).
// where() sends the gradient to x where x > 0, and to w x elsewhere: x's gradient w g
// there, w's the sum of x g (PyTorch's rules, 0 itself on the sloped side).
Tensor prelu(const Tensor& x, const Tensor& weight) {
  detail::check_floating("prelu", x);
  const bool one = weight.numel() == 1, per_channel = x.dim() >= 2 && weight.numel() == x.size(1);
  KILN_CHECK(weight.dim() <= 1 && (one || per_channel), "prelu: weight of shape ", fmt(weight.shape()),
             " for input of shape ", fmt(x.shape()), "; give one slope, or one per channel (",
             x.dim() >= 2 ? x.size(1) : 1, ") along dimension 1");
  Shape slope_shape(static_cast<std::size_t>(std::max<std::int64_t>(x.dim() - 1, 0)), 1);
  if (!slope_shape.empty()) slope_shape[0] = weight.numel();
  const Tensor slope = weight.reshape(slope_shape);
  return where(x > 0.0, x, slope * x);
}

namespace {
// Activations with one parameter: on the CPU the kernels `pick` chooses from the table
// (forward, backward), each taking (x, param); on a GPU the table's `op`.

// g * f'(x; param) from the saved, contiguous x.
template <class Pick>
Tensor activation_with_grad(const char* name, cuda_kernels::ParamActivation op, const Tensor& xc,
                            double param, Pick pick, const Tensor& g) {
  const Tensor gc = g.to(xc.dtype()).contiguous();
  detail::check_same_dtype_device("backward", {xc, gc});
  Tensor gx = Tensor::empty(xc.shape(), xc.dtype(), xc.device());
  if (xc.device().is_cuda()) {
    detail::cuda_for(xc).param_activation_grad(op, detail::cuda_scalar(xc.dtype(), name), gx.numel(),
                                               detail::dptr(xc), param, detail::dptr(gc), detail::dptr(gx));
    return gx;
  }
  visit_floating(xc.dtype(), name, [&]<class T>() {
    const auto fn = pick(cpu::kernels<T>()).second;
    parallel_for(0, gx.numel(), kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
      fn(e - b, ptr<T>(xc) + b, static_cast<T>(param), ptr<T>(gc) + b, ptr<T>(gx) + b);
    });
  });
  return gx;
}

// g f'(x; param) by the backward kernel. While a walk records (create_graph) it is one node
// whose own rule is this again (for g) and g times f''(x) (for x): 0 for leaky_relu, alpha
// e^x at or below 0 for elu; as activation_backward does for the others.
template <class Pick>
Tensor param_activation_backward(const char* name, cuda_kernels::ParamActivation op, const Tensor& x,
                                 double param, Pick pick, const Tensor& g) {
  Tensor out;
  {
    NoGradGuard plain;
    out = activation_with_grad(name, op, x.detach().contiguous(), param, pick, g);
  }
  if (should_record({g, x})) {
    const bool leaky = op == cuda_kernels::ParamActivation::leaky_relu;
    attach_grad_fn(out, leaky ? "leaky_relu backward" : "elu backward", {g, x},
                   [=](const Tensor& gg) {
                     Tensor gx;  // leaky_relu's f' is piecewise constant: no gradient
                     if (!leaky) {
                       const Tensor below = mul(mul(gg, g), mul(exp(x), detail::constant_like(x, param)));
                       gx = where(gt(x, detail::constant_like(x, 0.0)), detail::constant_like(x, 0.0), below);
                     }
                     return Grads{param_activation_backward(name, op, x, param, pick, gg), gx};
                   },
                   {g, x});
    mark_differentiable_backward(out);
  }
  return out;
}

// f(x; param), recorded with x saved for the backward.
template <class Pick>
Tensor activation_with(const char* name, cuda_kernels::ParamActivation op, const Tensor& x, double param,
                       Pick pick) {
  detail::check_floating(name, x);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cuda()) {
    detail::cuda_for(x).param_activation(op, detail::cuda_scalar(x.dtype(), name), out.numel(),
                                         detail::dptr(xc), param, detail::dptr(out));
  } else {
    visit_floating(x.dtype(), name, [&]<class T>() {
      const auto fn = pick(cpu::kernels<T>()).first;
      const T* in = ptr<T>(xc);
      T* o = ptr<T>(out);
      parallel_for(0, out.numel(), kElementwiseGrain,
                   [&](std::int64_t b, std::int64_t e) { fn(e - b, in + b, static_cast<T>(param), o + b); });
    });
  }
  if (should_record({x})) {
    attach_grad_fn(out, name, {x},
                   [=](const Tensor& g) {
                     if (is_grad_enabled())  // recording (create_graph): one node, itself differentiable
                       return Grads{param_activation_backward(name, op, x, param, pick, g)};
                     return Grads{activation_with_grad(name, op, xc, param, pick, g)};
                   },
                   {xc});
    mark_differentiable_backward(out);
  }
  return out;
}
}  // namespace

// d/dx leaky_relu(x) = 1 for x > 0, else the slope
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return activation_with("leaky_relu", cuda_kernels::ParamActivation::leaky_relu, x, negative_slope,
                         [](const auto& k) { return std::make_pair(k.leaky_relu, k.leaky_relu_grad); });
}

// x for x > 0, alpha (e^x - 1) = alpha expm1(x) otherwise (expm1 keeps small negative x
// exact: e^x - 1 would round -1e-8 to 0 in float32); d/dx = 1 above 0, alpha e^x at or
// below.
Tensor elu(const Tensor& x, double alpha) {
  return activation_with("elu", cuda_kernels::ParamActivation::elu, x, alpha,
                         [](const auto& k) { return std::make_pair(k.elu, k.elu_grad); });
}

Tensor rrelu(const Tensor& x, double lower, double upper, bool training) {
  detail::check_floating("rrelu", x);
  KILN_CHECK(lower <= upper && std::isfinite(lower) && std::isfinite(upper), "rrelu: lower ", lower,
             " must not exceed upper ", upper);
  if (!training) return where(x >= 0.0, x, x * ((lower + upper) / 2));
  const Tensor slope = rand(x.shape(), x.dtype(), x.device()) * (upper - lower) + lower;
  return where(x >= 0.0, x, x * slope);
}

}  // namespace kiln
