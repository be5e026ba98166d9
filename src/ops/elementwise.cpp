// Elementwise arithmetic, unary math, comparisons, where, masked_fill, tril and triu.
// Each op: the forward (a kernel over broadcast strides), then its backward rule.
#include "kiln/ops/elementwise.hpp"

#include <cmath>
#include <limits>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/ref/ref_kernels.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/strided_loop.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/ops/unary_engine.hpp"

namespace kiln {

namespace detail {

Strides broadcast_strides(const Tensor& t, const Shape& shape) {
  Strides s(shape.size(), 0);
  const std::size_t lead = shape.size() - t.shape().size();
  for (std::size_t d = 0; d < t.shape().size(); ++d)
    s[lead + d] = t.shape()[d] == shape[lead + d] ? t.strides()[d] : 0;
  return s;
}

void check_same_dtype_device(const char* op, std::initializer_list<Tensor> tensors) {
  const Tensor& first = *tensors.begin();
  for (const Tensor& t : tensors) {
    KILN_CHECK(t.dtype() == first.dtype(), op, ": dtypes ", first.dtype(), " and ", t.dtype(),
               " differ (shapes ", fmt(first.shape()), " and ", fmt(t.shape()),
               "); convert one with .to(dtype)");
    KILN_CHECK(t.device() == first.device(), op, ": tensors on ", first.device(), " and ", t.device(),
               "; move them to one device with .to(device)");
  }
}

void check_floating(const char* op, const Tensor& t) {
  KILN_CHECK(is_floating(t.dtype()), op, ": expected a floating tensor but got ", t.dtype(), " of shape ",
             fmt(t.shape()), "; convert with .to(kiln::kFloat32)");
}

}  // namespace detail

using cpu::Binary;
using detail::binary_forward;
using detail::ptr;

namespace {

template <class T>
typename cpu::KernelTable<T>::BinaryFn integer_binary(Binary op, const char* name) {
  switch (op) {
    case Binary::add:
      return cpu::ref::add<T>;
    case Binary::sub:
      return cpu::ref::sub<T>;
    case Binary::mul:
      return cpu::ref::mul<T>;
    case Binary::maximum:
      return cpu::ref::maximum<T>;
    case Binary::minimum:
      return cpu::ref::minimum<T>;
    case Binary::floor_divide:
      return cpu::ref::floor_quotient<T>;
    case Binary::div:  // toward zero: div(a, b, Rounding::trunc); div(a, b) promotes first
      return cpu::ref::truncated_quotient<T>;
    case Binary::pow:
      return cpu::ref::integer_power<T>;
    case Binary::fmod:
      return cpu::ref::truncated_remainder<T>;
    case Binary::remainder:
      return cpu::ref::floored_remainder<T>;
    case Binary::bitwise_and:
      return cpu::ref::bitwise_and<T>;
    case Binary::bitwise_or:
      return cpu::ref::bitwise_or<T>;
    case Binary::bitwise_xor:
      return cpu::ref::bitwise_xor<T>;
    case Binary::shift_left:
      return cpu::ref::shift_left<T>;
    case Binary::shift_right:
      return cpu::ref::shift_right<T>;
    case Binary::gcd:
      return cpu::ref::gcd<T>;
    case Binary::lcm:
      return cpu::ref::lcm<T>;
    default:
      throw Error(detail::concat(name,
                                 ": not defined for integer tensors; convert to a floating "
                                 "dtype with .to(kiln::kFloat32) first"));
  }
}

// out = a (op) b, with a and b broadcast to out's shape; no autograd.
void binary_kernel(Binary op, const char* name, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Shape& shape = out.shape();
  const Strides sa = detail::broadcast_strides(a, shape), sb = detail::broadcast_strides(b, shape);
  if (out.device().is_cuda()) {
    if (!is_floating(a.dtype())) integer_binary<std::int64_t>(op, name);  // same rule as on the CPU
    detail::cuda_for(out).binary(op, detail::cuda_scalar(a.dtype(), name),
                                 detail::cuda_loop(shape, {&out.strides(), &sa, &sb}, name),
                                 detail::dptr(out), detail::dptr(a), detail::dptr(b));
    return;
  }
  visit_dtype(a.dtype(), [&]<class T>() {
    typename cpu::KernelTable<T>::BinaryFn fn;
    if constexpr (std::is_floating_point_v<T>)
      fn = cpu::kernels<T>().binary[int(op)];
    else
      fn = integer_binary<T>(op, name);
    T* o = ptr<T>(out);
    const T* pa = ptr<T>(a);
    const T* pb = ptr<T>(b);
    const auto plan = detail::make_loop_plan<3>(shape, {&out.strides(), &sa, &sb});
    for_each_run(plan, kElementwiseGrain, [&](const auto& off, std::int64_t n, const auto& st) {
      fn(n, pa + off[1], st[1], pb + off[2], st[2], o + off[0]);
    });
  });
}

// self = self (op) b with no temporary, where that is safe: self is dense (each
// element written once), b broadcasts to self's shape, and b is self itself (each
// element read where it is written) or shares none of its memory. False otherwise.
bool binary_in_place(Binary op, const char* name, const Tensor& self, const Tensor& b) {
  if (self.dtype() != b.dtype() || self.device() != b.device() || !self.is_contiguous()) return false;
  const bool same_view =
      b.offset() == self.offset() && b.shape() == self.shape() && b.strides() == self.strides();
  if (b.shares_storage(self) && !same_view) return false;
  if (broadcast_shapes(self.shape(), b.shape(), name) != self.shape()) return false;
  binary_kernel(op, name, self, self, b);
  return true;
}

// A comparison mask (uint8) over the broadcast shape.
template <class Cmp>
Tensor compare(const char* name, cuda_kernels::Compare code, const Tensor& a, const Tensor& b, Cmp cmp) {
  detail::check_same_dtype_device(name, {a, b});
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, kUInt8, a.device());
  const Strides sa = detail::broadcast_strides(a, shape), sb = detail::broadcast_strides(b, shape);
  if (out.device().is_cuda()) {
    detail::cuda_for(out).compare(code, detail::cuda_scalar(a.dtype(), name),
                                  detail::cuda_loop(shape, {&out.strides(), &sa, &sb}, name),
                                  detail::dptr<std::uint8_t>(out), detail::dptr(a), detail::dptr(b));
    return out;
  }
  visit_dtype(a.dtype(), [&]<class T>() {
    std::uint8_t* o = ptr<std::uint8_t>(out);
    const T* pa = ptr<T>(a);
    const T* pb = ptr<T>(b);
    const auto plan = detail::make_loop_plan<3>(shape, {&out.strides(), &sa, &sb});
    for_each_run(plan, kElementwiseGrain, [&](const auto& off, std::int64_t n, const auto& st) {
      std::uint8_t* out_run = o + off[0];
      const T* x = pa + off[1];
      const T* y = pb + off[2];
      // the output is dense (a new tensor); each operand a run or one number: vector code
      if (detail::with_unit_strides(st[1], st[2], [&](auto sx, auto sy) {
            for (std::int64_t i = 0; i < n; ++i) out_run[i] = cmp(x[i * sx], y[i * sy]) ? 1 : 0;
          }))
        return;
      for (std::int64_t i = 0; i < n; ++i) out_run[i * st[0]] = cmp(x[i * st[1]], y[i * st[2]]) ? 1 : 0;
    });
  });
  return out;
}

// The gradient for input `x` if it needs one, else an undefined tensor.
template <class F>
Tensor grad_if(bool needed, F f) {
  return needed ? f() : Tensor();
}

Tensor zero_like_scalar(const Tensor& t) { return detail::constant_like(t, 0.0); }

}  // namespace

