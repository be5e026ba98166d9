// Activations as layers: each forward is its op in kiln/ops/activation.hpp.
#include "kiln/nn/activation_layers.hpp"

#include <sstream>

#include "kiln/core/factories.hpp"
#include "kiln/ops/reduce.hpp"

namespace kiln::nn {

namespace {
// "Name(setting=" followed by the number and ")".
std::string with_number(const char* head, double v) {
  std::ostringstream os;
  os << head << v << ")";
  return os.str();
}
}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }
std::string LeakyReLU::description() const {
  return with_number("LeakyReLU(negative_slope=", negative_slope);
}
RReLU::RReLU(double lower, double upper) : lower(lower), upper(upper) {
  KILN_CHECK(lower <= upper, "RReLU: lower ", lower, " must not exceed upper ", upper);
}
Tensor RReLU::forward(const Tensor& x) { return rrelu(x, lower, upper, is_training()); }
std::string RReLU::description() const {
  std::ostringstream os;
  os << "RReLU(lower=" << lower << ", upper=" << upper << ")";
  return os.str();
}
Tensor ELU::forward(const Tensor& x) { return elu(x, alpha); }
std::string ELU::description() const { return with_number("ELU(alpha=", alpha); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }
std::string GELU::description() const {
  return approximate == GeluApproximation::tanh ? "GELU(approximate='tanh')" : "GELU()";
}
Tensor Mish::forward(const Tensor& x) { return mish(x); }
Tensor Hardsigmoid::forward(const Tensor& x) { return hardsigmoid(x); }
Tensor Hardswish::forward(const Tensor& x) { return hardswish(x); }
Hardtanh::Hardtanh(double min_val, double max_val) : min_val(min_val), max_val(max_val) {
  KILN_CHECK(min_val <= max_val, "Hardtanh: min_val ", min_val, " must not exceed max_val ", max_val);
}
Tensor Hardtanh::forward(const Tensor& x) { return hardtanh(x, min_val, max_val); }
std::string Hardtanh::description() const {
  std::ostringstream os;
  os << "Hardtanh(min_val=" << min_val << ", max_val=" << max_val << ")";
  return os.str();
}
Tensor ReLU6::forward(const Tensor& x) { return relu6(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim); }
Tensor Softmax2d::forward(const Tensor& x) {
  KILN_CHECK(x.dim() == 3 || x.dim() == 4,
             "Softmax2d: input must be (N, C, H, W) or (C, H, W) but has shape ", fmt(x.shape()));
  return softmax(x, -3);
}
Tensor Softplus::forward(const Tensor& x) { return softplus(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
std::string CELU::description() const { return with_number("CELU(alpha=", alpha); }
std::string Softshrink::description() const { return with_number("Softshrink(lambd=", lambd); }
std::string Hardshrink::description() const { return with_number("Hardshrink(lambd=", lambd); }
std::string Threshold::description() const {
  std::ostringstream os;
  os << "Threshold(threshold=" << threshold << ", value=" << value << ")";
  return os.str();
}

PReLU::PReLU(std::int64_t num_parameters, double init) {
  KILN_CHECK(num_parameters >= 1, "PReLU: num_parameters must be >= 1, got ", num_parameters);
  register_parameter("weight", weight, full({num_parameters}, init));
}
Tensor PReLU::forward(const Tensor& x) { return prelu(x, weight); }
std::string PReLU::description() const {
  return "PReLU(num_parameters=" + std::to_string(weight.numel()) + ")";
}

}  // namespace kiln::nn
