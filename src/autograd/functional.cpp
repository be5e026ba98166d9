// jacobian: one output element at a time, its gradient with respect to every input by
// grad() through the one recorded graph (kept until the last row). hessian, hvp and jvp
// differentiate a gradient recorded by grad() with create_graph.
#include "kiln/autograd/functional.hpp"

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln {

std::vector<Tensor> jacobian(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             const std::vector<Tensor>& inputs) {
  KILN_CHECK(f != nullptr, "jacobian: the function is empty; pass a callable");
  std::vector<Tensor> fresh;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    KILN_CHECK(inputs[i].defined() && is_floating(inputs[i].dtype()), "jacobian: input ", i,
               " must be a floating tensor, got ",
               inputs[i].defined() ? dtype_name(inputs[i].dtype()) : "none");
    fresh.push_back(inputs[i].detach().requires_grad_());
  }
  Tensor out;
  {
    EnableGradGuard recording;
    out = f(fresh);
  }
  KILN_CHECK(out.defined() && is_floating(out.dtype()),
             "jacobian: the function must return a floating tensor");
  const std::int64_t rows = out.numel();
  std::vector<std::vector<Tensor>> per_input(inputs.size());
  for (std::int64_t k = 0; k < rows; ++k) {
    std::vector<Tensor> grads(inputs.size());
    if (out.requires_grad()) {
      std::vector<double> unit(static_cast<std::size_t>(rows), 0.0);
      unit[static_cast<std::size_t>(k)] = 1.0;  // d out[k] / d inputs
      const Tensor seed = from_vector(unit, out.shape()).to(out.dtype()).to(out.device());
      GradOptions options;
      options.retain_graph = k + 1 < rows;
      options.allow_unused = true;
      grads = grad({out}, fresh, {seed}, options);
    }
    for (std::size_t i = 0; i < inputs.size(); ++i)
      per_input[i].push_back(grads[i].defined() ? grads[i] : zeros_like(fresh[i]).detach());
  }
  std::vector<Tensor> result;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Shape shape = out.shape();
    shape.insert(shape.end(), inputs[i].shape().begin(), inputs[i].shape().end());
    result.push_back(rows == 0 ? zeros(shape, inputs[i].dtype(), inputs[i].device())
                               : stack(per_input[i], 0).reshape(shape));
  }
  return result;
}

Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& input) {
  KILN_CHECK(f != nullptr, "jacobian: the function is empty; pass a callable");
  return jacobian([&f](const std::vector<Tensor>& in) { return f(in[0]); }, std::vector<Tensor>{input})[0];
}

namespace {
std::string shape_text(const Tensor& t) {
  return t.defined() ? detail::concat(fmt(t.shape())) : "(undefined)";
}

// A float64 / float32 input of f, checked, as a fresh leaf that requires grad.
Tensor fresh_input(const Tensor& input, const char* op) {
  KILN_CHECK(input.defined() && is_floating(input.dtype()), op, ": the input must be a floating tensor, got ",
             input.defined() ? dtype_name(input.dtype()) : "none");
  return input.detach().requires_grad_();
}

// f(x) with grad mode on, whatever the caller's.
Tensor recorded_call(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  EnableGradGuard recording;
  return f(x);
}

// d f / d x as a recorded tensor (zeros, not recorded, where f does not depend on x).
Tensor recorded_gradient(const Tensor& y, const Tensor& x, const Tensor& seed, const char* op) {
  KILN_CHECK(y.defined() && is_floating(y.dtype()), op, ": the function must return a floating tensor");
  if (!y.requires_grad()) return zeros_like(x).detach();
  const Tensor g = grad(y, {x}, seed, {.allow_unused = true, .create_graph = true})[0];
  return g.defined() ? g : zeros_like(x).detach();
}

void check_direction(const Tensor& v, const Tensor& input, const char* op) {
  KILN_CHECK(v.defined() && v.shape() == input.shape(), op, ": the vector has shape ", shape_text(v),
             " but the input has shape ", fmt(input.shape()), "; pass one of the input's shape");
  KILN_CHECK(v.device() == input.device(), op, ": the vector is on ", v.device(), " and the input on ",
             input.device(), "; move one with .to(device)");
}
}  // namespace

Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& input) {
  KILN_CHECK(f != nullptr, "hessian: the function is empty; pass a callable");
  const Tensor x = fresh_input(input, "hessian");
  return jacobian(
      [&](const Tensor& in) {
        const Tensor y = recorded_call(f, in);
        KILN_CHECK(y.defined() && y.numel() == 1, "hessian: the function must return one element, got shape ",
                   shape_text(y));
        return recorded_gradient(y, in, Tensor(), "hessian");
      },
      x);
}

Tensor hvp(const std::function<Tensor(const Tensor&)>& f, const Tensor& input, const Tensor& v) {
  KILN_CHECK(f != nullptr, "hvp: the function is empty; pass a callable");
  check_direction(v, input, "hvp");
  const Tensor x = fresh_input(input, "hvp");
  const Tensor y = recorded_call(f, x);
  KILN_CHECK(y.defined() && y.numel() == 1, "hvp: the function must return one element, got shape ",
             shape_text(y));
  const Tensor g = recorded_gradient(y, x, Tensor(), "hvp");
  if (!g.requires_grad()) return zeros_like(x).detach();
  Tensor dot;
  {
    EnableGradGuard recording;
    dot = sum(mul(g, v.detach().to(g.dtype())));
  }
  const Tensor h = grad(dot, {x}, Tensor(), {.allow_unused = true})[0];
  return h.defined() ? h : zeros_like(x).detach();
}

Tensor vjp(const std::function<Tensor(const Tensor&)>& f, const Tensor& input, const Tensor& v) {
  KILN_CHECK(f != nullptr, "vjp: the function is empty; pass a callable");
  const Tensor x = fresh_input(input, "vjp");
  const Tensor y = recorded_call(f, x);
  KILN_CHECK(y.defined() && is_floating(y.dtype()), "vjp: the function must return a floating tensor");
  KILN_CHECK(v.defined() && v.shape() == y.shape(), "vjp: the vector has shape ", shape_text(v),
             " but the function's output has shape ", fmt(y.shape()), "; pass one of the output's shape");
  KILN_CHECK(v.device() == y.device(), "vjp: the vector is on ", v.device(), " and the output on ",
             y.device(), "; move one with .to(device)");
  if (!y.requires_grad()) return zeros_like(x).detach();
  const Tensor g = grad(y, {x}, v.detach().to(y.dtype()), {.allow_unused = true})[0];
  return g.defined() ? g : zeros_like(x).detach();
}

Tensor jvp(const std::function<Tensor(const Tensor&)>& f, const Tensor& input, const Tensor& v) {
  KILN_CHECK(f != nullptr, "jvp: the function is empty; pass a callable");
  check_direction(v, input, "jvp");
  const Tensor x = fresh_input(input, "jvp");
  const Tensor y = recorded_call(f, x);
  KILN_CHECK(y.defined() && is_floating(y.dtype()), "jvp: the function must return a floating tensor");
  if (!y.requires_grad()) return zeros_like(y).detach();
  // J^T u for a free u; its gradient with respect to u along v is J v.
  const Tensor u = zeros_like(y).detach().requires_grad_();
  const Tensor g = recorded_gradient(y, x, u, "jvp");
  if (!g.requires_grad()) return zeros_like(y).detach();
  const Tensor jv = grad(g, {u}, v.detach().to(g.dtype()), {.allow_unused = true})[0];
  return jv.defined() ? jv : zeros_like(y).detach();
}

}  // namespace kiln
