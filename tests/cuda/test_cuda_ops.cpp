// Every CUDA op against the CPU reference on random inputs: forward values and
// the gradients a backward pass sends to each input. Tolerances: float64 1e-10
// (relative), float32 1e-5, matmul in float32 1e-4 (cuBLAS sums in another order).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#if KILN_TEST_CUDA_RUNTIME
#include <cuda_runtime.h>
#endif

#include "kernels/cuda/index_math.hpp"  // scan_split, kCsrChunk
#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"
#include "tests/op_cases.hpp"

namespace kiln::test {

TEST_CASE("cuda: tensors move to the GPU and back unchanged, views included") {
  manual_seed(1);
  for (DType dt : {kFloat32, kFloat64, kInt64, kInt32, kUInt8, kInt8}) {
    const Tensor x = (randn({5, 7}) * 20.0).to(dt);
    const Tensor back = x.to(gpu).to(Device::cpu());
    CHECK(back.dtype() == dt);
    CHECK(back.to_vector<double>() == x.to_vector<double>());
  }
  const Tensor x = randn({4, 6, 3});
  const Tensor view = x.transpose(0, 2).slice(1, 1, 5);
  check_same(view.to(gpu).to(Device::cpu()), view, 0);
  CHECK(x.to(gpu).transpose(0, 2).contiguous().to_vector<float>() == x.transpose(0, 2).contiguous().to_vector<float>());
  CHECK_THROWS_AS(x.to(gpu).item(), Error);
  CHECK(scalar_tensor(2.5, kFloat32, gpu).item() == 2.5);
  CHECK(x.to(gpu).to_vector<float>() == x.to_vector<float>());
}

TEST_CASE("cuda: factories, fill and dtype conversion on the device") {
  check_values(zeros({2, 3}, kFloat32, gpu), std::vector<double>(6, 0.0), 0);
  check_values(full({4}, -1.5, kFloat64, gpu), {-1.5, -1.5, -1.5, -1.5}, 0);
  const Tensor x = tensor<float>({-2.7f, -0.2f, 0.0f, 3.9f, 250.0f});
  CHECK(x.to(gpu).to(kInt64).to_vector<std::int64_t>() == x.to(kInt64).to_vector<std::int64_t>());
  // Beyond the range and NaN too: both devices truncate, saturate and take NaN as 0.
  const Tensor wild = tensor<double>({-2.7, 0.4, 255.9, 256.0, -129.5, 3e9, -1e30, 1e30, std::nan(""), -0.0});
  for (const Tensor& from : {wild, wild.to(kFloat32)}) {
    CHECK(from.to(gpu).to(kInt64).to_vector<std::int64_t>() == from.to(kInt64).to_vector<std::int64_t>());
    CHECK(from.to(gpu).to(kInt32).to_vector<std::int32_t>() == from.to(kInt32).to_vector<std::int32_t>());
    CHECK(from.to(gpu).to(kUInt8).to_vector<std::uint8_t>() == from.to(kUInt8).to_vector<std::uint8_t>());
    CHECK(from.to(gpu).to(kInt8).to_vector<std::int8_t>() == from.to(kInt8).to_vector<std::int8_t>());
  }
  CHECK_THROWS_WITH_AS(full({2}, 300.0, kUInt8, gpu), doctest::Contains("cannot be converted to uint8"),
                       Error);
  Tensor y = zeros({3, 4}, kFloat32, gpu);
  y.slice(1, 1, 3).fill_(7.0);
  const Tensor expect = zeros({3, 4});
  expect.slice(1, 1, 3).fill_(7.0);
  CHECK(y.to_vector<float>() == expect.to_vector<float>());
}

TEST_CASE("cuda: binary arithmetic with broadcasting, forward and backward") {
  manual_seed(2);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = tol_for(dt);
    const Tensor a = randn({3, 1, 5}, dt), b = randn({4, 1}, dt);
    parity([](const auto& v) { return add(v[0], v[1]); }, {a, b}, tol);
    parity([](const auto& v) { return sub(v[0], v[1]); }, {a, b}, tol);
    parity([](const auto& v) { return mul(v[0], v[1]); }, {a, b}, tol);
    parity([](const auto& v) { return div(v[0], add(abs(v[1]), scalar_like(v[1], 0.5))); }, {a, b}, tol);
    parity([](const auto& v) { return maximum(v[0], v[1]); }, {a, b}, tol);
    parity([](const auto& v) { return minimum(v[0], v[1]); }, {a, b}, tol);
    parity([](const auto& v) { return pow(add(abs(v[0]), scalar_like(v[0], 0.1)), v[1]); }, {a, b}, 10 * tol);
    parity([](const auto& v) { return mul(v[0].transpose(0, 2), scalar_like(v[0], 3.0)); }, {a}, tol);
  }
  const Tensor i = randint(-50, 50, {6, 4}), j = randint(-50, 50, {4});
  parity([](const auto& v) { return add(v[0], v[1]); }, {i, j}, 0);
  parity([](const auto& v) { return maximum(v[0], v[1]); }, {i, j}, 0);
  // True division of integers: float32, as on the CPU (divisors of 1 and up).
  parity([](const auto& v) { return div(v[0], v[1] * v[1] + 1.0); }, {i, j}, 0);
}

TEST_CASE("cuda: comparisons") {
  manual_seed(3);
  const Tensor a = randint(0, 4, {5, 6}).to(kFloat32), b = randint(0, 4, {6}).to(kFloat32);
  using Cmp = Tensor (*)(const Tensor&, const Tensor&);
  for (Cmp cmp : {Cmp(eq), Cmp(ne), Cmp(lt), Cmp(le), Cmp(gt), Cmp(ge)}) {
    const Tensor want = cmp(a, b);
    const Tensor got = cmp(a.to(gpu), b.to(gpu));
    CHECK(got.dtype() == kUInt8);
    CHECK(got.to_vector<std::uint8_t>() == want.to_vector<std::uint8_t>());
  }
  // Against a number, floating and integer, inside and beyond int32's range.
  using CmpScalar = Tensor (*)(const Tensor&, double);
  const Tensor ints = randint(-3, 4, {5, 6}).to(kInt32);
  for (CmpScalar cmp :
       {CmpScalar(eq), CmpScalar(ne), CmpScalar(lt), CmpScalar(le), CmpScalar(gt), CmpScalar(ge)})
    for (const double s : {1.0, 1.5, -2.5, 1e10, double(NAN)}) {
      CHECK(cmp(a.to(gpu), s).to_vector<std::uint8_t>() == cmp(a, s).to_vector<std::uint8_t>());
      const Tensor got = cmp(ints.to(gpu), s);
      CHECK(got.device() == gpu);
      CHECK(got.to_vector<std::uint8_t>() == cmp(ints, s).to_vector<std::uint8_t>());
    }
  // Logical ops on the device, mixed dtypes and broadcasting; where with a number.
  const Tensor pa = a > 1.0, pi = ints.narrow(1, 0, 1) < 0.0;
  const auto same_mask = [](const Tensor& on_gpu, const Tensor& on_cpu) {
    CHECK(on_gpu.device() == gpu);
    CHECK(on_gpu.to_vector<std::uint8_t>() == on_cpu.to_vector<std::uint8_t>());
  };
  same_mask(pa.to(gpu) & pi.to(gpu), pa & pi);
  same_mask(pa.to(gpu) | pi.to(gpu), pa | pi);
  same_mask(a.to(gpu) ^ ints.to(gpu), a ^ ints);
  same_mask(!ints.to(gpu), !ints);
  parity([](const auto& v) { return where(v[0] > 0.5, v[0], -2.0); }, {a}, 0);
  parity([](const auto& v) { return where(v[0] > 0.5, 3.0, v[0]); }, {a}, 0);
  // any / all, nonzero and masked_select (forward and gradient) on the device.
  for (const Tensor& t : {a, ints, a - 1.0}) {
    CHECK(any(t.to(gpu), {1}).to_vector<std::uint8_t>() == any(t, {1}).to_vector<std::uint8_t>());
    CHECK(all(t.to(gpu), {0}, true).to_vector<std::uint8_t>() == all(t, {0}, true).to_vector<std::uint8_t>());
    const Tensor pos = nonzero(t.to(gpu));
    CHECK(pos.device() == gpu);
    CHECK(pos.to_vector<std::int64_t>() == nonzero(t).to_vector<std::int64_t>());
  }
  const Tensor xg = a.to(gpu).requires_grad_(), xc = a.clone().requires_grad_();
  const Tensor picked_gpu = masked_select(xg, xg > 1.5), picked_cpu = masked_select(xc, xc > 1.5);
  CHECK(picked_gpu.to_vector<float>() == picked_cpu.to_vector<float>());
  const Tensor up = randn(picked_cpu.shape());
  picked_gpu.backward(up.to(gpu));
  picked_cpu.backward(up);
  CHECK(xg.grad().to_vector<float>() == xc.grad().to_vector<float>());
  // x[mask] by rows and x[indices], the index on the device or on the host.
  const Tensor row_mask = a.narrow(1, 0, 1).reshape({5}) > 1.5, rows = tensor<std::int64_t>({4, -1, 0});
  CHECK(a.to(gpu)[row_mask.to(gpu)].to_vector<float>() == a[row_mask].to_vector<float>());
  CHECK(a.to(gpu)[rows.to(gpu)].to_vector<float>() == a[rows].to_vector<float>());
  CHECK(a.to(gpu)[rows].device() == gpu);
}

