// Trains w in y = x w by gradient descent, through kiln's public API only.
#include <kiln/kiln.hpp>

#include <iostream>

int main() {
  kiln::manual_seed(0);
  const kiln::Tensor x = kiln::randn({64, 3});
  const kiln::Tensor w_true = kiln::tensor<float>({{1.5f}, {-2.0f}, {0.5f}});
  const kiln::Tensor y = kiln::matmul(x, w_true);
  kiln::Tensor w = kiln::zeros({3, 1}).requires_grad_();
  float first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    const kiln::Tensor diff = kiln::matmul(x, w) - y;
    kiln::Tensor loss = kiln::mean(diff * diff);
    if (step == 0) first = loss.item<float>();
    last = loss.item<float>();
    w.set_grad(kiln::Tensor());
    loss.backward();
    kiln::NoGradGuard no_grad;
    w.add_(w.grad(), -0.1);
  }
  std::cout << kiln::build_info() << "\nloss " << first << " -> " << last << "\n";
  return last < 1e-3f * first ? 0 : 1;
}
