// Derivatives of derivatives: grad(..., create_graph), gradgradcheck of every op whose
// backward is marked differentiable, hessian / hvp / jvp, and the Error for an op whose
// backward is not.
#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::gradient_penalty;
using kiln::test::positive64;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
// d/dx of sum(f(x)), recorded.
Tensor first(const Tensor& y, const Tensor& x) {
  return grad(sum(y), {x}, Tensor(), {.create_graph = true})[0];
}
}  // namespace

TEST_CASE("create_graph: second and third derivatives of x^3 and sin") {
  const Tensor x = tensor<double>({-1.5, 0.5, 2.0}).requires_grad_();
  const Tensor d1 = first(x * x * x, x);
  CHECK(d1.requires_grad());
  check_values(d1, {6.75, 0.75, 12.0}, 1e-12);  // 3 x^2
  const Tensor d2 = first(d1, x);
  check_values(d2, {-9.0, 3.0, 12.0}, 1e-12);  // 6 x
  const Tensor d3 = grad(sum(d2), {x})[0];
  check_values(d3, {6.0, 6.0, 6.0}, 1e-12);
  CHECK_FALSE(d3.requires_grad());  // without create_graph, a plain tensor

  const Tensor s1 = first(sin(x), x);  // cos, -sin, -cos
  const Tensor s2 = first(s1, x);
  const Tensor s3 = grad(sum(s2), {x})[0];
  check_same(s2, neg(sin(x.detach())), 1e-12);
  check_same(s3, neg(cos(x.detach())), 1e-12);
}

TEST_CASE("create_graph: the first derivative is the one without it") {
  manual_seed(3);
  const Tensor x = rand64({4, 3}).requires_grad_();
  const Tensor w = rand64({3, 2}).requires_grad_();
  const auto f = [&] { return sum(tanh(matmul(x, w)) * sigmoid(sum(x, {1}, true))); };
  const std::vector<Tensor> plain = grad(f(), {x, w});
  const std::vector<Tensor> recorded = grad(f(), {x, w}, Tensor(), {.create_graph = true});
  CHECK(recorded[0].requires_grad());
  check_same(recorded[0], plain[0], 0.0);  // bit for bit
  check_same(recorded[1], plain[1], 0.0);
}