TEST_CASE("cuda: activations and unary math, forward and backward") {
  manual_seed(4);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = tol_for(dt);
    const Tensor x = randn({7, 9}, dt);
    using Fn = Tensor (*)(const Tensor&);
    const Fn exact_gelu = gelu;  // (gelu has a second form, with its tanh approximation)
    for (Fn f : {relu, sigmoid, tanh, exact_gelu,  softplus,  silu,  neg,  exp,        abs,      sin,
                 cos,  expm1,   mish, hardsigmoid, hardswish, relu6, selu, logsigmoid, softsign, tanhshrink})
      parity([f](const auto& v) { return f(v[0]); }, {x}, tol);
    parity([](const auto& v) { return celu(v[0], 0.7); }, {x}, tol);
    parity([](const auto& v) { return glu(v[0], 0); }, {x.narrow(0, 0, 6)}, tol);
    parity([](const auto& v) { return softshrink(v[0], 0.3); }, {x}, tol);
    parity([](const auto& v) { return hardshrink(v[0], 0.3); }, {x}, tol);
    parity([](const auto& v) { return threshold(v[0], 0.1, -2.0); }, {x}, tol);
    parity([](const auto& v) { return softmin(v[0], 1); }, {x}, tol);
    parity([](const auto& v) { return gelu(v[0], GeluApproximation::tanh); }, {x}, tol);
    parity([](const auto& v) { return hardtanh(v[0], -0.5, 1.5); }, {x}, tol);
    // Piecewise constant: equal values (the inputs, scaled, cross integers and halves) and zero gradients.
    const Tensor wide = add(mul(x, scalar_like(x, 3.0)), tensor<double>({0.5}).to(dt));
    for (auto f : {sign, floor, ceil, round})
      parity([f](const auto& v) { return f(v[0]); }, {wide}, 0);
    const Tensor special = tensor<double>({1.5, NAN, INFINITY, -INFINITY, 0}).to(dt);
    for (auto f : {isnan, isinf, isfinite}) {
      const Tensor on_gpu = f(special.to(gpu));
      CHECK(on_gpu.device() == gpu);
      CHECK(on_gpu.to(Device::cpu()).template to_vector<std::uint8_t>() ==
            f(special).template to_vector<std::uint8_t>());
    }
    const Tensor pos = add(abs(x), scalar_like(x, 0.1));
    parity([](const auto& v) { return log(v[0]); }, {pos}, tol);
    parity([](const auto& v) { return sqrt(v[0]); }, {pos}, tol);
    parity([](const auto& v) { return log1p(v[0]); }, {pos}, tol);
    parity([](const auto& v) { return relu(v[0].t()); }, {x}, tol);  // a non-contiguous input
  }
}

TEST_CASE("cuda: math functions (kiln/ops/math.hpp), forward and backward") {
  manual_seed(41);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = tol_for(dt);
    const Tensor x = randn({7, 9}, dt), other = randn({9}, dt);
    const Tensor inside = rand({7, 9}, dt) * 1.8 - 0.9, pos = rand({7, 9}, dt) + 0.2;
    using Fn = Tensor (*)(const Tensor&);
    for (Fn f : {tan, atan, sinh, cosh, asinh, erf, erfc, square, exp2, trunc, frac, lgamma, digamma})
      parity([f](const auto& v) { return f(v[0]); }, {x}, tol);
    for (Fn f : {asin, acos, atanh, erfinv}) parity([f](const auto& v) { return f(v[0]); }, {inside}, tol);
    for (Fn f : {rsqrt, reciprocal, log2, log10}) parity([f](const auto& v) { return f(v[0]); }, {pos}, tol);
    parity([](const auto& v) { return acosh(v[0] + 1.0); }, {pos}, tol);
    parity([](const auto& v) { return logit(v[0], 0.05); }, {rand({7, 9}, dt)}, tol);
    parity([](const auto& v) { return nan_to_num(log(v[0])); }, {x}, tol);  // NaN and -inf replaced
    using Fn2 = Tensor (*)(const Tensor&, const Tensor&);
    for (Fn2 f : {Fn2(atan2), Fn2(hypot), Fn2(logaddexp), Fn2(fmod), Fn2(remainder)})
      parity([f](const auto& v) { return f(v[0], v[1]); }, {x * 3.0, other}, tol);  // other broadcasts
    parity([](const auto& v) { return xlogy(v[0], v[1]); }, {x, pos}, tol);
    parity([](const auto& v) { return polygamma(1, v[0]) + polygamma(3, v[0]); }, {pos}, tol);
    for (Fn f : {i0, i0e, i1, i1e})
      parity([f](const auto& v) { return f(v[0]); }, {x * 12.0}, tol);  // past 25
    parity([](const auto& v) { return mvlgamma(v[0], 3); }, {pos + 1.0}, tol);
    parity([](const auto& v) { return zeta(v[1].detach() + 1.5, v[0]); }, {pos, rand({9}, dt) * 6.0}, tol);
    parity([](const auto& v) { return lerp(v[0], v[1], v[2]); }, {x, other, rand({7, 1}, dt)}, tol);
    const Tensor bound = other.narrow(0, 0, 7);
    parity([](const auto& v) { return clamp(v[0].t(), v[1], v[2]); }, {x, bound - 0.5, bound + 0.5}, tol);
  }
  // The special values, on the device as on the host.
  const Tensor special = tensor<double>({0.0, -0.0, 1, -1, -2, 1.5, INFINITY, -INFINITY, NAN});
  for (auto f : {erfinv, digamma, lgamma, atanh, i0, i0e, i1, i1e})
    check_same(f(special.to(gpu)).to(Device::cpu()), f(special), 1e-12);
  // A float's parts and neighbours: bit for bit, subnormals and signed zeros included.
  for (const DType dt : {kFloat64, kFloat32}) {
    const Tensor parts_of = cat({special, tensor<double>({1e-40, -1e-310, 3e38})}).to(dt);
    check_same(signbit(parts_of.to(gpu)).to(Device::cpu()), signbit(parts_of), 0);
    check_same(signbit(-parts_of.to(gpu)).to(Device::cpu()), signbit(-parts_of), 0);
    const MantissaExponent on_gpu = frexp(parts_of.to(gpu)), on_cpu = frexp(parts_of);
    check_same(on_gpu.mantissa.to(Device::cpu()), on_cpu.mantissa, 0);
    CHECK(on_gpu.exponent.to(Device::cpu()).to_vector<std::int64_t>() ==
          on_cpu.exponent.to_vector<std::int64_t>());
    const Tensor toward = flip(parts_of, {0});
    check_same(nextafter(parts_of.to(gpu), toward.to(gpu)).to(Device::cpu()), nextafter(parts_of, toward), 0);
  }
  const Tensor orders = tensor<double>({2, 1, 1.5, 0.5, 3, 4, 2.5, 7, NAN});
  check_same(zeta(orders.to(gpu), special.to(gpu)).to(Device::cpu()), zeta(orders, special), 1e-12);
}

