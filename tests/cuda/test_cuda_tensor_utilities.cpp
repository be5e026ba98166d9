// The arranging ops, the small elementwise and reduction additions, isin, the batched
// products, pad_sequence, rrelu, pdist, the trapezoidal rule, vander, repeat_interleave,
// tile, the closeness tests and the distributions on the GPU against the CPU: values and
// gradients; the out-of-place writes and NumPy-style stacking; and the random draws
// shaped by tensors on the device.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

TEST_CASE(
    "cuda: movedim, rot90, diag_embed, block_diag, meshgrid, cartesian_prod, take_along_dim, take, put, "
    "fliplr, flipud, renorm, ldexp, float_power, unravel_index") {
  manual_seed(120);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({2, 3, 4}, dt);
    parity([](const auto& v) { return movedim(v[0], {0, 2}, {2, 0}) * 2.0; }, {x}, tol_for(dt));
    parity([](const auto& v) { return rot90(v[0], 3, {1, 2}); }, {x}, tol_for(dt));
    parity([](const auto& v) { return diag_embed(v[0], -1, 0, 3); }, {x}, tol_for(dt));
    parity(
        [](const auto& v) {
          return block_diag({v[0].select(0, 0), v[1]});
        },
        {x, randn({5}, dt)}, tol_for(dt));
    parity(
        [](const auto& v) {
          return cartesian_prod({v[0], v[1]});
        },
        {randn({3}, dt), randn({2}, dt)}, tol_for(dt));
    parity(
        [](const auto& v) {
          const auto g = meshgrid({v[0], v[1]}, MeshIndexing::xy);
          return g[0] * g[1];
        },
        {randn({3}, dt), randn({4}, dt)}, tol_for(dt));
    parity([](const auto& v) { return take_along_dim(v[0], v[1], 2); }, {x, argsort(randn({2, 1, 4}), 2)},
           tol_for(dt));
    const Tensor positions = from_vector(std::vector<std::int64_t>{3, -1, 20, 3, 0, -24}, {2, 3});
    parity([](const auto& v) { return take(v[0], v[1]); }, {x, positions}, tol_for(dt));
    parity([](const auto& v) { return put(v[0], v[2], v[1], true); }, {x, randn({2, 3}, dt), positions},
           tol_for(dt));
    parity([](const auto& v) { return fliplr(v[0]) + flipud(v[0]); }, {x}, tol_for(dt));
    parity([](const auto& v) { return renorm(v[0], 2, 1, 1.5); }, {x}, tol_for(dt));
    parity([](const auto& v) { return ldexp(v[0], v[1]); }, {x, randn({4}, dt)}, tol_for(dt));
    parity([](const auto& v) { return float_power(v[0], v[1]); }, {abs(x) + 0.5, randn({4}, dt)},
           tol_for(dt));
  }
  const std::vector<Tensor> coords =
      unravel_index(from_vector(std::vector<std::int64_t>{0, 23, 9}).to(gpu), {2, 3, 4});
  CHECK(coords[2].device() == gpu);
  CHECK(coords[0].to(Device::cpu()).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 0});
  CHECK(coords[1].to(Device::cpu()).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2, 2});
  CHECK(coords[2].to(Device::cpu()).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 3, 1});
}

