// The parity check every CUDA test uses: run a function on CPU tensors and on
// their GPU copies, compare outputs and the gradients of every input.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "kiln/kiln.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

inline const Device gpu = Device::cuda(0);
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

inline double tol_for(DType t) { return t == kFloat64 ? 1e-10 : 1e-5; }

// Runs f on CPU inputs and on their GPU copies; compares the outputs, then
// backpropagates one random upstream gradient through both and compares the
// gradients of every floating input.
inline void parity(const Fn& f, std::vector<Tensor> inputs, double tol) {
  std::vector<Tensor> cpu_in, gpu_in;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().clone();
    Tensor g = t.detach().to(gpu);
    if (is_floating(t.dtype())) {
      c.requires_grad_();
      g.requires_grad_();
    }
    cpu_in.push_back(c);
    gpu_in.push_back(g);
  }
  const Tensor out_cpu = f(cpu_in);
  const Tensor out_gpu = f(gpu_in);
  REQUIRE(out_gpu.device() == gpu);
  INFO("forward");
  check_same(out_gpu.to(Device::cpu()), out_cpu, tol);
  if (!out_cpu.requires_grad()) return;
  const Tensor upstream = randn(out_cpu.shape(), out_cpu.dtype());
  out_cpu.backward(upstream);
  out_gpu.backward(upstream.to(gpu));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!cpu_in[i].requires_grad() || !cpu_in[i].grad().defined()) continue;
    INFO("gradient of input " << i);
    REQUIRE(gpu_in[i].grad().defined());
    CHECK(gpu_in[i].grad().device() == gpu);
    check_same(gpu_in[i].grad().to(Device::cpu()), cpu_in[i].grad(), tol);
  }
}


}  // namespace kiln::test