TEST_CASE("cuda: einsum, diagonal, diag, trace, outer") {
  manual_seed(42);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = tol_for(dt);
    const Tensor a = randn({3, 4}, dt), b = randn({4, 5}, dt), batch = randn({2, 1, 3, 4}, dt),
                 sq = randn({4, 4}, dt);
    parity([](const auto& v) { return einsum("ij,jk->ik", v); }, {a, b}, tol);
    parity([](const auto& v) { return einsum("...ij,jk->...ki", v); }, {batch, b}, tol);
    parity([](const auto& v) { return einsum("ii->i", v); }, {sq}, tol);
    parity([](const auto& v) { return einsum("ij,ij,j->", v); }, {a, a.t().t() * 2.0, randn({4}, dt)}, tol);
    parity([](const auto& v) { return diagonal(v[0], 1, 1, 2); }, {batch.squeeze(1)}, tol);
    parity([](const auto& v) { return diag(v[0], -1); }, {randn({3}, dt)}, tol);
    parity([](const auto& v) { return diag(v[0], 1); }, {a}, tol);
    parity([](const auto& v) { return trace(v[0]); }, {sq}, tol);
    parity([](const auto& v) { return outer(v[0], v[1]); }, {randn({3}, dt), randn({2}, dt)}, tol);
  }
}

TEST_CASE("cuda: a loss module's weights move with it") {
  manual_seed(43);
  const Tensor logits = randn({6, 4}), labels = tensor<std::int64_t>({0, 3, 1, 2, 3, 0}), w = rand({4}) + 0.5;
  nn::CrossEntropyLoss loss_fn(nn::CrossEntropyLossOptions().weight(w).label_smoothing(0.05));
  const double on_cpu = loss_fn(logits, labels).item();
  loss_fn.to(gpu);
  CHECK(loss_fn.weight.device() == gpu);
  const Tensor on_gpu = loss_fn(logits.to(gpu), labels.to(gpu));
  CHECK(on_gpu.device() == gpu);
  CHECK(on_gpu.item() == doctest::Approx(on_cpu).epsilon(1e-6));
  // (w itself moved with loss_fn: a buffer is the tensor it was given, as in PyTorch.)
  CHECK(w.device() == gpu);
  nn::BCEWithLogitsLoss bce(nn::BCEWithLogitsLossOptions().pos_weight(rand({4})).weight(rand({6, 1})));
  const Tensor targets = rand({6, 4});
  const double bce_cpu = bce(logits, targets).item();
  bce.to(gpu);
  CHECK(bce(logits.to(gpu), targets.to(gpu)).item() == doctest::Approx(bce_cpu).epsilon(1e-6));
}

TEST_CASE("cuda: embedding_bag") {
  manual_seed(44);
  const Tensor input = tensor<std::int64_t>({5, 0, 0, 2, 1, 5, 4}),
               offsets = tensor<std::int64_t>({0, 3, 3, 4});
  for (DType dt : {kFloat32, kFloat64})
    for (EmbeddingBagMode mode : {EmbeddingBagMode::sum, EmbeddingBagMode::mean, EmbeddingBagMode::max}) {
      parity(
          [&](const auto& v) {
            const bool on_gpu = v[0].device().is_cuda();
            return embedding_bag(v[0], on_gpu ? input.to(gpu) : input, on_gpu ? offsets.to(gpu) : offsets,
                                 mode, Tensor(), false, 0);
          },
          {randn({6, 3}, dt)}, tol_for(dt));
      parity([&](const auto& v) { return embedding_bag(v[0], input, offsets, EmbeddingBagMode::sum, v[1]); },
             {randn({6, 3}, dt), randn({7}, dt)}, tol_for(dt));
    }
}

TEST_CASE("cuda: elu and leaky_relu, one kernel each way with their parameter") {
  manual_seed(5);
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = randn({7, 9}, dt) * 3.0;
    for (double alpha : {1.0, 0.5})
      parity([alpha](const auto& v) { return elu(v[0], alpha); }, {x}, tol_for(dt));
    for (double slope : {0.01, 0.2})
      parity([slope](const auto& v) { return leaky_relu(v[0].t(), slope); }, {x}, tol_for(dt));
  }
  // alpha expm1(x), not alpha (e^x - 1), which rounds -1e-8 to 0 in float32.
  const Tensor tiny = tensor<float>({-1e-8f, -1e-5f, 0.0f, 2.0f});
  const Tensor on_gpu = elu(tiny.to(gpu), 1.0).to(Device::cpu());
  const std::vector<float> got = on_gpu.to_vector<float>();
  CHECK(std::abs(got[0] / -1e-8 - 1) < 1e-6);  // relative: e^x - 1 gives 0 here
  CHECK(std::abs(got[1] / (-1e-5 + 5e-11) - 1) < 1e-6);
  CHECK(got[2] == 0.0f);
  CHECK(got[3] == 2.0f);
}

TEST_CASE("cuda: sums, means, max/argmax, softmax and log_softmax") {
  manual_seed(5);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = tol_for(dt);
    const Tensor x = randn({4, 5, 6}, dt);
    parity([](const auto& v) { return sum(v[0]); }, {x}, tol);
    parity([](const auto& v) { return sum(v[0], {1}); }, {x}, tol);
    parity([](const auto& v) { return sum(v[0], {0, 2}, true); }, {x}, tol);
    parity([](const auto& v) { return mean(v[0], {2}); }, {x}, tol);
    // A mean on the GPU is its sum's last pass, dividing as it stores: every path.
    parity([](const auto& v) { return mean(v[0]); }, {x}, tol);
    parity([](const auto& v) { return mean(v[0], {0, 2}, true); }, {x}, tol);
    parity([](const auto& v) { return mean(v[0], {1}); }, {x}, tol);
    parity([](const auto& v) { return mean(v[0]); }, {randn({}, dt)}, tol);
    parity([](const auto& v) { return max(v[0], 1).values; }, {x}, tol);
    parity([](const auto& v) { return min(v[0], 2, true).values; }, {x}, tol);
    parity([](const auto& v) { return softmax(v[0], 1); }, {x}, tol);
    parity([](const auto& v) { return log_softmax(v[0], -1); }, {x}, tol);
    const Tensor long_rows = randn({3, 5000}, dt);  // the one-block-per-row path
    parity([](const auto& v) { return sum(v[0], {1}); }, {long_rows}, tol);
    parity([](const auto& v) { return log_softmax(v[0], 1); }, {long_rows}, tol);
    parity([](const auto& v) { return mean(v[0], {1}); }, {long_rows}, tol);
    // Sums whose outputs are too few to fill the GPU are cut into slices
    // (index_math.hpp's sum_split): one long row, two long rows, bias gradients
    // over a batch, a GCN-sized column mean.
    parity([](const auto& v) { return sum(v[0]); }, {randn({300000}, dt)}, tol);
    parity([](const auto& v) { return sum(v[0], {1}); }, {randn({2, 100003}, dt)}, tol);
    parity([](const auto& v) { return sum(v[0], {0}); }, {randn({128, 256}, dt)}, tol);
    parity([](const auto& v) { return sum(v[0], {0, 2, 3}); }, {randn({128, 32, 14, 14}, dt)}, tol);
    parity([](const auto& v) { return mean(v[0], {0}); }, {randn({2708, 16}, dt)}, tol);
    parity([](const auto& v) { return mean(v[0], {0, 2, 3}); }, {randn({128, 32, 14, 14}, dt)}, tol);
    parity([](const auto& v) { return mean(v[0]); }, {randn({300000}, dt)}, tol);
  }
  // Integer sums take the same slices and stay exact.
  const Tensor bits = randint(0, 2, {1 << 20}).to(kUInt8);
  CHECK(sum(bits.to(gpu)).item() == sum(bits).item());
  const Tensor counts = randint(-5, 6, {1000, 3});
  CHECK(sum(counts.to(gpu), {0}).to_vector<std::int64_t>() == sum(counts, {0}).to_vector<std::int64_t>());
  const Tensor x = randn({64, 10});
  CHECK(argmax(x.to(gpu), 1).to_vector<std::int64_t>() == argmax(x, 1).to_vector<std::int64_t>());
  CHECK(argmin(x.to(gpu), 0).to_vector<std::int64_t>() == argmin(x, 0).to_vector<std::int64_t>());
  // Ties pick the first index; a NaN wins, as on the CPU.
  const Tensor ties = tensor<float>({1, 3, 3, 0, std::numeric_limits<float>::quiet_NaN(), 2}, {2, 3});
  CHECK(argmax(ties.to(gpu), 1).to_vector<std::int64_t>() == argmax(ties, 1).to_vector<std::int64_t>());
  // Few long rows are cut into slices (a block each): the first extreme, or the first
  // NaN, wherever the slices fall; whole numbers give many ties.
  Tensor lots = (randn({3, 50000}) * 20.0).to(kInt64).to(kFloat32);
  lots.data_ptr<float>()[5000] = 1000;  // in the second slice, as are the next two
  lots.data_ptr<float>()[50000 + 6000] = -1000;
  lots.data_ptr<float>()[100000 + 7000] = 1000;
  for (bool minimum : {false, true}) {
    const auto pick = [minimum](const Tensor& t, std::int64_t dim) {
      return minimum ? argmin(t, dim) : argmax(t, dim);
    };
    CHECK(pick(lots.to(gpu), 1).to_vector<std::int64_t>() == pick(lots, 1).to_vector<std::int64_t>());
    CHECK(pick(lots.reshape({-1}).to(gpu), 0).item<std::int64_t>() ==
          pick(lots.reshape({-1}), 0).item<std::int64_t>());
  }
  parity([](const auto& v) { return max(v[0]); }, {lots}, 0);
  for (std::int64_t p : {123456, 40000, 99999}) lots.data_ptr<float>()[p] = NAN;
  CHECK(argmax(lots.to(gpu), 1).to_vector<std::int64_t>() == argmax(lots, 1).to_vector<std::int64_t>());
  CHECK(std::isnan(max(lots.to(gpu)).item()));
  CHECK(argmin(lots.reshape({-1}).to(gpu), 0).item<std::int64_t>() == 40000);
  const Tensor mask = randint(0, 2, {1000}).to(kUInt8);
  CHECK(sum(mask.to(gpu)).item() == sum(mask).item());
}