Tensor detail::binary_forward(Binary op, const char* name, const Tensor& a, const Tensor& b) {
  detail::check_same_dtype_device(name, {a, b});
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.dtype(), a.device());
  binary_kernel(op, name, out, a, b);
  return out;
}

bool detail::add_in_place(const Tensor& self, const Tensor& other) {
  return binary_in_place(Binary::add, "add", self, other);
}
bool detail::sub_in_place(const Tensor& self, const Tensor& other) {
  return binary_in_place(Binary::sub, "sub", self, other);
}
bool detail::mul_in_place(const Tensor& self, const Tensor& other) {
  return binary_in_place(Binary::mul, "mul", self, other);
}
bool detail::div_in_place(const Tensor& self, const Tensor& other) {
  return is_floating(self.dtype()) && binary_in_place(Binary::div, "div", self, other);
}

Tensor scalar_like(const Tensor& t, double value) { return scalar_tensor(value, t.dtype(), t.device()); }

bool detail::is_whole_number(double s) { return std::isfinite(s) && s == std::trunc(s); }
Tensor detail::operand_for(const Tensor& t, double s) {
  return is_floating(t.dtype()) || is_whole_number(s) ? t : t.to(kFloat32);
}

namespace {
using detail::operand_for;
// Division is true division: an integer t is divided in float32 whatever the number.
Tensor dividend_for(const Tensor& t) { return is_floating(t.dtype()) ? t : t.to(kFloat32); }
}  // namespace

