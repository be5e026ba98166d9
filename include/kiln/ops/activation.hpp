// Activation functions (differentiable, elementwise, SIMD-dispatched for float32).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln {

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);  // x for x > 0, alpha (e^x - 1) otherwise
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x);      // exact: x * Phi(x), Phi the standard normal CDF
Tensor softplus(const Tensor& x);  // log(1 + e^x), computed stably
Tensor silu(const Tensor& x);      // x * sigmoid(x) (also called swish)

// gelu's tanh approximation (GPT-2's, PyTorch's approximate="tanh"):
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
enum class GeluApproximation { none, tanh };
Tensor gelu(const Tensor& x, GeluApproximation approximate);
// Composed of the ops above (so on either device), with PyTorch's definitions:
Tensor mish(const Tensor& x);                                                   // x tanh(softplus(x))
Tensor hardsigmoid(const Tensor& x);                                            // clamp(x / 6 + 1/2, 0, 1)
Tensor hardswish(const Tensor& x);                                              // x hardsigmoid(x)
Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0);  // clamp(x, min, max)
Tensor relu6(const Tensor& x);                                                  // clamp(x, 0, 6)
// More of PyTorch's activations, composed of the ops above (either device):
Tensor selu(const Tensor& x);  // scale elu(x, alpha), PyTorch's self-normalising constants
Tensor celu(const Tensor& x, double alpha = 1.0);        // max(0, x) + min(0, alpha (e^(x / alpha) - 1))
Tensor glu(const Tensor& x, std::int64_t dim = -1);      // a sigmoid(b), a and b the halves of x along dim
Tensor logsigmoid(const Tensor& x);                      // log sigmoid(x) = -softplus(-x), stable
Tensor softsign(const Tensor& x);                        // x / (1 + |x|)
Tensor tanhshrink(const Tensor& x);                      // x - tanh(x)
Tensor softshrink(const Tensor& x, double lambd = 0.5);  // x -+ lambd beyond +-lambd, 0 inside
Tensor hardshrink(const Tensor& x, double lambd = 0.5);  // x beyond +-lambd, 0 inside
Tensor threshold(const Tensor& x, double threshold, double value);  // x where x > threshold, else value
Tensor softmin(const Tensor& x, std::int64_t dim);                  // softmax(-x, dim)
// A differentiable sample of a categorical distribution (Jang et al. 2017; torch's
// gumbel_softmax): softmax((logits + g) / tau, dim), g Gumbel noise drawn from the
// default generator. hard: the one-hot of its argmax forward, the soft sample's gradient
// backward (straight through).
Tensor gumbel_softmax(const Tensor& logits, double tau = 1.0, bool hard = false, std::int64_t dim = -1);
// Randomized leaky ReLU (Xu et al. 2015; torch's rrelu): x where x >= 0, a x elsewhere,
// with a drawn from U(lower, upper) for each entry in training, and (lower + upper) / 2
// otherwise. Differentiable in x (the gradient is the slope used).
Tensor rrelu(const Tensor& x, double lower = 1.0 / 8, double upper = 1.0 / 3, bool training = false);
// x where x > 0, weight x elsewhere, with a learned slope (He et al. 2015; torch's prelu):
// weight of one element, or one per channel (x.size(1)). Differentiable in both.
Tensor prelu(const Tensor& x, const Tensor& weight);

}  // namespace kiln