TEST_CASE("cuda: softmax and log_softmax of few long rows in slices, NaN and infinities as in one pass") {
  manual_seed(12);
  // Four rows of 20,000: four slices of 5,000 each (index_math.hpp's sum_split).
  REQUIRE(cuda_kernels::sum_split(4, 20000, 1).parts == 4);
  REQUIRE(cuda_kernels::sum_split(1, 1 << 20, 1).parts == 256);
  for (DType dt : {kFloat32, kFloat64}) {
    parity([](const auto& v) { return softmax(v[0], 1); }, {randn({4, 20000}, dt) * 3.0}, tol_for(dt));
    parity([](const auto& v) { return log_softmax(v[0], 0); }, {randn({20000, 2}, dt) * 3.0}, tol_for(dt));
    parity([](const auto& v) { return log_softmax(v[0], 0); }, {randn({1 << 20}, dt)}, tol_for(dt));
  }
  // Row 0: 800 in its first slice (exp(800 - m) overflows a double unless m is the
  // row's maximum), its third slice all -inf (exp gives 0 there: softmax 0,
  // log_softmax -inf); row 1: one NaN; row 2: only -inf; row 3: one +inf. The last
  // three are NaN throughout.
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = randn({4, 20000}) * 3.0;
  x.data_ptr<float>()[17] = 800;
  x.select(0, 0).narrow(0, 10000, 5000).fill_(-inf);
  x.data_ptr<float>()[20000 + 12345] = NAN;
  x.select(0, 2).fill_(-inf);
  x.data_ptr<float>()[60000 + 19999] = inf;
  for (bool log : {false, true}) {
    CAPTURE(log);
    const auto f = [log](const Tensor& t) { return log ? log_softmax(t, 1) : softmax(t, 1); };
    const Tensor want = f(x), got = f(x.to(gpu)).to(Device::cpu());
    check_same(got, want, 1e-5);
    CHECK(got.select(0, 0).narrow(0, 10000, 5000).to_vector<float>() ==
          std::vector<float>(5000, log ? -inf : 0.0f));
    for (std::int64_t row : {1, 2, 3}) CHECK(std::isnan(got.select(0, row).narrow(0, 777, 1).item()));
  }
}

TEST_CASE(
    "cuda: log_softmax and cross_entropy of logits far from 0 keep their precision, short rows and sliced") {
  // Two logits of 700 and the rest far below: log_softmax -log 2 at both to 1e-6 (as
  // (x - max) - log(sum); max + log(sum) first rounds to the float ulp of 700, 6e-5).
  for (const std::int64_t len : {10, 20000}) {
    CAPTURE(len);
    Tensor x = full({4, len}, 650.0);
    for (std::int64_t row = 0; row < 4; ++row) {
      x.data_ptr<float>()[row * len + row] = 700;
      x.data_ptr<float>()[row * len + len - 1] = 700;
    }
    const Tensor lp = log_softmax(x.to(gpu), 1).to(Device::cpu());
    const Tensor target = tensor<std::int64_t>({0, 1, 2, 3});
    const Tensor ce = cross_entropy(x.to(gpu), target.to(gpu), Reduction::none).to(Device::cpu());
    for (std::int64_t row = 0; row < 4; ++row) {
      CHECK(lp.select(0, row).select(0, row).item() == doctest::Approx(-std::log(2.0)).epsilon(1e-6));
      CHECK(ce.select(0, row).item() == doctest::Approx(std::log(2.0)).epsilon(1e-6));
    }
  }
}

TEST_CASE("cuda: topk picks the CPU's positions, NaN and ties included, and its values carry the gradient") {
  manual_seed(6);
  Tensor x = (randn({37, 50}) * 2.0).to(kInt64).to(kFloat32);  // whole numbers: many ties
  for (std::int64_t p : {3, 170, 171, 1000}) x.data_ptr<float>()[p] = NAN;
  for (bool largest : {true, false})
    for (std::int64_t dim : {0, 1})
      for (std::int64_t k : {1, 7, 37}) {
        INFO("largest " << largest << ", dim " << dim << ", k " << k);
        const auto on_cpu = topk(x, k, dim, largest);
        const auto on_gpu = topk(x.to(gpu), k, dim, largest);
        CHECK(on_gpu.indices.device() == gpu);
        CHECK(on_gpu.indices.to_vector<std::int64_t>() == on_cpu.indices.to_vector<std::int64_t>());
        check_same(on_gpu.values.to(Device::cpu()), on_cpu.values, 0);
      }
  // Few long rows with ties and NaN: each of a warp's lanes holds candidates of its own.
  Tensor wide = (randn({3, 20000}) * 30.0).to(kInt64).to(kFloat32);
  for (std::int64_t p : {5, 12345, 40001}) wide.data_ptr<float>()[p] = NAN;
  for (bool largest : {true, false}) {
    CHECK(topk(wide.to(gpu), 16, 1, largest).indices.to_vector<std::int64_t>() ==
          topk(wide, 16, 1, largest).indices.to_vector<std::int64_t>());
    CHECK(topk(wide.to(gpu), 3, 0, largest).indices.to_vector<std::int64_t>() ==
          topk(wide, 3, 0, largest).indices.to_vector<std::int64_t>());
  }
  const Tensor counts = randint(-3, 4, {5, 9});
  CHECK(topk(counts.to(gpu), 4).indices.to_vector<std::int64_t>() == topk(counts, 4).indices.to_vector<std::int64_t>());
  for (DType dt : {kFloat32, kFloat64})
    parity([](const auto& v) { return topk(v[0], 5, 1).values; }, {randn({6, 20}, dt)}, tol_for(dt));
}

