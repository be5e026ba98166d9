// jacobian: one output element at a time, its gradient with respect to every input by
// grad() through the one recorded graph (kept until the last row).
#include "kiln/autograd/functional.hpp"

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
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
    const bool was = is_grad_enabled();
    set_grad_enabled(true);
    try {
      out = f(fresh);
    } catch (...) {
      set_grad_enabled(was);
      throw;
    }
    set_grad_enabled(was);
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

}  // namespace kiln