TEST_CASE(
    "cuda: addcmul, addcdiv, fmax, fmin, copysign, sinc, var_mean, aminmax, isin, bmm, addmm, baddbmm") {
  manual_seed(121);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor a = randn({3, 4}, dt), b = randn({3, 4}, dt), c = rand({4}, dt) + 1.0;
    parity([](const auto& v) { return addcmul(v[0], v[1], v[2], 0.5) + addcdiv(v[1], v[0], v[2], -2); },
           {a, b, c}, tol_for(dt));
    parity([](const auto& v) { return fmax(v[0], v[1]) + fmin(v[0], v[1]) * 3.0; }, {a, b}, tol_for(dt));
    parity([](const auto& v) { return copysign(v[0], v[1]); }, {a, b}, tol_for(dt));
    parity([](const auto& v) { return sinc(v[0] * 2.0); }, {a}, tol_for(dt) * 10);
    parity(
        [](const auto& v) {
          const SpreadMean r = std_mean(v[0], {1}, true);
          return r.spread + r.mean;
        },
        {a}, tol_for(dt));
    parity(
        [](const auto& v) {
          const MinMax r = aminmax(v[0], 0);
          return r.max - r.min;
        },
        {a}, tol_for(dt));
    const Tensor whole = floor(a * 2.0), picks = floor(b.narrow(0, 0, 1) * 2.0);
    CHECK(isin(whole.to(gpu), picks.to(gpu)).to(Device::cpu()).to_vector<std::uint8_t>() ==
          isin(whole, picks).to_vector<std::uint8_t>());
    const Tensor b1 = randn({2, 3, 4}, dt), b2 = randn({2, 4, 5}, dt);
    parity([](const auto& v) { return bmm(v[0], v[1]); }, {b1, b2}, tol_for(dt) * 10);
    parity([](const auto& v) { return baddbmm(v[0], v[1], v[2], 0.5, 2.0); }, {randn({1, 5}, dt), b1, b2},
           tol_for(dt) * 10);
    parity(
        [](const auto& v) {
          return nn::pad_sequence({v[0], v[1]}, true, 0.5);
        },
        {a, b.narrow(0, 0, 2)}, tol_for(dt));
    parity([](const auto& v) { return rrelu(v[0], 0.1, 0.3) + pdist(v[0], 3); }, {a.narrow(1, 0, 3)},
           tol_for(dt) * 10);
    parity([](const auto& v) { return cumulative_trapezoid(v[0], v[1], 1) * 2.0; }, {a, c}, tol_for(dt));
    parity([](const auto& v) { return vander(v[0], 4); }, {c}, tol_for(dt));
    parity([](const auto& v) { return addmm(v[0], v[1], v[2], 0.0, 1.5); },
           {randn({3, 5}, dt), b1.select(0, 0), b2.select(0, 1)}, tol_for(dt) * 10);
    const Tensor counts = from_vector(std::vector<std::int64_t>{2, 0, 1, 3}, {4});
    parity([&](const auto& v) { return repeat_interleave(v[0], counts.to(v[0].device()), 1); }, {a},
           tol_for(dt));
    parity([](const auto& v) { return tile(v[0], {2, 1, 3}); }, {a}, tol_for(dt));
    CHECK(repeat_interleave(counts.to(gpu)).device() == gpu);
    CHECK(repeat_interleave(counts.to(gpu)).to(Device::cpu()).to_vector<std::int64_t>() ==
          repeat_interleave(counts).to_vector<std::int64_t>());
    const Tensor near = a + a * 1e-6;
    CHECK(isclose(a.to(gpu), near.to(gpu), 1e-6).to(Device::cpu()).to_vector<std::uint8_t>() ==
          isclose(a, near, 1e-6).to_vector<std::uint8_t>());
    CHECK(allclose(a.to(gpu), near.to(gpu), 1e-5));
    CHECK(equal(a.to(gpu), a.to(gpu)));
  }
}