TEST_CASE("cuda: sort and argsort give the CPU's order, NaN and ties included; topk with many picks sorts") {
  manual_seed(8);
  for (std::int64_t len : {1, 2, 3, 17, 64, 100, 700}) {
    Tensor x = (randn({5, len}) * 2.0).to(kInt64).to(kFloat32);  // whole numbers: many ties
    if (len > 3) x.data_ptr<float>()[2] = x.data_ptr<float>()[len + 1] = NAN;
    for (bool descending : {false, true}) {
      INFO("len " << len << ", descending " << descending);
      const auto on_cpu = sort(x, 1, descending);
      const auto on_gpu = sort(x.to(gpu), 1, descending);
      CHECK(on_gpu.indices.to_vector<std::int64_t>() == on_cpu.indices.to_vector<std::int64_t>());
      check_same(on_gpu.values.to(Device::cpu()), on_cpu.values, 0);
      CHECK(argsort(x.to(gpu), 0, descending).to_vector<std::int64_t>() ==
            argsort(x, 0, descending).to_vector<std::int64_t>());
      const std::int64_t k = len / 2 + 1;  // past 16 picks on the longer rows: the sorting path
      CHECK(topk(x.to(gpu), k, 1, !descending).indices.to_vector<std::int64_t>() ==
            topk(x, k, 1, !descending).indices.to_vector<std::int64_t>());
    }
  }
  // Rows longer than a block sorts in shared memory (2048 positions): steps that pair
  // positions further apart run over the whole tensor; more than 1024 such rows go
  // through scratch in two groups.
  for (const Shape& shape : {Shape{3, 5000}, Shape{1, 2049}, Shape{1030, 2100}}) {
    Tensor x = (randn(shape) * 40.0).to(kInt64).to(kFloat32);  // whole numbers: many ties
    for (std::int64_t p : {std::int64_t(7), shape[1] + 3, shape[1] - 1}) x.data_ptr<float>()[p] = NAN;
    for (bool descending : {false, true}) {
      INFO("shape " << shape[0] << " x " << shape[1] << ", descending " << descending);
      CHECK(argsort(x.to(gpu), 1, descending).to_vector<std::int64_t>() ==
            argsort(x, 1, descending).to_vector<std::int64_t>());
    }
  }
  const Tensor column = randn({4000, 2});
  CHECK(topk(column.to(gpu), 100, 0).indices.to_vector<std::int64_t>() ==
        topk(column, 100, 0).indices.to_vector<std::int64_t>());
  for (DType dt : {kFloat32, kFloat64})
    parity([](const auto& v) { return sort(v[0], 1, true).values; }, {randn({6, 40}, dt)}, tol_for(dt));
}

TEST_CASE("cuda: norm and normalize") {
  manual_seed(9);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({5, 6}, dt);
    x.narrow(0, 2, 1).zero_();  // a zero row: a zero gradient on both devices
    for (double p : {1.0, 2.0, 3.0, double(INFINITY)})
      parity([p](const auto& v) { return norm(v[0], p, {1}); }, {x}, tol_for(dt));
    parity([](const auto& v) { return normalize(v[0]); }, {x}, tol_for(dt));
  }
}

TEST_CASE("cuda: cumsum along each dimension, forward and backward, integers as int64") {
  manual_seed(7);
  for (DType dt : {kFloat32, kFloat64})
    for (std::int64_t dim : {0, 1, 2, -1})
      parity([dim](const auto& v) { return cumsum(v[0], dim); }, {randn({3, 40, 5}, dt)}, tol_for(dt));
  parity([](const auto& v) { return cumsum(v[0].t(), 0); }, {randn({6, 9})}, tol_for(kFloat32));
  const Tensor counts = randint(-50, 50, {4, 70}).to(kInt32);
  const Tensor on_gpu = cumsum(counts.to(gpu), 1);
  CHECK(on_gpu.dtype() == kInt64);
  CHECK(on_gpu.to(Device::cpu()).to_vector<std::int64_t>() == cumsum(counts, 1).to_vector<std::int64_t>());
}

TEST_CASE("cuda: prod over every element and along each dimension, zeros included, integers as int64") {
  manual_seed(9);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({3, 7, 4}, dt) + 1.0;
    x.narrow(1, 2, 1).narrow(2, 1, 2).zero_();  // a 0 in some lines along every dim
    for (std::int64_t dim : {0, 1, 2, -1})
      parity([dim](const auto& v) { return prod(v[0], dim); }, {x}, tol_for(dt));
    parity([](const auto& v) { return prod(v[0].narrow(1, 3, 2), 1, true); }, {x}, tol_for(dt));
    parity([](const auto& v) { return prod(v[0] * 0.5 + 1.0); }, {randn({5, 4}, dt)}, tol_for(dt));
  }
  const Tensor counts = randint(-3, 4, {4, 9}).to(kInt32);
  const Tensor on_gpu = prod(counts.to(gpu), 1);
  CHECK(on_gpu.dtype() == kInt64);
  CHECK(on_gpu.to(Device::cpu()).to_vector<std::int64_t>() == prod(counts, 1).to_vector<std::int64_t>());
}

TEST_CASE("cuda: cumsum and prod along few long lines, walked in slices") {
  manual_seed(10);
  // One line of 30,000 steps (117 slices), and six of 3,001 (46, the last one short).
  REQUIRE(cuda_kernels::scan_split(1, 30000, 1).parts > 100);
  REQUIRE(cuda_kernels::scan_split(2, 3001, 3).parts > 40);
  for (DType dt : {kFloat32, kFloat64}) {
    parity([](const auto& v) { return cumsum(v[0], 1); }, {randn({1, 30000}, dt)}, tol_for(dt));
    parity([](const auto& v) { return cumsum(v[0], 1); }, {randn({2, 3001, 3}, dt)}, tol_for(dt));
    // Factors near 1 keep the products in range; one line of the second has a zero.
    parity([](const auto& v) { return prod(v[0]); }, {exp(randn({200, 150}, dt) * 0.01)}, tol_for(dt));
    Tensor x = exp(randn({2, 3001, 3}, dt) * 0.01);
    x.narrow(1, 1234, 1).narrow(2, 1, 1).zero_();
    parity([](const auto& v) { return prod(v[0], 1); }, {x}, tol_for(dt));
  }
  const Tensor counts = randint(-1000, 1000, {2, 3001, 3});
  CHECK(cumsum(counts.to(gpu), 1).to(Device::cpu()).to_vector<std::int64_t>() ==
        cumsum(counts, 1).to_vector<std::int64_t>());
  const Tensor signs = randint(0, 2, {1, 30000}) * 2 - 1;  // int64 +-1: the product's sign
  CHECK(prod(signs.to(gpu), 1).item<std::int64_t>() == prod(signs, 1).item<std::int64_t>());
}

TEST_CASE("cuda: cumprod, cummax, cummin and logcumsumexp, whole lines and slices, match the CPU") {
  manual_seed(12);
  // {3, 40, 5}: a thread per line; {1, 30000} and {2, 3001, 3}: lines walked in slices.
  for (const Shape& shape : {Shape{3, 40, 5}, Shape{1, 30000}, Shape{2, 3001, 3}})
    for (DType dt : {kFloat32, kFloat64}) {
      INFO("shape " << shape[0] << "x" << shape[1] << ", " << dtype_name(dt));
      Tensor factors = exp(randn(shape, dt) * 0.01);
      factors.narrow(1, 7, 1).zero_();  // a 0 in some lines
      parity([](const auto& v) { return cumprod(v[0], 1); }, {factors}, tol_for(dt));
      parity([](const auto& v) { return logcumsumexp(v[0], 1); }, {randn(shape, dt) * 4.0}, tol_for(dt));
      const Tensor ties = randint(0, 5, shape).to(dt);
      for (const bool largest : {true, false}) {
        const auto on_cpu = largest ? cummax(ties, 1) : cummin(ties, 1);
        const auto on_gpu = largest ? cummax(ties.to(gpu), 1) : cummin(ties.to(gpu), 1);
        CHECK(on_gpu.values.to(Device::cpu()).to_vector<double>() == on_cpu.values.to_vector<double>());
        CHECK(on_gpu.indices.to(Device::cpu()).to_vector<std::int64_t>() ==
              on_cpu.indices.to_vector<std::int64_t>());
      }
      parity([](const auto& v) { return cummax(v[0], 1).values; }, {randn(shape, dt)}, tol_for(dt));
      parity([](const auto& v) { return cummin(v[0], -1).values; }, {randn(shape, dt)}, tol_for(dt));
    }
  const Tensor counts = randint(-3, 4, {4, 9}).to(kInt32);
  CHECK(cumprod(counts.to(gpu), 1).to(Device::cpu()).to_vector<std::int64_t>() ==
        cumprod(counts, 1).to_vector<std::int64_t>());
  CHECK(cummin(counts.to(gpu), 0).values.to(Device::cpu()).to_vector<std::int32_t>() ==
        cummin(counts, 0).values.to_vector<std::int32_t>());
}