TEST_CASE("gradgradcheck: binary arithmetic with broadcasting") {
  manual_seed(21);
  KILN_CHECK_GRADGRAD([](const In& in) { return in[0] + in[1]; }, {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return in[0] - in[1]; }, {rand64({2, 1}), rand64({1, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return in[0] * in[1]; }, {rand64({4, 2, 3}), rand64({2, 1})});
  KILN_CHECK_GRADGRAD([](const In& in) { return in[0] / in[1]; }, {rand64({2, 3}), positive64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return pow(in[0], in[1]); }, {positive64({3}), rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return pow(in[0], 3.0); }, {rand64({5})});
  KILN_CHECK_GRADGRAD([](const In& in) { return maximum(in[0], in[1]) * in[0]; },
                      {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return minimum(in[0], in[1]) * in[1]; },
                      {rand64({2, 3}), rand64({2, 1})});
  KILN_CHECK_GRADGRAD([](const In& in) { return where(in[0] > 0.0, in[0] * in[1], in[1] * in[1]); },
                      {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return atan2(in[0], in[1]); }, {rand64({2, 3}), positive64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return hypot(in[0], in[1]); },
                      {positive64({2, 3}), positive64({3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return logaddexp(in[0], in[1]); }, {rand64({2, 3}), rand64({3})});
}

TEST_CASE("gradgradcheck: unary math and activations") {
  manual_seed(22);
  const Tensor away_from_kinks = tensor<double>({-2, -0.7, -0.3, 0.2, 0.9, 3});
  KILN_CHECK_GRADGRAD([](const In& in) { return neg(in[0]) * in[0]; }, {rand64({4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return exp(in[0]); }, {rand64({4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return log(in[0]); }, {positive64({4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return sqrt(in[0]); }, {positive64({4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return abs(in[0]) * in[0]; }, {away_from_kinks});
  KILN_CHECK_GRADGRAD([](const In& in) { return clamp(in[0], -0.5, 0.5) * in[0]; }, {away_from_kinks});
  KILN_CHECK_GRADGRAD([](const In& in) { return relu(in[0]) * in[0]; }, {away_from_kinks});
  KILN_CHECK_GRADGRAD([](const In& in) { return leaky_relu(in[0], 0.2) * in[0]; }, {away_from_kinks});
  KILN_CHECK_GRADGRAD([](const In& in) { return elu(in[0], 1.3); }, {away_from_kinks});
  KILN_CHECK_GRADGRAD([](const In& in) { return sigmoid(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return tanh(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return gelu(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return gelu(in[0], GeluApproximation::tanh); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return softplus(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return silu(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return mish(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return sin(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return cos(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return log1p(in[0]); }, {positive64({4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return expm1(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return erf(in[0]) + erfc(in[0] * 0.5); }, {rand64({5})});
  KILN_CHECK_GRADGRAD([](const In& in) { return atan(in[0]) + asinh(in[0]) + sinh(in[0]) + cosh(in[0]); },
                      {rand64({5})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return tan(in[0] * 0.5) + rsqrt(in[0] + 2.0) + reciprocal(in[0] + 2.0); },
      {positive64({5})});
  KILN_CHECK_GRADGRAD([](const In& in) { return log2(in[0]) + log10(in[0]) + exp2(in[0]); },
                      {positive64({5})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(in[0]) * in[0]; }, {rand64({5})});
  KILN_CHECK_GRADGRAD([](const In& in) { return asin(in[0]) + acos(in[0] * 0.5) + erfinv(in[0]); },
                      {tensor<double>({-0.6, -0.1, 0.3, 0.7})});
  // The gamma function's derivatives, each the next polygamma: to the fourth through lgamma.
  const Tensor gamma_points = tensor<double>({0.3, 1.7, 12.5, -0.4, -2.6});
  KILN_CHECK_GRADGRAD([](const In& in) { return lgamma(in[0]) + digamma(in[0]); }, {gamma_points});
  KILN_CHECK_GRADGRAD([](const In& in) { return polygamma(1, in[0]) + polygamma(3, in[0]); }, {gamma_points});
  KILN_CHECK_GRADGRAD([](const In& in) { return zeta(4.5, in[0]); }, {tensor<double>({0.3, 2.2, 14.0})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return fmod(in[0], in[1]) * in[0] + remainder(in[0], in[1]) * in[1]; },
      {tensor<double>({-2.5, 1.3, 3.7}), tensor<double>({0.7, -1.1, 1.6})});
}

TEST_CASE("third derivatives of the activations: their recorded backward node is differentiable twice") {
  // gradgradcheck of x -> d/dx sum(f(x) u) (recorded) checks f's third derivative: the
  // backward node's own rule, then that rule's.
  manual_seed(29);
  const auto first_derivative_of = [](Tensor (*f)(const Tensor&)) {
    return [f](const In& in) {
      EnableGradGuard recording;  // gradgradcheck also calls it under NoGradGuard, on plain inputs
      const Tensor x = in[0].requires_grad() ? in[0] : in[0].detach().requires_grad_();
      return grad(sum(f(x) * in[1]), {x}, Tensor(), {.create_graph = true})[0];
    };
  };
  const In values{rand64({2, 3}), rand64({2, 3})};
  for (Tensor (*f)(const Tensor&) : {&sigmoid, &tanh, &softplus, &silu})
    KILN_CHECK_GRADGRAD(first_derivative_of(f), values);
  KILN_CHECK_GRADGRAD(first_derivative_of([](const Tensor& x) { return gelu(x); }), values);
  const In both_sides{tensor<double>({-2, -0.7, -0.3, 0.2, 0.9, 3}), rand64({6})};
  KILN_CHECK_GRADGRAD(first_derivative_of([](const Tensor& x) { return relu(x) * x; }), both_sides);
  KILN_CHECK_GRADGRAD(first_derivative_of([](const Tensor& x) { return leaky_relu(x, 0.2) * x; }),
                      both_sides);
  KILN_CHECK_GRADGRAD(first_derivative_of([](const Tensor& x) { return elu(x, 1.3); }), both_sides);
  KILN_CHECK_GRADGRAD(first_derivative_of([](const Tensor& x) { return elu(x, 0.6) * x; }), both_sides);
}

TEST_CASE("gradgradcheck: reductions, softmax, norms") {
  manual_seed(23);
  KILN_CHECK_GRADGRAD([](const In& in) { return square(sum(in[0], {1})); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(mean(in[0], {0}, true)); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return softmax(in[0], 1); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return log_softmax(in[0], 0); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return norm(in[0], 2.0, {1}); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return norm(in[0], 3.0, {0, 1}); }, {positive64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return logsumexp(in[0], {1}); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return normalize(in[0], 2.0, 1); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return var(in[0], {1}); }, {rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return cosine_similarity(in[0], in[1], 1); },
                      {rand64({3, 4}), rand64({3, 4})});
}

TEST_CASE("gradgradcheck: views, cat, index_select, gather, nll_loss") {
  manual_seed(24);
  const Tensor rows = tensor<std::int64_t>({2, 0, 2});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(in[0].reshape({4, 3}).transpose(0, 1));
      },
      {rand64({3, 4})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(in[0].permute({2, 0, 1}).slice(0, 1, 4, 2));
      },
      {rand64({2, 3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(in[0].narrow(1, 1, 2).unsqueeze(0).squeeze(0)); },
                      {rand64({3, 4})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(in[0].expand({3, 4})) * in[1];
      },
      {rand64({1, 4}), rand64({3, 4})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(diagonal(in[0], 1, 0, 1)); }, {rand64({3, 4})});
  // flip and roll: one node each, whose backward is a flip / a roll back of g.
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(flip(in[0], {0, -1})) * in[1];
      },
      {rand64({3, 4}), rand64({3, 4})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(roll(in[0], {2, -5}, {1, 0})) * in[1];
      },
      {rand64({3, 4}), rand64({3, 4})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(cat({in[0], in[1] * in[0]}, 1));
      },
      {rand64({2, 3}), rand64({2, 3})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(stack({in[0], in[1]}, 0));
      },
      {rand64({3}), rand64({3})});
  KILN_CHECK_GRADGRAD([rows](const In& in) { return square(index_select(in[0], 0, rows)); },
                      {rand64({3, 2})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(gather(in[0], 1, tensor<std::int64_t>({{1, 1}, {0, 2}})));
      },
      {rand64({2, 3})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return nll_loss(log_softmax(in[0], 1), tensor<std::int64_t>({2, 0}));
      },
      {rand64({2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(in[0].clone()) * in[0]; }, {rand64({3})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return square(in[0].select(1, -1)) * in[0].flatten().narrow(0, 0, 2); },
      {rand64({2, 3})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(embedding(in[0], tensor<std::int64_t>({{1, 0}, {1, 1}})));
      },
      {rand64({2, 3})});
  // Through float32 and back: float32's rounding needs a wider step and tolerance.
  KILN_CHECK_GRADGRAD([](const In& in) { return square(in[0].to(kFloat32)).to(kFloat64) * in[0]; },
                      {rand64({3})}, 1e-2, 1e-3);
}

TEST_CASE("gradgradcheck: a two-layer network in all its parameters") {
  manual_seed(25);
  const auto net = [](const In& in) {
    const Tensor h = tanh(add(matmul(in[0], in[1]), in[2]));
    return mse_loss(matmul(h, in[3]), in[4]);
  };
  KILN_CHECK_GRADGRAD(net, {rand64({5, 3}), rand64({3, 4}), rand64({4}), rand64({4, 2}), rand64({5, 2})});
  const auto batched = [](const In& in) { return sum(softplus(matmul(in[0], in[1]))); };
  KILN_CHECK_GRADGRAD(batched, {rand64({2, 3, 4}), rand64({4, 2})});
}

TEST_CASE("gradgradcheck: linear, dropout and spmm") {
  manual_seed(29);
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return square(linear(in[0], in[1], in[2])) * in[0].narrow(-1, 0, 2); },
      {rand64({2, 3, 4}), rand64({2, 4}), rand64({2})});
  KILN_CHECK_GRADGRAD([](const In& in) { return tanh(linear(in[0], in[1])); }, {rand64({4}), rand64({3, 4})});
  // The same mask for every call: the generator is set before each draw.
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        manual_seed(7);
        return square(dropout(in[0], 0.4, true));
      },
      {rand64({3, 5})});
  const auto a =
      graph::CsrMatrix::from_coo(3, 4, {{0, 1}, {0, 3}, {2, 0}, {2, 2}, {1, 1}}, {0.5f, -1, 2, 1, 3});
  KILN_CHECK_GRADGRAD([a](const In& in) { return tanh(spmm(a, in[0])); }, {rand64({4, 2})});
}

TEST_CASE("a gradient penalty trains: its gradient with respect to the weights is right") {
  // WGAN-GP's term (|d critic(x) / dx| - 1)^2, differentiated with respect to the
  // critic's weights: a backward pass through a recorded backward pass.
  manual_seed(26);
  const Tensor x = rand64({4, 3});
  const auto penalty = [x](const In& w) {
    return gradient_penalty(
        x, [&w](const Tensor& xi) { return matmul(leaky_relu(matmul(xi, w[0]), 0.2), w[1]); });
  };
  KILN_CHECK_GRAD(penalty, {rand64({3, 5}), rand64({5, 1})});
}

TEST_CASE("hessian, hvp, jvp and vjp") {
  manual_seed(27);
  const Tensor x = tensor<double>({1.0, -2.0, 0.5});
  const Tensor h = hessian([](const Tensor& v) { return sum(v * v * v); }, x);
  CHECK(h.shape() == Shape{3, 3});
  check_values(h, {6, 0, 0, 0, -12, 0, 0, 0, 3}, 1e-12);

  // 0.5 x^T A x + b^T x: the Hessian is (A + A^T) / 2, whatever x is.
  const Tensor a = rand64({4, 4}), b = rand64({4}), y = rand64({4});
  const auto quadratic = [&](const Tensor& v) { return sum(v * matmul(a, v)) * 0.5 + sum(b * v); };
  check_same(hessian(quadratic, y), (a + a.t()) * 0.5, 1e-12);

  // A small network: H v from hvp equals the Hessian times v; a linear function's Hessian is 0.
  const Tensor w = rand64({4, 3});
  const auto loss = [&](const Tensor& v) { return sum(pow(tanh(matmul(w, v)), 2.0)) + sum(sin(v)); };
  const Tensor z = rand64({3}), dir = rand64({3});
  const Tensor full = hessian(loss, z);
  check_same(hvp(loss, z, dir), matmul(full, dir), 1e-12);
  check_same(full, full.t(), 1e-12);
  check_values(hessian([&](const Tensor& v) { return sum(b.narrow(0, 0, 3) * v); }, z),
               std::vector<double>(9, 0.0), 0.0);

  // J v from jvp equals the Jacobian times v.
  const auto vector_fn = [&](const Tensor& v) { return softmax(matmul(w, v), 0) * 2.0; };
  check_same(jvp(vector_fn, z, dir), matmul(jacobian(vector_fn, z), dir), 1e-12);
  // v^T J from vjp equals v times the Jacobian; for a function of one element, it is the gradient.
  const Tensor out_dir = rand64({4});
  check_same(vjp(vector_fn, z, out_dir), matmul(out_dir, jacobian(vector_fn, z)), 1e-12);
  const Tensor zr = z.detach().requires_grad_();
  check_same(vjp(loss, z, tensor<double>({1.0}).reshape({})), grad(loss(zr), {zr})[0], 0.0);
  CHECK_THROWS_WITH_AS(vjp(vector_fn, z, dir), doctest::Contains("output has shape (4)"), Error);
  CHECK_THROWS_WITH_AS(hvp(loss, z, rand64({4})), doctest::Contains("shape"), Error);
  CHECK_THROWS_WITH_AS(hessian([](const Tensor& v) { return v * 2.0; }, z), doctest::Contains("one element"),
                       Error);
}

TEST_CASE("create_graph through an op whose backward is not differentiable is an Error naming it") {
  // Every op of kiln's differentiates again; an op of one's own whose rule is not marked
  // (mark_differentiable_backward) stops a recording walk instead of giving a wrong derivative.
  const auto cube_first_order = [](const Tensor& x) {
    Tensor out = x.detach() * x.detach() * x.detach();
    if (should_record({x}))
      attach_grad_fn(out, "my_cube", {x},
                     [xd = x.detach()](const Tensor& g) { return Grads{g * xd * xd * 3.0}; });
    return out;
  };
  const Tensor x = rand64({2, 3}).requires_grad_();
  const Tensor y = sum(square(cube_first_order(x)));
  CHECK_THROWS_WITH_AS(grad(y, {x}, Tensor(), {.create_graph = true}),
                       doctest::Contains("'my_cube' cannot be differentiated again"), Error);
  CHECK(grad(y, {x})[0].defined());  // the first derivative is there as before
}

TEST_CASE("gradgradcheck: conv2d with stride, padding, dilation, groups and bias") {
  manual_seed(32);
  struct Geometry {
    Pair stride, padding, dilation;
    std::int64_t groups;
  };
  for (const Geometry& c : {Geometry{{1, 1}, {1, 1}, {1, 1}, 1}, Geometry{{2, 2}, {0, 1}, {1, 1}, 1},
                            Geometry{{1, 2}, {2, 0}, {2, 1}, 1}, Geometry{{2, 1}, {1, 1}, {1, 1}, 2}}) {
    INFO("stride " << c.stride[0] << "," << c.stride[1] << " padding " << c.padding[0] << "," << c.padding[1]
                   << " dilation " << c.dilation[0] << "," << c.dilation[1] << " groups " << c.groups);
    KILN_CHECK_GRADGRAD(
        [&](const In& in) {
          return tanh(conv2d(in[0], in[1], in[2], c.stride, c.padding, c.dilation, c.groups));
        },
        {rand64({2, 4, 6, 5}), rand64({4, 4 / c.groups, 3, 2}), rand64({4})});
  }
}

TEST_CASE("a convolutional critic's gradient penalty: its gradient with respect to the weights is right") {
  manual_seed(33);
  const Tensor images = rand64({3, 1, 7, 7});
  const auto penalty = [images](const In& w) {
    return gradient_penalty(images, [&w](const Tensor& x) {
      return linear(leaky_relu(conv2d(x, w[0], w[1], {2, 2}, {1, 1}), 0.2).flatten(1), w[2]);
    });
  };
  KILN_CHECK_GRAD(penalty, {rand64({4, 1, 3, 3}), rand64({4}), rand64({1, 64})});
}

TEST_CASE("gradgradcheck: cross_entropy, with label smoothing and each reduction") {
  manual_seed(31);
  const Tensor targets = tensor<std::int64_t>({2, 0, 1});
  for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    for (const double eps : {0.0, 0.2}) {
      INFO("label smoothing " << eps);
      KILN_CHECK_GRADGRAD([&](const In& in) { return cross_entropy(in[0], targets, r, eps); },
                          {rand64({3, 4})});
      // Through a layer below it: the rebuilt log-probabilities reach the weights.
      KILN_CHECK_GRADGRAD(
          [&](const In& in) { return cross_entropy(tanh(matmul(in[0], in[1])), targets, r, eps); },
          {rand64({3, 2}), rand64({2, 4})});
    }
  // With class weights and an ignored class it is composed of ops that can, too.
  KILN_CHECK_GRADGRAD(
      [&](const In& in) {
        return cross_entropy(in[0], targets, Reduction::mean, 0.1, tensor<double>({0.5, 2.0, 1.0, 1.5}), 1);
      },
      {rand64({3, 4})});
  // Its recorded gradient equals the composed loss's.
  const Tensor x = rand64({3, 4}).requires_grad_();
  const Tensor g = grad(cross_entropy(x, targets), {x}, Tensor(), {.create_graph = true})[0];
  check_same(g, grad(nll_loss(log_softmax(x, 1), targets), {x})[0], 1e-12);
  CHECK(g.requires_grad());
}

TEST_CASE("recorded backward passes leave no graph behind once their tensors are gone") {
  // The rebuilt outputs (exp's, tanh's, softmax's) point at the node that made them, not
  // the other way: no cycle keeps a graph alive.
  manual_seed(30);
  const std::int64_t before = live_autograd_nodes();
  {
    const Tensor x = rand64({3, 4}).requires_grad_();
    const Tensor w = rand64({4, 2}).requires_grad_();
    const Tensor y =
        sum(softmax(tanh(matmul(x, w)), 1) * exp(x.narrow(1, 0, 2)) + sum(sqrt(exp(x)), {1}, true));
    const Tensor dx = grad(y, {x}, Tensor(), {.create_graph = true})[0];
    const Tensor d2 = grad(sum(dx * dx), {x, w}, Tensor(), {.create_graph = true})[0];
    sum(d2).backward();
    CHECK(live_autograd_nodes() > before);
    CHECK(w.grad().defined());
  }
  CHECK(live_autograd_nodes() == before);
  CHECK(hvp([](const Tensor& v) { return sum(exp(v) * tanh(v)); }, rand64({5}), rand64({5})).defined());
  CHECK(live_autograd_nodes() == before);
}

TEST_CASE("backward with create_graph leaves a .grad() that can be differentiated again") {
  const Tensor x = tensor<double>({-1.0, 0.5, 2.0}).requires_grad_();
  Tensor h = x * x;
  h.retain_grad();
  sum(h * x).backward(Tensor(), false, true);  // d/dx x^3 = 3 x^2, recorded
  REQUIRE(x.grad().defined());
  CHECK(x.grad().requires_grad());
  check_values(x.grad(), {3.0, 0.75, 12.0}, 1e-12);
  check_values(h.grad(), {-1.0, 0.5, 2.0}, 1e-12);  // d/dh (h x) = x, kept by retain_grad
  CHECK(h.grad().requires_grad());
  // 6 x from the recorded .grad(); the leaf's own .grad() then accumulates it (3 x^2 + 6 x).
  const Tensor g = x.grad();
  check_values(grad(sum(g), {x}, Tensor(), {.retain_graph = true})[0], {-6.0, 3.0, 12.0}, 1e-12);
  sum(g).backward();
  check_values(x.grad(), {-3.0, 3.75, 24.0}, 1e-12);
}

TEST_CASE("gradgradcheck: std, max / min values, scans, prod, xlogy, logit, sinc, binary cross-entropy") {
  manual_seed(34);
  const Tensor x = rand64({3, 4});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(kiln::std(in[0], {1})) + kiln::std(in[0]); }, {x});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(max(in[0], 1, true).values) + square(min(in[0], 0, true).values) * in[0];
      },
      {x});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(cumsum(in[0], 1)) + tanh(cumsum(in[0], 0)); }, {x});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return cumprod(in[0], 1) + square(cummax(in[0], 0).values) + cummin(in[0], 1).values * in[0];
      },
      {x});
  KILN_CHECK_GRADGRAD([](const In& in) { return prod(in[0], 1, true) + square(prod(in[0], 0, true)); }, {x});
  // logcumsumexp along either dimension, and where the entries are large (exp overflows):
  // its gradient and that gradient's transpose are one node whose rule is those sums again.
  KILN_CHECK_GRADGRAD([](const In& in) { return square(logcumsumexp(in[0], 1)) + logcumsumexp(in[0], 0); },
                      {x});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(logcumsumexp(in[0] * 300.0, 1) - 300.0); },
                      {tensor<double>({0.5, 1.0, 1.01, 0.2, 1.02, -3.0}).reshape({2, 3})});
  // Its third derivative: gradgradcheck of x -> d/dx sum(logcumsumexp(x) u), recorded.
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        EnableGradGuard recording;  // gradgradcheck also calls it under NoGradGuard, on plain inputs
        const Tensor v = in[0].requires_grad() ? in[0] : in[0].detach().requires_grad_();
        return grad(sum(logcumsumexp(v, 1) * in[1]), {v}, Tensor(), {.create_graph = true})[0];
      },
      {x, rand64({3, 4})});
  // A zero entry: cumprod's and prod's gradients take their other branches (finite differences
  // move it off 0, where the derivatives are smooth in every other entry).
  const Tensor with_zero = tensor<double>({0.7, -1.2, 0.0, 1.5, 0.4, -0.8}).reshape({2, 3});
  KILN_CHECK_GRADGRAD([](const In& in) { return cumprod(in[0], 1) * in[0] + prod(in[0], 1, true); },
                      {with_zero});
  KILN_CHECK_GRADGRAD([](const In& in) { return xlogy(in[0], in[1]) * in[0]; },
                      {x, positive64({4})});  // broadcast
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return logit(sigmoid(in[0]) * 0.9 + 0.05) + logit(sigmoid(in[0]), 0.2); }, {x});
  KILN_CHECK_GRADGRAD([](const In& in) { return sinc(in[0]) * in[0]; }, {x});
  const Tensor labels = rand({3, 4}, kFloat64);
  KILN_CHECK_GRADGRAD(
      [labels](const In& in) {
        return binary_cross_entropy_with_logits(in[0], labels, Tensor(), Reduction::none) +
               binary_cross_entropy_with_logits(in[0] * 0.5, labels, tensor<double>({2.0}), Reduction::sum);
      },
      {x});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return binary_cross_entropy(sigmoid(in[0]), sigmoid(in[1]), Tensor(), Reduction::none);
      },
      {x, rand64({3, 4})});
}

TEST_CASE("gradgradcheck: interpolation and padding") {
  manual_seed(35);
  const Tensor image = rand64({1, 2, 3, 4});
  for (const Interpolation mode : {Interpolation::nearest, Interpolation::bilinear, Interpolation::bicubic}) {
    INFO(interpolation_name(mode));
    KILN_CHECK_GRADGRAD([mode](const In& in) { return square(interpolate(in[0], {5, 3}, mode)); }, {image});
  }
  KILN_CHECK_GRADGRAD([](const In& in) { return square(pad(in[0], {1, 2, 0, 1}, 0.5)); }, {image});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(pad(in[0], {2, 1, 1, 1}, PadMode::reflect));
      },
      {image});
}