TEST_CASE("cuda: distributions' densities, entropies and KL divergences; samples on the device") {
  namespace D = kiln::distributions;
  manual_seed(71);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor mu = randn({3, 4}, dt), sigma = rand({3, 4}, dt) + 0.5, x = randn({3, 4}, dt);
    parity(
        [](const auto& v) {
          const D::Normal p(v[0], v[1]);
          return p.log_prob(v[2]) + p.entropy() + p.cdf(v[2]) +
                 D::kl_divergence(p, D::Normal(v[2], v[1] * 2.0));
        },
        {mu, sigma, x}, tol_for(dt) * 10);
    parity(
        [](const auto& v) {
          const D::Bernoulli b = D::Bernoulli::from_logits(v[0]);
          return b.log_prob(v[1]) + b.entropy() + D::kl_divergence(b, D::Bernoulli::from_logits(v[2]));
        },
        {mu, (x > 0.0).to(dt), x}, tol_for(dt) * 10);
    const Tensor classes = randint(0, 4, {3});
    parity(
        [&](const auto& v) {
          const D::Categorical c = D::Categorical::from_logits(v[0]);
          return c.log_prob(classes.to(v[0].device())) + c.entropy() +
                 D::kl_divergence(c, D::Categorical::from_logits(v[1]));
        },
        {mu, x}, tol_for(dt) * 10);
    const Tensor drawn = D::Categorical::from_logits(mu.to(gpu)).sample({5});
    CHECK(drawn.device() == gpu);
    CHECK(drawn.shape() == Shape{5, 3});
    CHECK(D::Normal(mu.to(gpu), sigma.to(gpu)).rsample().device() == gpu);
    CHECK(D::Bernoulli::from_logits(mu.to(gpu)).sample().device() == gpu);
  }
}

TEST_CASE("cuda: slice / select / diagonal / masked scatter, index_put, tensor_split and the stacks") {
  manual_seed(121);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({3, 6}, dt);
    parity([](const auto& v) { return slice_scatter(v[0], v[1], 1, 1, 5, 2) * v[0]; }, {x, randn({3, 2}, dt)},
           tol_for(dt));
    parity([](const auto& v) { return select_scatter(v[0], v[1], 0, -1) * 2.0; }, {x, randn({6}, dt)},
           tol_for(dt));
    parity([](const auto& v) { return square(diagonal_scatter(v[0], v[1], 2)); }, {x, randn({3}, dt)},
           tol_for(dt));
    const Tensor mask = tensor<std::uint8_t>({1, 0, 0, 1, 1, 0});
    parity([&](const auto& v) { return masked_scatter(v[0], mask.to(v[0].device()), v[1]) * v[0]; },
           {x, randn({9}, dt)}, tol_for(dt));
    const Tensor rows = tensor<std::int64_t>({2, 0, 2}), mask_rows = tensor<std::uint8_t>({1, 0, 1});
    parity([&](const auto& v) { return index_put(v[0], {rows.to(v[0].device())}, v[1], true) * v[0]; },
           {x, randn({3, 6}, dt)}, tol_for(dt));
    parity([&](const auto& v) { return index_put(v[0], {mask_rows.to(v[0].device())}, v[1]); },
           {x, randn({6}, dt)}, tol_for(dt));
    parity(
        [](const auto& v) {
          const std::vector<Tensor> parts = tensor_split(v[0], std::vector<std::int64_t>{1, 4}, 1);
          return column_stack({parts[2], vstack({parts[0].t(), parts[1].t()}).t()}) * 3.0;
        },
        {x}, tol_for(dt));
  }
}