TEST_CASE("cuda: searchsorted, bucketize, bincount, histc, unique and unique_consecutive match the CPU") {
  manual_seed(16);
  for (DType dt : {kFloat32, kFloat64, kInt64}) {
    INFO(dtype_name(dt));
    const Tensor seq = sort(randint(0, 30, {4, 50}).to(dt), -1).values,
                 vals = randint(-2, 33, {4, 70}).to(dt);
    for (const bool right : {false, true}) {
      CHECK(searchsorted(seq.to(gpu), vals.to(gpu), right).to(Device::cpu()).to_vector<std::int64_t>() ==
            searchsorted(seq, vals, right).to_vector<std::int64_t>());
      CHECK(bucketize(vals.to(gpu), seq[0].to(gpu), right).to(Device::cpu()).to_vector<std::int64_t>() ==
            bucketize(vals, seq[0], right).to_vector<std::int64_t>());
    }
    const Unique on_cpu = unique(vals), on_gpu = unique(vals.to(gpu));
    CHECK(on_gpu.values.to(Device::cpu()).to_vector<double>() == on_cpu.values.to_vector<double>());
    CHECK(on_gpu.inverse.to(Device::cpu()).to_vector<std::int64_t>() ==
          on_cpu.inverse.to_vector<std::int64_t>());
    CHECK(on_gpu.counts.to(Device::cpu()).to_vector<std::int64_t>() ==
          on_cpu.counts.to_vector<std::int64_t>());
    const Tensor steps = floor(vals.to(kFloat64) * 0.5);  // runs of repeats
    const Unique runs_cpu = unique_consecutive(steps), runs_gpu = unique_consecutive(steps.to(gpu));
    CHECK(runs_gpu.values.to(Device::cpu()).to_vector<double>() == runs_cpu.values.to_vector<double>());
    CHECK(runs_gpu.inverse.to(Device::cpu()).to_vector<std::int64_t>() ==
          runs_cpu.inverse.to_vector<std::int64_t>());
    CHECK(runs_gpu.counts.to(Device::cpu()).to_vector<std::int64_t>() ==
          runs_cpu.counts.to_vector<std::int64_t>());
  }
  const Tensor x = randint(0, 12, {300});
  CHECK(bincount(x.to(gpu)).to(Device::cpu()).to_vector<std::int64_t>() ==
        bincount(x).to_vector<std::int64_t>());
  parity([&x](const auto& v) { return bincount(x.to(v[0].device()), v[0], 20); }, {randn({300})},
         tol_for(kFloat32));
  const Tensor r = randn({1000});
  check_same(histc(r.to(gpu), 16, -2, 2).to(Device::cpu()), histc(r, 16, -2, 2), 0);
  check_same(histc(r.to(gpu), 10).to(Device::cpu()), histc(r, 10), 0);
}

TEST_CASE("cuda: spmm, edge_softmax and row indices over rows longer than a chunk (hubs) match the CPU") {
  manual_seed(11);
  using cuda_kernels::kCsrChunk;
  // Hubs: node 0 with 5000 neighbours, nodes 1-4 with 1023-1026 (with their self
  // loops 1024-1027: a chunk exactly, then just over), the last node with 2100;
  // random edges among the rest.
  const std::int64_t nodes = 6000;
  std::vector<graph::Edge> edges;
  for (std::int64_t k = 0; k < 5000; ++k) edges.emplace_back(0, 10 + k);
  for (std::int64_t h = 1; h <= 4; ++h)
    for (std::int64_t k = 0; k < 1022 + h; ++k) edges.emplace_back(h, 10 + k);
  for (std::int64_t k = 0; k < 2100; ++k) edges.emplace_back(nodes - 1, 10 + k);
  for (int k = 0; k < 3000; ++k)
    edges.emplace_back(randint(10, nodes - 1, {1}).item<std::int64_t>(),
                       randint(10, nodes - 1, {1}).item<std::int64_t>());
  const graph::CsrMatrix a = graph::normalize_symmetric(graph::CsrMatrix::undirected(nodes, edges));
  REQUIRE(a.row_ptr[2] - a.row_ptr[1] == kCsrChunk);
  REQUIRE(a.row_ptr[3] - a.row_ptr[2] == kCsrChunk + 1);
  const graph::DeviceCsr on_gpu(a, gpu), on_cpu(a);
  CHECK(on_gpu.longest_row() == 5001);
  const auto held = [&](const Tensor& t) -> const graph::DeviceCsr& {
    return t.device().is_cuda() ? on_gpu : on_cpu;
  };
  CHECK(on_gpu.row_idx().to(Device::cpu()).to_vector<std::int64_t>() ==
        on_cpu.row_idx().to_vector<std::int64_t>());
  for (DType dt : {kFloat32, kFloat64}) {
    // Symmetric: the backward runs over the same long rows.
    parity([&](const auto& v) { return spmm(held(v[0]), v[0]); }, {randn({nodes, 5}, dt)}, tol_for(dt));
    parity([&](const auto& v) { return edge_softmax(held(v[0]), v[0]); }, {randn({a.nnz(), 3}, dt) * 3.0},
           tol_for(dt));
  }
  // A directed matrix whose long rows (one in the middle, one last) have a short
  // transpose; 33 columns, one over a warp.
  std::vector<graph::Edge> entries;
  for (std::int64_t k = 0; k < 3000; ++k) entries.emplace_back(7, k * 2);
  for (std::int64_t k = 0; k < 1500; ++k) entries.emplace_back(49, k * 3 + 1);
  for (int k = 0; k < 400; ++k)
    entries.emplace_back(randint(0, 49, {1}).item<std::int64_t>(),
                         randint(0, nodes, {1}).item<std::int64_t>());
  const graph::CsrMatrix directed = graph::CsrMatrix::from_coo(50, nodes, entries);
  // Values of 1: sums of 3000 normal numbers, grouped by chunk on the GPU, so float32
  // differs from the CPU's running sum by more than the usual 1e-5.
  parity([&directed](const auto& v) { return spmm(directed, v[0]); }, {randn({nodes, 33})}, 1e-4);
  parity([&directed](const auto& v) { return spmm(directed, v[0]); }, {randn({nodes, 33}, kFloat64)},
         tol_for(kFloat64));
}

TEST_CASE("cuda: matmul through cuBLAS, transposed views and batches included") {
  manual_seed(6);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
    parity([](const auto& v) { return matmul(v[0], v[1]); }, {randn({17, 33}, dt), randn({33, 9}, dt)}, tol);
    parity([](const auto& v) { return matmul(v[0].t(), v[1]); }, {randn({33, 17}, dt), randn({33, 9}, dt)}, tol);
    parity([](const auto& v) { return matmul(v[0], v[1].t()); }, {randn({17, 33}, dt), randn({9, 33}, dt)}, tol);
    parity([](const auto& v) { return matmul(v[0], v[1]); }, {randn({2, 3, 8, 5}, dt), randn({3, 5, 4}, dt)}, tol);
    parity([](const auto& v) { return matmul(v[0], v[1]); }, {randn({6}, dt), randn({6, 4}, dt)}, tol);
    parity([](const auto& v) { return linear(v[0], v[1], v[2]); },
           {randn({12, 20}, dt), randn({7, 20}, dt), randn({7}, dt)}, tol);
    parity([](const auto& v) { return linear(v[0], v[1]); }, {randn({2, 3, 20}, dt), randn({7, 20}, dt)}, tol);
  }
  const Tensor big_a = randn({300, 200}), big_b = randn({200, 150});
  check_same(matmul(big_a.to(gpu), big_b.to(gpu)).to(Device::cpu()), matmul(big_a, big_b), 1e-4);
}

