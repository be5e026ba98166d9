// Shared test helpers.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"
#include "tests/temp_dir.hpp"

namespace kiln::test {

// Every element of `t` (converted to double) is within tol of `expected`.
inline void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
  const std::vector<double> got = t.to_vector<double>();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", expected " << expected[i]);
    if (std::isnan(expected[i])) CHECK(std::isnan(got[i]));
    else if (std::isinf(expected[i])) CHECK(got[i] == expected[i]);
    else CHECK(std::abs(got[i] - expected[i]) <= tol * (1 + std::abs(expected[i])));
  }
}

inline void check_same(const Tensor& a, const Tensor& b, double tol = 1e-6) {
  REQUIRE(a.shape() == b.shape());
  check_values(a, b.to_vector<double>(), tol);
}

// Runs a check (gradcheck, gradgradcheck) and reports its message on failure.
#define KILN_CHECK_WITH(check, f, ...)              \
  do {                                              \
    const auto kiln_result = check(f, __VA_ARGS__); \
    INFO(kiln_result.message);                      \
    CHECK(kiln_result.ok);                          \
  } while (0)
#define KILN_CHECK_GRAD(f, ...) KILN_CHECK_WITH(::kiln::gradcheck, f, __VA_ARGS__)
// The same one order up: second derivatives.
#define KILN_CHECK_GRADGRAD(f, ...) KILN_CHECK_WITH(::kiln::gradgradcheck, f, __VA_ARGS__)

// WGAN-GP's gradient penalty, the mean over the samples of (|d critic(x) / dx| - 1)^2 with
// critic(x) one score per sample, as a function of what `critic` closes over: the input
// gradient is recorded (create_graph), so the penalty can be differentiated again. It turns
// grad mode on itself, for gradcheck's finite differences call it under NoGradGuard.
inline Tensor gradient_penalty(const Tensor& samples, const std::function<Tensor(const Tensor&)>& critic) {
  EnableGradGuard recording;
  const Tensor x = samples.detach().requires_grad_();
  const Tensor dx = grad(sum(critic(x)), {x}, Tensor(), {.create_graph = true})[0];
  return mean(square(norm(dx.flatten(1), 2.0, {1}) - 1.0));
}

inline Tensor rand64(const Shape& shape) { return randn(shape, kFloat64); }
// Values bounded away from 0 (for log, sqrt, div, pow bases).
inline Tensor positive64(const Shape& shape) { return add(rand(shape, kFloat64), scalar_tensor(0.5, kFloat64)); }

}  // namespace kiln::test