TEST_CASE("cuda: floor_divide, div, remainder and fmod of integers and floats give the CPU's values") {
  manual_seed(122);
  for (DType dt : {kInt64, kInt32, kInt8}) {
    INFO(dtype_name(dt));
    const Tensor a = randint(-100, 100, {40, 3}, dt),
                 b = randint(1, 9, {3}, dt) * tensor<std::int64_t>({1, -1, 1}).to(dt);
    using Division = Tensor (*)(const Tensor&, const Tensor&);
    const Division truncated = [](const Tensor& u, const Tensor& v) { return div(u, v, Rounding::trunc); };
    for (const Division f : {Division(floor_divide), Division(fmod), Division(remainder), truncated}) {
      const Tensor cpu = f(a, b), gpu_result = f(a.to(gpu), b.to(gpu)).to(Device::cpu());
      CHECK(gpu_result.dtype() == dt);
      CHECK(gpu_result.to(kInt64).to_vector<std::int64_t>() == cpu.to(kInt64).to_vector<std::int64_t>());
    }
    CHECK_THROWS_WITH_AS(floor_divide(a.to(gpu), zeros({3}, dt, gpu)),
                         doctest::Contains("cannot be divided by 0"), Error);
    // True division in float32, on the device.
    const Tensor ratio = div(a.to(gpu), b.to(gpu));
    CHECK(ratio.dtype() == kFloat32);
    CHECK(ratio.device() == gpu);
    check_same(ratio.to(Device::cpu()), div(a, b), 0);
    check_same((a.to(gpu) * 0.5).to(Device::cpu()), a * 0.5, 0);
    // Whole powers (wrapping) and clamping with whole bounds keep the integer dtype.
    const Tensor e = randint(-2, 12, {3}, dt);
    CHECK(pow(a.to(gpu), e.to(gpu)).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
          pow(a, e).to(kInt64).to_vector<std::int64_t>());
    CHECK(clamp(a.to(gpu), -10, 20).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
          clamp(a, -10, 20).to(kInt64).to_vector<std::int64_t>());
    using Unary = Tensor (*)(const Tensor&);
    for (const Unary f : {Unary(abs), Unary(sign), Unary(square)})
      CHECK(f(a.to(gpu)).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
            f(a).to(kInt64).to_vector<std::int64_t>());
    CHECK(amax(a.to(gpu), {0}).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
          amax(a, {0}).to(kInt64).to_vector<std::int64_t>());
  }
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor a = randn({50}, dt) * 10.0, b = tensor<double>({0.1, -0.3, 2.0, -0.0, INFINITY}).to(dt);
    const Tensor cpu = floor_divide(a.reshape({10, 5}), b);
    check_same(floor_divide(a.reshape({10, 5}).to(gpu), b.to(gpu)).to(Device::cpu()), cpu, 0);
    check_same(div(a.reshape({10, 5}).to(gpu), b.to(gpu), Rounding::trunc).to(Device::cpu()),
               div(a.reshape({10, 5}), b, Rounding::trunc), 0);
  }
}

TEST_CASE("cuda: bit operations, shifts, gcd and lcm give the CPU's values in each integer dtype") {
  manual_seed(123);
  for (DType dt : {kInt64, kInt32, kInt8, kUInt8}) {
    INFO(dtype_name(dt));
    const bool is_unsigned = dt == kUInt8;
    const Tensor a = randint(is_unsigned ? 0 : -100, 100, {30, 4}, dt),
                 b = randint(is_unsigned ? 0 : -100, 100, {4}, dt),
                 counts = randint(is_unsigned ? 0 : -2, 70, {30, 4}, dt);
    using Op = Tensor (*)(const Tensor&, const Tensor&);
    for (const Op f : {Op(bitwise_and), Op(bitwise_or), Op(bitwise_xor), Op(gcd), Op(lcm)}) {
      const Tensor on_gpu = f(a.to(gpu), b.to(gpu));
      CHECK(on_gpu.dtype() == dt);
      CHECK(on_gpu.to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
            f(a, b).to(kInt64).to_vector<std::int64_t>());
    }
    for (const Op f : {Op(bitwise_left_shift), Op(bitwise_right_shift)})
      CHECK(f(a.to(gpu), counts.to(gpu)).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
            f(a, counts).to(kInt64).to_vector<std::int64_t>());
    CHECK(bitwise_not(a.to(gpu)).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
          bitwise_not(a).to(kInt64).to_vector<std::int64_t>());
    CHECK(bitwise_and(a.to(gpu), 6).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
          bitwise_and(a, 6).to(kInt64).to_vector<std::int64_t>());
  }
}