TEST_CASE("cuda: cross_entropy, every reduction and label smoothing") {
  manual_seed(7);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = tol_for(dt);
    const Tensor logits = randn({37, 10}, dt) * 3.0;
    const Tensor target = randint(0, 10, {37});
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      for (double eps : {0.0, 0.1})
        parity([target, r, eps](const auto& v) { return cross_entropy(v[0], target.to(v[0].device()), r, eps); },
               {logits}, tol);
  }
  // Few samples of many classes: cut into slices (4 of 5,000 classes each).
  REQUIRE(cuda_kernels::sum_split(4, 20000, 1).parts == 4);
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor many = randn({4, 20000}, dt) * 3.0;
    const Tensor target = tensor<std::int64_t>({0, 19999, 12345, 5000});
    for (Reduction r : {Reduction::mean, Reduction::none})
      for (double eps : {0.0, 0.1})
        parity(
            [target, r, eps](const auto& v) { return cross_entropy(v[0], target.to(v[0].device()), r, eps); },
            {many}, tol_for(dt));
  }
  const Tensor bad = cross_entropy(randn({4, 20000}).to(gpu), tensor<std::int64_t>({0, 1, 20000, 2}).to(gpu),
                                   Reduction::none);
  CHECK_THROWS_WITH_AS(bad.to(Device::cpu()),
                       doctest::Contains("target 20000 of sample 2 is not a class index in [0, 20000)"),
                       Error);
  const std::vector<float> losses = bad.to_vector<float>();
  CHECK(std::isnan(losses[2]));
  CHECK(std::isfinite(losses[0]));
  const Tensor logits = randn({4, 3}).to(gpu);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, tensor<std::int64_t>({0, 1, 2, 2})), doctest::Contains("targets on cpu"),
                       Error);
}

TEST_CASE("cuda: views send their gradients back on the GPU") {
  manual_seed(10);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = tol_for(dt);
    parity([](const auto& v) { return v[0].narrow(0, 1, 2) * 2.0; }, {randn({4, 3}, dt)}, tol);
    parity([](const auto& v) { return v[0].slice(1, 0, 5, 2); }, {randn({3, 6}, dt)}, tol);
    parity([](const auto& v) { return v[0].select(0, 1); }, {randn({3, 6}, dt)}, tol);
    // Two views of one tensor: their gradients meet, and add, on the GPU.
    parity([](const auto& v) { return v[0].narrow(0, 0, 2) * v[0].narrow(0, 1, 2); }, {randn({3, 4}, dt)}, tol);
    parity([](const auto& v) { return split(v[0], 2, 1)[1] * chunk(v[0], 3, 1)[0]; }, {randn({3, 4}, dt)}, tol);
    parity([](const auto& v) { return flip(v[0], {0, 2}); }, {randn({3, 4, 5}, dt)}, tol);
    parity([](const auto& v) { return masked_fill(v[0], gt(v[0], scalar_like(v[0], 0.3)), -1.5); },
           {randn({3, 4}, dt)}, tol);
  }
}

TEST_CASE("cuda: anomaly mode checks GPU tensors; a gradient on the wrong device is named") {
  {
    const DetectAnomalyGuard anomaly;
    const Tensor x = randn({4}).to(gpu).requires_grad_();
    sum(x * x).backward();  // all finite: no error
    CHECK(x.grad().device() == gpu);
    const Tensor y = tensor<float>({1, 0, 2}).to(gpu).requires_grad_();
    CHECK_THROWS_WITH_AS(sum(log(y)), doctest::Contains("anomaly detected: the forward of 'log'"), Error);
  }
  // An op whose backward (wrongly) answers on the CPU for an input on the GPU.
  const auto stray = [](const Tensor& x) {
    Tensor out = x.detach().clone();
    attach_grad_fn(out, "stray", {x}, [](const Tensor& g) { return Grads{g.to(Device::cpu())}; });
    return out;
  };
  const Tensor x = randn({3}).to(gpu).requires_grad_();
  CHECK_THROWS_WITH_AS(sum(stray(x)).backward(),
                       "backward: a gradient on cpu reached a leaf on cuda:0 (a backward rule returned it on the "
                       "wrong device)",
                       Error);
  CHECK_THROWS_WITH_AS(sum(stray(x) + x * 2.0).backward(), doctest::Contains("on the wrong device"), Error);
}

TEST_CASE("cuda: a bad cross_entropy target is an Error at the next copy to the host, once") {
  manual_seed(8);
  const Tensor logits_cpu = randn({4, 3});
  const Tensor logits = logits_cpu.to(gpu);
  const Tensor good = tensor<std::int64_t>({0, 1, 2, 2});
  const double expected = cross_entropy(logits_cpu, good).item();

  // The call returns at once (the kernel checks the targets); the loss reads back as an Error.
  const Tensor loss = cross_entropy(logits, tensor<std::int64_t>({0, 1, 3, 2}).to(gpu));
  CHECK_THROWS_WITH_AS(loss.item(),
                       doctest::Contains("cross_entropy: target 3 of sample 2 is not a class index in [0, 3)"), Error);
  // Reported once: the next read-back is clean and the kernels still work.
  CHECK(cross_entropy(logits, good.to(gpu)).item() == doctest::Approx(expected).epsilon(1e-6));

  // Several bad targets: one is named, the rest counted; cuda::synchronize() reports too.
  (void)cross_entropy(logits, tensor<std::int64_t>({-1, 7, 3, 0}).to(gpu), Reduction::none);
  CHECK_THROWS_WITH_AS(cuda::synchronize(), doctest::Contains("(nor are 2 other targets)"), Error);
  cuda::synchronize();  // nothing left to report

  // Any copy to the host reports, whichever tensor it reads; the gradient stays finite.
  const Tensor leaf = logits.detach().requires_grad_(true);
  cross_entropy(leaf, tensor<std::int64_t>({0, 0, 0, 5}).to(gpu)).backward();
  CHECK_THROWS_WITH_AS(randn({2}).to(gpu).to(Device::cpu()), doctest::Contains("target 5 of sample 3"), Error);
  const std::vector<float> g = leaf.grad().to_vector<float>();
  CHECK(std::all_of(g.begin(), g.end(), [](float v) { return std::isfinite(v); }));

  // The row of docs/errors.md, message and all.
  CHECK_THROWS_WITH_AS(cross_entropy(ones({2, 3}).to(gpu), tensor<std::int64_t>({0, 3}).to(gpu)).item(),
                       "cross_entropy: target 3 of sample 1 is not a class index in [0, 3); found on cuda:0 by a "
                       "kernel that ran after the call returned (GPU work is asynchronous), and reported at this copy "
                       "to the host",
                       Error);
}

TEST_CASE("cuda: mixing devices is an error that says what to do") {
  const Tensor a = randn({3}), b = randn({3}).to(gpu);
  CHECK_THROWS_WITH_AS(add(a, b), "add: tensors on cpu and cuda:0; move them to one device with .to(device)", Error);
  CHECK_THROWS_WITH_AS(b.data_ptr<float>(),
                       "data_ptr: the tensor of shape (3) lives on cuda:0 and has no host address; an op that runs on "
                       "the CPU only (no CUDA kernel yet) or host code reading its elements needs a copy made with "
                       ".to(kiln::Device::cpu())",
                       Error);  // the errors.md row
  CHECK(b.device_data_ptr() != nullptr);
  // copy_ is the one op that crosses devices: it copies the source over.
  Tensor dst = zeros({3}, kFloat32, gpu);
  dst.copy_(a);
  CHECK(dst.to_vector<float>() == a.to_vector<float>());
  Tensor host = zeros({2, 3});
  host.copy_(b);  // broadcast from the GPU into a host tensor
  CHECK(host.select(0, 1).to_vector<float>() == b.to_vector<float>());
  // Host access refuses a GPU tensor instead of reading device memory.
  CHECK_THROWS_WITH_AS(b.at<float>({0}), doctest::Contains("at: the tensor of shape (3) lives on cuda:0"), Error);
  CHECK_THROWS_WITH_AS(randn({2}).to(Device::cuda(999)), doctest::Contains("does not exist"), Error);
}

