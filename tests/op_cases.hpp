// One function of x per op, for the tests that run every op on unusual inputs:
// - tensors with no elements, every shape of zero_size_shapes(), on the CPU
//   (test_robustness.cpp: no crash, an output, a gradient of x's shape) and on the GPU
//   (cuda/test_cuda_ops.cpp: the same outputs and gradients as the CPU);
// - strided views (transposed, every other column, offset) on the GPU against the CPU.
// A case whose op has nothing to say for a shape (the maximum of an empty row) returns
// an undefined Tensor there.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"

namespace kiln::test {

struct OpCase {
  std::string name;
  std::function<Tensor(const Tensor&)> f;
};

inline std::vector<Shape> zero_size_shapes() { return {{0}, {0, 3}, {3, 0}, {2, 0, 3}}; }

inline std::vector<OpCase> op_cases() {
  const auto zeros_of = [](const Tensor& x, const Shape& shape, DType dt) {
    return zeros(shape, dt, x.device());
  };
  const auto last_nonempty = [](const Tensor& x) { return x.size(-1) > 0; };
  return {
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"pow", [](const Tensor& x) { return pow(x, 2.0); }},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.5); }},
      {"where", [](const Tensor& x) { return where(x > 0.0, x, 0.0); }},
      {"sum", [](const Tensor& x) { return sum(x); }},
      {"mean", [](const Tensor& x) { return mean(x); }},
      {"sum over dim 0", [](const Tensor& x) { return sum(x, {0}); }},
      {"mean over the last dim", [](const Tensor& x) { return mean(x, {-1}); }},
      {"var", [](const Tensor& x) { return var(x, {-1}); }},
      {"norm", [](const Tensor& x) { return norm(x, 2.0, {-1}); }},
      {"normalize", [](const Tensor& x) { return normalize(x, 2.0, -1); }},
      {"prod", [](const Tensor& x) { return prod(x, -1); }},
      {"cumsum", [](const Tensor& x) { return cumsum(x, -1); }},
      {"cumprod", [](const Tensor& x) { return cumprod(x, -1); }},
      {"cummax", [](const Tensor& x) { return cummax(x, -1).values; }},
      {"logcumsumexp", [](const Tensor& x) { return logcumsumexp(x, 0); }},
      {"logsumexp", [](const Tensor& x) { return logsumexp(x, {-1}); }},
      {"softmax", [](const Tensor& x) { return softmax(x, -1); }},
      {"log_softmax", [](const Tensor& x) { return log_softmax(x, -1); }},
      {"max over the last dim",
       [=](const Tensor& x) { return last_nonempty(x) ? max(x, -1).values : Tensor(); }},
      {"sort", [](const Tensor& x) { return sort(x, -1).values; }},
      {"topk 0", [](const Tensor& x) { return topk(x, 0, -1).values; }},
      {"cat",
       [](const Tensor& x) {
         return cat({x, x}, 0);
       }},
      {"stack",
       [](const Tensor& x) {
         return stack({x, x}, 0);
       }},
      {"flip", [](const Tensor& x) { return flip(x, {0}); }},
      {"atan", [](const Tensor& x) { return atan(x); }},
      {"lgamma", [](const Tensor& x) { return lgamma(x); }},
      {"fmod", [](const Tensor& x) { return fmod(x, 0.7); }},
      {"logaddexp", [](const Tensor& x) { return logaddexp(x, x * 0.5); }},
      {"lerp", [](const Tensor& x) { return lerp(x, x * 2.0, 0.3); }},
      {"einsum",
       [](const Tensor& x) {
         return einsum("...i,...i->...", {x, x});
       }},
      {"roll", [](const Tensor& x) { return roll(x, {1}, {0}); }},
      {"diff", [](const Tensor& x) { return diff(x, 1, -1); }},
      {"selu", [](const Tensor& x) { return selu(x); }},
      {"logsigmoid", [](const Tensor& x) { return logsigmoid(x); }},
      {"softshrink", [](const Tensor& x) { return softshrink(x, 0.3); }},
      {"median over the last dim",
       [=](const Tensor& x) { return last_nonempty(x) ? median(x, -1).values : Tensor(); }},
      {"quantile over the last dim",
       [=](const Tensor& x) { return last_nonempty(x) ? quantile(x, 0.3, -1) : Tensor(); }},
      {"nanquantile at three levels over the last dim",
       [=](const Tensor& x) {
         return last_nonempty(x) ? nanquantile(x, tensor<double>({0.2, 0.5, 0.9}), -1) : Tensor();
       }},
      {"i0e", [](const Tensor& x) { return i0e(x); }},
      {"frexp", [](const Tensor& x) { return frexp(x).mantissa; }},
      {"renorm", [](const Tensor& x) { return renorm(x, 2.0, 0, 0.5); }},
      {"take", [=](const Tensor& x) { return take(x, zeros_of(x, {0}, kInt64)); }},
      {"cdist", [](const Tensor& x) { return x.dim() == 2 ? cdist(x, x) : Tensor(); }},
      {"pad",
       [](const Tensor& x) {
         return pad(x, {1, 1});
       }},
      {"x[mask]", [](const Tensor& x) { return x[x > 0.0]; }},
      {"index_select", [=](const Tensor& x) { return index_select(x, 0, zeros_of(x, {0}, kInt64)); }},
      {"dropout", [](const Tensor& x) { return dropout(x, 0.5, true); }},
      {"matmul", [](const Tensor& x) { return x.dim() == 2 ? matmul(x.t(), x) : Tensor(); }},
      {"linear",  // with no input features too: every row is then the bias
       [](const Tensor& x) {
         return linear(x, ones({4, x.size(-1)}, x.dtype(), x.device()), ones({4}, x.dtype(), x.device()));
       }},
      {"layer_norm", [](const Tensor& x) { return layer_norm(x, {x.size(-1)}); }},
      {"mse_loss", [](const Tensor& x) { return mse_loss(x, zeros_like(x)); }},
      {"binary_cross_entropy_with_logits",
       [](const Tensor& x) { return binary_cross_entropy_with_logits(x, zeros_like(x)); }},
      {"cross_entropy",
       [=](const Tensor& x) {
         return x.dim() == 2 && last_nonempty(x) ? cross_entropy(x, zeros_of(x, {x.size(0)}, kInt64))
                                                 : Tensor();
       }},
  };
}

}  // namespace kiln::test