TEST_CASE("cuda: integer sums, differences and products wrap around as on the CPU") {
  struct Ends {
    DType dtype;
    std::int64_t lowest, highest, root;  // root: just above the square root of highest
  };
  for (const Ends e : {Ends{kInt64, std::numeric_limits<std::int64_t>::min(),
                            std::numeric_limits<std::int64_t>::max(), 3037000500},
                       Ends{kInt32, -2147483648LL, 2147483647, 46341}, Ends{kInt8, -128, 127, 12}}) {
    INFO(dtype_name(e.dtype));
    const Tensor u = tensor<std::int64_t>({e.highest, e.lowest, e.highest, e.root, -7}).to(e.dtype),
                 v = tensor<std::int64_t>({1, 1, e.highest, e.root, e.lowest}).to(e.dtype);
    using Op = Tensor (*)(const Tensor&, const Tensor&);
    for (const Op f : {Op(add), Op(sub), Op(mul)})
      CHECK(f(u.to(gpu), v.to(gpu)).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
            f(u, v).to(kInt64).to_vector<std::int64_t>());
    CHECK(neg(u.to(gpu)).to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
          neg(u).to(kInt64).to_vector<std::int64_t>());
  }
  // int64 sums of values across the whole range, which overflow: short rows (a warp
  // each), long rows (a block each, or slices), a middle dim, and over everything.
  std::mt19937_64 bits(35);
  for (const Shape& shape : {Shape{3, 5}, Shape{2, 5000}, Shape{1, 100000}, Shape{4, 300, 6}}) {
    INFO(fmt(shape));
    std::vector<std::int64_t> values(static_cast<std::size_t>(numel_of(shape)));
    for (std::int64_t& value : values) value = static_cast<std::int64_t>(bits());
    const Tensor x = from_vector(values, shape);
    const std::int64_t along = shape.size() == 3 ? 1 : -1;
    CHECK(sum(x.to(gpu), {along}).to(Device::cpu()).to_vector<std::int64_t>() ==
          sum(x, {along}).to_vector<std::int64_t>());
    CHECK(sum(x.to(gpu)).to(Device::cpu()).to_vector<std::int64_t>() == sum(x).to_vector<std::int64_t>());
  }
}

TEST_CASE("cuda: bernoulli, multinomial, poisson and normal draw onto the parameters' device") {
  // multinomial and poisson draw on the host in the generator's order: the same seed gives
  // the CPU's draws. bernoulli and normal use the device's generator: checked by range.
  const Tensor weights = tensor<double>({{1.0, 0.0, 3.0}, {2.0, 2.0, 0.0}}),
               rates = tensor<float>({0.5f, 4.0f, 40.0f});
  for (bool replacement : {true, false}) {
    manual_seed(31);
    const Tensor on_cpu = multinomial(weights, 2, replacement);
    manual_seed(31);
    const Tensor on_gpu = multinomial(weights.to(gpu), 2, replacement);
    CHECK(on_gpu.device() == gpu);
    CHECK(on_gpu.to(Device::cpu()).to_vector<std::int64_t>() == on_cpu.to_vector<std::int64_t>());
  }
  manual_seed(32);
  const Tensor counts = poisson(rates);
  manual_seed(32);
  const Tensor counts_gpu = poisson(rates.to(gpu));
  CHECK(counts_gpu.device() == gpu);
  check_same(counts_gpu.to(Device::cpu()), counts, 0);
  const Tensor coin = bernoulli(full({1000}, 0.5, kFloat32, gpu));
  CHECK(coin.device() == gpu);
  CHECK(all(eq(coin, 0.0) | eq(coin, 1.0)).item() == 1);
  CHECK(bernoulli(zeros({4}, kFloat32, gpu)).to(Device::cpu()).to_vector<float>() ==
        std::vector<float>(4, 0.0f));
  const Tensor spread = normal(full({2, 1}, 3.0, kFloat64, gpu), zeros({3}, kFloat64, gpu));
  CHECK(spread.device() == gpu);
  check_values(spread.to(Device::cpu()), std::vector<double>(6, 3.0), 0);
  CHECK(randn_like(spread).device() == gpu);
}

}  // namespace kiln::test