Tensor operator+(const Tensor& a, double s) {
  const Tensor x = operand_for(a, s);
  return add(x, detail::constant_like(x, s));
}
Tensor operator-(const Tensor& a, double s) {
  const Tensor x = operand_for(a, s);
  return sub(x, detail::constant_like(x, s));
}
Tensor operator*(const Tensor& a, double s) {
  const Tensor x = operand_for(a, s);
  return mul(x, detail::constant_like(x, s));
}
Tensor operator/(const Tensor& a, double s) {
  const Tensor x = dividend_for(a);
  return div(x, detail::constant_like(x, s));
}
Tensor operator+(double s, const Tensor& b) {
  const Tensor x = operand_for(b, s);
  return add(detail::constant_like(x, s), x);
}
Tensor operator-(double s, const Tensor& b) {
  const Tensor x = operand_for(b, s);
  return sub(detail::constant_like(x, s), x);
}
Tensor operator*(double s, const Tensor& b) {
  const Tensor x = operand_for(b, s);
  return mul(detail::constant_like(x, s), x);
}
Tensor operator/(double s, const Tensor& b) {
  const Tensor x = dividend_for(b);
  return div(detail::constant_like(x, s), x);
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const std::int64_t lead = t.dim() - static_cast<std::int64_t>(shape.size());
  KILN_CHECK(lead >= 0, "sum_to: cannot reduce shape ", fmt(t.shape()), " to the larger ", fmt(shape));
  Dims dims;
  for (std::int64_t d = 0; d < t.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && t.shape()[d] != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? t : sum(t, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

// --- Binary arithmetic --------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(Binary::add, "add", a, b);
  if (should_record({a, b})) {
    // d(a+b)/da = 1, d(a+b)/db = 1; broadcast dimensions sum back.
    attach_grad_fn(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return Grads{sum_to(g, sa), sum_to(g, sb)};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(Binary::sub, "sub", a, b);
  if (should_record({a, b})) {
    // d(a-b)/da = 1, d(a-b)/db = -1
    attach_grad_fn(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return Grads{sum_to(g, sa), sum_to(neg(g), sb)};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(Binary::mul, "mul", a, b);
  if (should_record({a, b})) {
    // d(ab)/da = b, d(ab)/db = a
    const bool na = a.requires_grad(), nb = b.requires_grad();
    attach_grad_fn(out, "mul", {a, b},
                   [a, b, na, nb](const Tensor& g) {
                     return Grads{grad_if(na, [&] { return sum_to(mul(g, b), a.shape()); }),
                                  grad_if(nb, [&] { return sum_to(mul(g, a), b.shape()); })};
                   },
                   {nb ? a : Tensor(), na ? b : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  detail::check_same_dtype_device("div", {a, b});
  // True division: integers are divided in float32, as PyTorch does (7 / 2 is 3.5).
  if (!is_floating(a.dtype())) return div(a.to(kFloat32), b.to(kFloat32));
  Tensor out = binary_forward(Binary::div, "div", a, b);
  if (should_record({a, b})) {
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -(a/b)/b
    const bool na = a.requires_grad(), nb = b.requires_grad();
    attach_grad_fn(out, "div", {a, b},
                   [sa = a.shape(), b, od = out.detach(), na, nb](const Tensor& g) {
                     return Grads{grad_if(na, [&] { return sum_to(div(g, b), sa); }), grad_if(nb, [&] {
                                    return sum_to(neg(mul(g, div(output_for_backward(od), b))), b.shape());
                                  })};
                   },
                   {b, nb ? out : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  Tensor out = binary_forward(Binary::pow, "pow", base, exponent);
  if (should_record({base, exponent})) {
    // d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
    const bool na = base.requires_grad(), nb = exponent.requires_grad();
    attach_grad_fn(
        out, "pow", {base, exponent},
        [base, exponent, od = out.detach(), na, nb](const Tensor& g) {
          const Tensor& a = base;
          const Tensor& b = exponent;
          return Grads{
              grad_if(na,
                      [&] {
                        return sum_to(mul(g, mul(b, pow(a, sub(b, detail::constant_like(b, 1.0))))),
                                      a.shape());
                      }),
              grad_if(nb, [&] { return sum_to(mul(g, mul(output_for_backward(od), log(a))), b.shape()); })};
        },
        {base, na ? exponent : Tensor(), nb ? out : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor pow(const Tensor& base, double exponent) {
  const Tensor x = detail::operand_for(base, exponent);
  KILN_CHECK(is_floating(x.dtype()) || exponent >= 0, "pow: an integer tensor (", x.dtype(), " of shape ",
             fmt(x.shape()), ") to the negative power ", exponent,
             " is not an integer; convert it with .to(kiln::kFloat32) first");
  return pow(x, detail::constant_like(x, exponent));
}

namespace {
// maximum / minimum: the gradient goes to the operand that was picked (a on ties).
Tensor extreme(Binary op, const char* name, const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(op, name, a, b);
  if (should_record({a, b})) {
    const bool is_max = op == Binary::maximum;
    attach_grad_fn(out, name, {a, b},
                   [ad = a.detach(), bd = b.detach(), is_max](const Tensor& g) {
                     const Tensor pick_a = is_max ? ge(ad, bd) : le(ad, bd);
                     const Tensor zero = zero_like_scalar(g);
                     return Grads{sum_to(where(pick_a, g, zero), ad.shape()),
                                  sum_to(where(pick_a, zero, g), bd.shape())};
                   },
                   {a, b});
    mark_differentiable_backward(out);
  }
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extreme(Binary::maximum, "maximum", a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extreme(Binary::minimum, "minimum", a, b); }

// --- Unary math ---------------------------------------------------------------

Tensor neg(const Tensor& x) {
  if (!is_floating(x.dtype())) return sub(zero_like_scalar(x), x);
  Tensor out = detail::unary_forward(cpu::Unary::neg, "neg", x);
  if (should_record({x})) {
    attach_grad_fn(out, "neg", {x}, [](const Tensor& g) { return Grads{neg(g)}; });  // d(-x) = -1
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = detail::unary_forward(cpu::Unary::exp, "exp", x);
  if (should_record({x})) {  // d/dx e^x = e^x
    attach_grad_fn(out, "exp", {x},
                   [od = out.detach()](const Tensor& g) { return Grads{mul(g, output_for_backward(od))}; },
                   {out});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = detail::unary_forward(cpu::Unary::log, "log", x);
  if (should_record({x})) {  // d/dx log x = 1/x
    attach_grad_fn(out, "log", {x}, [x](const Tensor& g) { return Grads{div(g, x)}; }, {x});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = detail::unary_forward(cpu::Unary::sqrt, "sqrt", x);
  if (should_record({x})) {  // d/dx sqrt x = 1 / (2 sqrt x)
    attach_grad_fn(out, "sqrt", {x},
                   [od = out.detach()](const Tensor& g) {
                     return Grads{div(g, mul(output_for_backward(od), detail::constant_like(od, 2.0)))};
                   },
                   {out});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor abs(const Tensor& x) {
  // Integers: max(x, -x) (the lowest signed value wraps to itself, as in PyTorch); uint8 a copy.
  if (!is_floating(x.dtype())) return x.dtype() == kUInt8 ? x.clone() : maximum(x, neg(x));
  Tensor out = detail::unary_forward(cpu::Unary::abs, "abs", x);
  if (should_record({x})) {
    // d/dx |x| = sign(x) = [x > 0] - [x < 0]
    attach_grad_fn(out, "abs", {x},
                   [xd = x.detach()](const Tensor& g) {
                     const Tensor zero = zero_like_scalar(xd);
                     const Tensor sign = sub(gt(xd, zero).to(xd.dtype()), lt(xd, zero).to(xd.dtype()));
                     return Grads{mul(g, sign)};
                   },
                   {x});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor sin(const Tensor& x) {
  Tensor out = detail::unary_forward(cpu::Unary::sin, "sin", x);
  if (should_record({x})) {  // d/dx sin x = cos x
    attach_grad_fn(out, "sin", {x}, [x](const Tensor& g) { return Grads{mul(g, cos(x))}; }, {x});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor cos(const Tensor& x) {
  Tensor out = detail::unary_forward(cpu::Unary::cos, "cos", x);
  if (should_record({x})) {  // d/dx cos x = -sin x
    attach_grad_fn(out, "cos", {x}, [x](const Tensor& g) { return Grads{neg(mul(g, sin(x)))}; }, {x});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor log1p(const Tensor& x) {
  Tensor out = detail::unary_forward(cpu::Unary::log1p, "log1p", x);
  if (should_record({x})) {  // d/dx log(1 + x) = 1 / (1 + x)
    attach_grad_fn(out, "log1p", {x},
                   [x](const Tensor& g) { return Grads{div(g, add(x, detail::constant_like(x, 1.0)))}; },
                   {x});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor expm1(const Tensor& x) {
  Tensor out = detail::unary_forward(cpu::Unary::expm1, "expm1", x);
  if (should_record({x})) {  // d/dx (e^x - 1) = e^x = out + 1
    attach_grad_fn(out, "expm1", {x},
                   [od = out.detach()](const Tensor& g) {
                     return Grads{mul(g, add(output_for_backward(od), detail::constant_like(od, 1.0)))};
                   },
                   {out});
    mark_differentiable_backward(out);
  }
  return out;
}

namespace {
// sign, floor, ceil, round: piecewise constant, so their gradient is 0 wherever it
// exists; as in PyTorch they pass a zero gradient on instead of cutting the graph.
Tensor piecewise_constant(cpu::Unary op, const char* name, const Tensor& x) {
  Tensor out = detail::unary_forward(op, name, x);
  if (should_record({x})) {
    attach_grad_fn(out, name, {x}, [](const Tensor& g) { return Grads{zeros_like(g)}; });
    mark_differentiable_backward(out);
  }
  return out;
}
}  // namespace

Tensor sign(const Tensor& x) {
  if (!is_floating(x.dtype())) {  // integers: [x > 0] - [x < 0] in x's dtype
    const Tensor positive = gt(x, 0.0).to(x.dtype());
    return x.dtype() == kUInt8 ? positive : sub(positive, lt(x, 0.0).to(x.dtype()));
  }
  return piecewise_constant(cpu::Unary::sign, "sign", x);
}
Tensor floor(const Tensor& x) { return piecewise_constant(cpu::Unary::floor, "floor", x); }
Tensor ceil(const Tensor& x) { return piecewise_constant(cpu::Unary::ceil, "ceil", x); }
Tensor round(const Tensor& x) { return piecewise_constant(cpu::Unary::round, "round", x); }

Tensor clamp(const Tensor& x, double lo, double hi) {
  KILN_CHECK(!(lo > hi), "clamp: lower bound ", lo, " is above upper bound ", hi);
  if (!is_floating(x.dtype())) {
    // Integers keep their dtype for whole-number bounds (each must fit it) and for the
    // infinite bound on either side, which leaves that side open (clamp(i, 0, INFINITY));
    // any other bound clamps x in float32, as PyTorch promotes.
    const bool open_below = lo == -INFINITY, open_above = hi == INFINITY;
    if (!(open_below || detail::is_whole_number(lo)) || !(open_above || detail::is_whole_number(hi)))
      return clamp(x.to(kFloat32), lo, hi);
    Tensor out = x;
    if (!open_below) {
      detail::check_value_fits("clamp", lo, x.dtype());
      out = maximum(out, detail::constant_like(x, lo));
    }
    if (!open_above) {
      detail::check_value_fits("clamp", hi, x.dtype());
      out = minimum(out, detail::constant_like(x, hi));
    }
    return open_below && open_above ? x.clone() : out;
  }
  detail::check_floating("clamp", x);
  if (x.device().is_cuda()) {  // composed on the GPU: the same values and gradient (1 inside [lo, hi])
    const Tensor l = detail::constant_like(x, lo), h = detail::constant_like(x, hi);
    return where(lt(x, l), l, where(gt(x, h), h, x));
  }
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  visit_floating(x.dtype(), "clamp", [&]<class T>() {
    const auto fn = cpu::kernels<T>().clamp;
    const T* in = ptr<T>(xc);
    T* o = ptr<T>(out);
    parallel_for(0, out.numel(), kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
      fn(e - b, in + b, static_cast<T>(lo), static_cast<T>(hi), o + b);
    });
  });
  if (should_record({x})) {
    // d/dx clamp(x) = 1 inside [lo, hi], 0 where clipped
    attach_grad_fn(out, "clamp", {x},
                   [xd = x.detach(), lo, hi](const Tensor& g) {
                     const Tensor inside =
                         mul(ge(xd, detail::constant_like(xd, lo)), le(xd, detail::constant_like(xd, hi)));
                     return Grads{where(inside, g, zero_like_scalar(g))};
                   },
                   {x});
    mark_differentiable_backward(out);
  }
  return out;
}

// --- Comparisons and where ------------------------------------------------------

Tensor eq(const Tensor& a, const Tensor& b) {
  return compare("eq", cuda_kernels::Compare::eq, a, b, [](auto u, auto v) { return u == v; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare("ne", cuda_kernels::Compare::ne, a, b, [](auto u, auto v) { return u != v; });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return compare("lt", cuda_kernels::Compare::lt, a, b, [](auto u, auto v) { return u < v; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare("le", cuda_kernels::Compare::le, a, b, [](auto u, auto v) { return u <= v; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare("gt", cuda_kernels::Compare::gt, a, b, [](auto u, auto v) { return u > v; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare("ge", cuda_kernels::Compare::ge, a, b, [](auto u, auto v) { return u >= v; });
}

namespace {
// x `op` s for a number s. Floating x: s in x's dtype. Integer x: s's exact value, by
// moving s to the integer that gives the same answer (x > 1.5 is x > 1, x >= 1.5 is
// x >= 2), or to a constant mask where no integer of x's dtype can be equal to it.
Tensor compare_scalar(const char* name, cuda_kernels::Compare code, const Tensor& x, double s) {
  using C = cuda_kernels::Compare;
  const auto with = [&](double v) {
    const Tensor c = detail::constant_like(x, v);
    switch (code) {
      case C::eq:
        return eq(x, c);
      case C::ne:
        return ne(x, c);
      case C::lt:
        return lt(x, c);
      case C::le:
        return le(x, c);
      case C::gt:
        return gt(x, c);
      case C::ge:
        return ge(x, c);
    }
    KILN_ASSERT(false);
    return Tensor();
  };
  KILN_CHECK(x.defined(), name, ": the tensor is undefined");
  if (is_floating(x.dtype())) return with(s);
  const auto constant = [&](bool v) { return full(x.shape(), v ? 1.0 : 0.0, kUInt8, x.device()); };
  if (std::isnan(s)) return constant(code == C::ne);
  // The integer that decides: floor(s) for > and <=, ceil(s) for >= and <; for == and !=,
  // s itself when it is an integer.
  const bool integral = s == std::floor(s);
  if ((code == C::eq || code == C::ne) && !integral) return constant(code == C::ne);
  const double t = (code == C::gt || code == C::le) ? std::floor(s) : std::ceil(s);
  double lo = 0, above = 0;  // the dtype's range is [lo, above)
  visit_dtype(x.dtype(), [&]<class T>() {
    lo = static_cast<double>(std::numeric_limits<T>::min());
    above = static_cast<double>(std::numeric_limits<T>::max()) + 1;  // int64: rounds to 2^63, the bound
  });
  if (t >= lo && t < above) return with(t);
  // t beyond every value of x: below (every x is greater) or above (every x is smaller).
  const bool x_greater = t < lo;
  switch (code) {
    case C::eq:
      return constant(false);
    case C::ne:
      return constant(true);
    case C::gt:
    case C::ge:
      return constant(x_greater);
    case C::lt:
    case C::le:
      return constant(!x_greater);
  }
  KILN_ASSERT(false);
  return Tensor();
}
}  // namespace

Tensor eq(const Tensor& x, double s) { return compare_scalar("eq", cuda_kernels::Compare::eq, x, s); }
Tensor ne(const Tensor& x, double s) { return compare_scalar("ne", cuda_kernels::Compare::ne, x, s); }
Tensor lt(const Tensor& x, double s) { return compare_scalar("lt", cuda_kernels::Compare::lt, x, s); }
Tensor le(const Tensor& x, double s) { return compare_scalar("le", cuda_kernels::Compare::le, x, s); }
Tensor gt(const Tensor& x, double s) { return compare_scalar("gt", cuda_kernels::Compare::gt, x, s); }
Tensor ge(const Tensor& x, double s) { return compare_scalar("ge", cuda_kernels::Compare::ge, x, s); }

namespace {
void check_mask(const char* op, const Tensor& mask) {
  KILN_CHECK(mask.dtype() == kUInt8, op, ": the mask must be uint8 (as comparisons return) but is ",
             mask.dtype(), "; build it with kiln::gt/lt/eq... or .to(kiln::kUInt8)");
}
}  // namespace

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  check_mask("where", mask);
  detail::check_same_dtype_device("where", {a, b});
  KILN_CHECK(mask.device() == a.device(), "where: mask on ", mask.device(), ", values on ", a.device());
  const Shape shape =
      broadcast_shapes(broadcast_shapes(mask.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  const Strides sm = detail::broadcast_strides(mask, shape), sa = detail::broadcast_strides(a, shape),
                sb = detail::broadcast_strides(b, shape);
  if (out.device().is_cuda())
    detail::cuda_for(out).where(detail::cuda_scalar(a.dtype(), "where"),
                                detail::cuda_loop(shape, {&out.strides(), &sm, &sa, &sb}, "where"),
                                detail::dptr(out), detail::dptr<std::uint8_t>(mask), detail::dptr(a),
                                detail::dptr(b));
  else
    visit_dtype(a.dtype(), [&]<class T>() {
      T* o = ptr<T>(out);
      const std::uint8_t* pm = ptr<std::uint8_t>(mask);
      const T* pa = ptr<T>(a);
      const T* pb = ptr<T>(b);
      const auto plan = detail::make_loop_plan<4>(shape, {&out.strides(), &sm, &sa, &sb});
      for_each_run(plan, kElementwiseGrain, [&](const auto& off, std::int64_t n, const auto& st) {
        T* out_run = o + off[0];
        const std::uint8_t* m = pm + off[1];
        const T* x = pa + off[2];
        const T* y = pb + off[3];
        // The output is dense (a new tensor). With a dense mask and each value a run or one
        // number, both values are read and one kept: a select without a branch, in vectors
        // (a branch on a random mask mispredicts half the time).
        if (st[1] == 1 && detail::with_unit_strides(st[2], st[3], [&](auto sx, auto sy) {
              for (std::int64_t i = 0; i < n; ++i) {
                const T u = x[i * sx], v = y[i * sy];
                out_run[i] = m[i] ? u : v;
              }
            }))
          return;
        for (std::int64_t i = 0; i < n; ++i) out_run[i * st[0]] = m[i * st[1]] ? x[i * st[2]] : y[i * st[3]];
      });
    });
  if (should_record({a, b})) {
    // d/da where(m, a, b) = m, d/db = 1 - m
    attach_grad_fn(out, "where", {a, b},
                   [md = mask.detach(), sa = a.shape(), sb = b.shape()](const Tensor& g) {
                     const Tensor zero = zero_like_scalar(g);
                     return Grads{sum_to(where(md, g, zero), sa), sum_to(where(md, zero, g), sb)};
                   },
                   {mask});
    mark_differentiable_backward(out);
  }
  return out;
}

// Composed of comparisons, so they run wherever x lives: NaN is the one value unequal
// to itself, and x - x is 0 exactly for the finite values (NaN for ±inf and NaN).
namespace {
// The truth of each element (nonzero: NaN too, not -0) as a 0/1 mask, after checking that
// a and b meet on one device and broadcast together (so errors name `op`).
Tensor truth(const Tensor& x) { return ne(x.detach(), 0.0); }
void check_logical(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.device() == b.device(), op, ": a on ", a.device(), ", b on ", b.device(),
             "; move one with .to(device)");
  broadcast_shapes(a.shape(), b.shape(), op);
}
}  // namespace

Tensor logical_and(const Tensor& a, const Tensor& b) {
  check_logical("logical_and", a, b);
  return mul(truth(a), truth(b));
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  check_logical("logical_or", a, b);
  return ne(add(truth(a), truth(b)), 0.0);
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  check_logical("logical_xor", a, b);
  return ne(truth(a), truth(b));
}
Tensor logical_not(const Tensor& x) { return eq(x.detach(), 0.0); }

Tensor isnan(const Tensor& x) {
  const Tensor v = x.detach();
  return is_floating(v.dtype()) ? ne(v, v) : zeros(v.shape(), kUInt8).to(v.device());
}
Tensor isinf(const Tensor& x) {
  const Tensor v = x.detach();
  return is_floating(v.dtype()) ? eq(abs(v), detail::constant_like(v, INFINITY))
                                : zeros(v.shape(), kUInt8).to(v.device());
}
Tensor isfinite(const Tensor& x) {
  const Tensor v = x.detach();
  return is_floating(v.dtype()) ? eq(sub(v, v), zero_like_scalar(v)) : ones(v.shape(), kUInt8).to(v.device());
}

Tensor where(const Tensor& mask, const Tensor& a, double b) {
  const Tensor x = detail::operand_for(a, b);
  return where(mask, x, detail::constant_like(x, b));
}
Tensor where(const Tensor& mask, double a, const Tensor& b) {
  const Tensor x = detail::operand_for(b, a);
  return where(mask, detail::constant_like(x, a), x);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_mask("masked_fill", mask);
  KILN_CHECK(broadcast_shapes(mask.shape(), x.shape(), "masked_fill") == x.shape(),
             "masked_fill: the mask's shape ", fmt(mask.shape()), " does not broadcast to x's shape ",
             fmt(x.shape()), " (it may have fewer or size-1 dimensions, never more or larger)");
  return where(mask, detail::constant_like(x, value), x);
}

namespace {
// The lower (tril) or upper (triu) triangle of the last two dimensions: one (rows, cols)
// mask, made on the host and broadcast over the batch by where(), whose backward passes
// the gradient inside the triangle and 0 outside.
Tensor triangle(const char* op, const Tensor& x, std::int64_t diagonal, bool lower) {
  KILN_CHECK(x.dim() >= 2, op, ": needs a matrix or a batch of matrices (2 or more dimensions), got shape ",
             fmt(x.shape()));
  const std::int64_t rows = x.size(-2), cols = x.size(-1);
  Tensor mask = Tensor::empty({rows, cols}, kUInt8);
  std::uint8_t* keep = ptr<std::uint8_t>(mask);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      keep[i * cols + j] = lower ? j - i <= diagonal : j - i >= diagonal;
  return where(mask.to(x.device()), x, detail::constant_like(x, 0.0));
}
}  // namespace

Tensor tril(const Tensor& x, std::int64_t diagonal) { return triangle("tril", x, diagonal, true); }
Tensor triu(const Tensor& x, std::int64_t diagonal) { return triangle("triu", x, diagonal, false); }

}  // namespace kiln