TEST_CASE("cuda: device_properties describes every visible GPU") {
  for (int d = 0; d < cuda::device_count(); ++d) {
    const cuda::DeviceProperties p = cuda::device_properties(d);
    CAPTURE(p.name);
    CHECK_FALSE(p.name.empty());
    CHECK(p.compute_capability_major >= 3);
    CHECK(p.multiprocessors > 0);
    CHECK(p.total_memory_bytes > p.l2_cache_bytes);
    CHECK(p.l2_cache_bytes > 0);
  }
  CHECK_THROWS_WITH_AS(cuda::device_properties(cuda::device_count()), doctest::Contains("does not exist"), Error);
  CHECK(std::string(build_info()).find("GPU(s) visible: " + cuda::device_properties(0).name) != std::string::npos);
}

#if KILN_TEST_CUDA_RUNTIME
// A copy the user queues on kiln's stream sees every kiln kernel queued before it,
// with no synchronization in between.
TEST_CASE("cuda: current_stream orders the user's own work with kiln's") {
  cudaStream_t stream = cuda::current_stream(0);
  const std::int64_t n = std::int64_t(1) << 22;
  const Tensor x = randn({n}, kFloat32, gpu);
  const Tensor y = tanh(mul(x, x));  // kernels queued, not waited for
  std::vector<float> host(static_cast<std::size_t>(n), -1.0f);
  REQUIRE(cudaMemcpyAsync(host.data(), y.device_data_ptr(), n * sizeof(float), cudaMemcpyDeviceToHost, stream) ==
          cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  CHECK(host == y.to_vector<float>());
  CHECK_THROWS_WITH_AS(cuda::current_stream(cuda::device_count()), doctest::Contains("does not exist"), Error);
}
#endif

namespace {

// Uploads `host` while kernels are queued ahead of the copy, overwrites `host` as
// soon as .to() returns, and checks that the GPU copy holds what was there before.
void check_upload_then_overwrite(std::vector<float>& host) {
  const auto n = static_cast<std::int64_t>(host.size());
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i % 1000) * 0.5f;
  const std::vector<float> expected = host;
  const Tensor busy = randn({n}, kFloat32, gpu);
  const Tensor queued = tanh(mul(busy, busy));  // work the upload queues behind
  const Tensor up = from_blob(host.data(), {n}, kFloat32).to(gpu);
  std::fill(host.begin(), host.end(), -1.0f);
  CHECK(up.to_vector<float>() == expected);
  CHECK(queued.to_vector<float>() == tanh(mul(busy, busy)).to_vector<float>());
}

}  // namespace

// An upload may run behind the GPU's queued work, yet returns only once the caller
// may reuse its buffer, from pageable and from page-locked memory alike.
TEST_CASE("cuda: an upload has copied the host buffer by the time it returns") {
  std::vector<float> host(static_cast<std::size_t>(1) << 22);
  check_upload_then_overwrite(host);
#if KILN_TEST_CUDA_RUNTIME
  REQUIRE(cudaHostRegister(host.data(), host.size() * sizeof(float), cudaHostRegisterDefault) == cudaSuccess);
  check_upload_then_overwrite(host);
  REQUIRE(cudaHostUnregister(host.data()) == cudaSuccess);
#endif
}

TEST_CASE("cuda: the caching allocator reuses blocks and reports its memory") {
  cuda::synchronize();
  cuda::empty_cache();
  const cuda::MemoryStats before = cuda::memory_stats();
  {
    const Tensor t = empty({1 << 20}, kFloat32, gpu);  // 4 MiB
    const cuda::MemoryStats during = cuda::memory_stats();
    CHECK(during.allocated_bytes >= before.allocated_bytes + (4u << 20));
    CHECK(during.reserved_bytes >= during.allocated_bytes);
    CHECK(during.peak_allocated_bytes >= during.allocated_bytes);
  }
  const cuda::MemoryStats after = cuda::memory_stats();
  CHECK(after.allocated_bytes == before.allocated_bytes);
  CHECK(after.reserved_bytes >= before.reserved_bytes + (4u << 20));  // cached, not freed
  {
    const Tensor again = empty({1 << 20}, kFloat32, gpu);  // served by the block just freed
    CHECK(cuda::memory_stats().cache_hits == after.cache_hits + 1);
  }
  cuda::empty_cache();  // the block is back in the cache: this hands it to the driver
  CHECK(cuda::memory_stats().reserved_bytes + (4u << 20) <= after.reserved_bytes);
}

TEST_CASE("cuda: constant operands are shared from a cache that empty_cache() drops") {
  const Tensor x = randn({1000}).to(gpu);
  cuda::synchronize();
  cuda::empty_cache();  // drops every cached constant too
  const std::size_t base = cuda::memory_stats().allocated_bytes;
  const Tensor y = x * 7.5;
  CHECK(cuda::memory_stats().allocated_bytes > base + 1000 * sizeof(float));  // y and the held 7.5
  check_same(y.to(Device::cpu()), x.to(Device::cpu()) * 7.5, 0);
  const Tensor z = x * 7.5;  // the same constant again
  check_same(z.to(Device::cpu()), y.to(Device::cpu()), 0);
  cuda::synchronize();
  const std::size_t with_y_and_z = cuda::memory_stats().allocated_bytes;
  cuda::empty_cache();
  CHECK(cuda::memory_stats().allocated_bytes < with_y_and_z);  // the constant's block went back
  check_same((x * 7.5).to(Device::cpu()), y.to(Device::cpu()), 0);  // made again on demand
}

// No kernel may launch on an empty grid and no cuBLAS call may get an empty size: every
// op of op_cases() gives the CPU's outputs (NaN and -inf included) and gradients.
TEST_CASE("cuda: ops on tensors with no elements match the CPU") {
  for (const Shape& shape : zero_size_shapes())
    for (const OpCase& c : op_cases()) {
      INFO(c.name << " on " << fmt(shape));
      if (!c.f(zeros(shape, kFloat64)).defined()) continue;
      parity([&](const auto& v) { return c.f(v[0]); }, {zeros(shape, kFloat64)}, 1e-12);
    }
}

TEST_CASE("cuda: reductions of a 0-d tensor over its dimension 0 match the CPU") {
  const Tensor x = scalar_tensor(1.5, kFloat64);
  parity([](const auto& v) { return sum(v[0], {0}); }, {x}, 1e-12);
  parity([](const auto& v) { return mean(v[0], {-1}, true); }, {x}, 1e-12);
  parity([](const auto& v) { return logsumexp(v[0], {0}); }, {x}, 1e-12);
  parity([](const auto& v) { return norm(v[0], 2.0, {0}); }, {x}, 1e-12);
  parity([](const auto& v) { return flip(v[0], {0}); }, {x}, 1e-12);
}

// Kernels that take strides (or make a tensor contiguous first) against the CPU: every op
// of op_cases() on a transposed view, on every other column, and on rows from an offset.
TEST_CASE("cuda: ops on strided views match the CPU") {
  manual_seed(31);
  const std::vector<std::function<Tensor(const Tensor&)>> views = {
      [](const Tensor& x) { return x.transpose(0, -1); },
      [](const Tensor& x) { return x.slice(-1, 0, x.size(-1), 2); },
      [](const Tensor& x) { return x.slice(0, 1, x.size(0)); },
  };
  for (const Shape& shape : {Shape{5, 6}, Shape{3, 5, 6}})
    for (std::size_t v = 0; v < views.size(); ++v)
      for (const OpCase& c : op_cases()) {
        INFO(c.name << " on view " << v << " of " << fmt(shape));
        const auto f = [&](const auto& in) { return c.f(views[v](in[0])); };
        if (!f(std::vector<Tensor>{zeros(shape, kFloat64)}).defined()) continue;
        if (c.name == "dropout")
          continue;  // the GPU draws its own mask (checked against the CPU's elsewhere)
        parity(f, {randn(shape, kFloat64)}, 1e-10);
      }
}

}  // namespace kiln::test
