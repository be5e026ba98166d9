// Activation checkpointing (kiln/autograd/checkpoint.hpp, nn::checkpoint_sequential):
// the gradients equal the plain computation's, dropout included; grad() reaches the
// parameters inside; several outputs; nesting; the graph it keeps is small; float64
// gradchecks; the errors.
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// A small MLP with dropout, the same weights for every seed.
std::shared_ptr<nn::Sequential> mlp(std::int64_t width, std::int64_t depth) {
  manual_seed(7);
  auto net = std::make_shared<nn::Sequential>();
  for (std::int64_t i = 0; i < depth; ++i) {
    net->push_back(std::make_shared<nn::Linear>(width, width));
    net->push_back(std::make_shared<nn::Tanh>());
    net->push_back(std::make_shared<nn::Dropout>(0.25));
  }
  net->push_back(std::make_shared<nn::Linear>(width, 3));
  return net;
}

struct Run {
  Tensor loss, x_grad;
  std::vector<Tensor> param_grads;
  double next_draw;  // the generator's next number after backward
};

// One training step of `net` on a fixed batch, through `forward`.
template <class Forward>
Run train_step(nn::Sequential& net, Forward forward) {
  manual_seed(11);
  Tensor x = randn({6, 8}).requires_grad_();
  const Tensor labels = tensor<std::int64_t>({0, 1, 2, 0, 1, 2});
  net.zero_grad();
  Run r;
  r.loss = cross_entropy(forward(x), labels);
  r.loss.backward();
  r.x_grad = x.grad();
  for (const Tensor& p : net.parameters()) r.param_grads.push_back(p.grad());
  r.next_draw = rand({1}, kFloat64).item<double>();
  return r;
}

void check_equal_runs(const Run& a, const Run& b) {
  CHECK(equal(a.loss, b.loss));
  CHECK(equal(a.x_grad, b.x_grad));
  REQUIRE(a.param_grads.size() == b.param_grads.size());
  for (std::size_t i = 0; i < a.param_grads.size(); ++i) {
    REQUIRE(a.param_grads[i].defined());
    CHECK(equal(a.param_grads[i], b.param_grads[i]));
  }
  CHECK(a.next_draw == b.next_draw);
}

}  // namespace

TEST_CASE("checkpoint gives the plain gradients, dropout masks and generator included") {
  auto net = mlp(8, 3);
  const Run plain = train_step(*net, [&](const Tensor& x) { return (*net)(x); });
  const Run checkpointed = train_step(
      *net, [&](const Tensor& x) { return checkpoint([&](const Tensor& in) { return (*net)(in); }, x); });
  check_equal_runs(plain, checkpointed);

  SUBCASE("checkpoint_sequential, every segment count") {
    for (std::int64_t segments = 1; segments <= static_cast<std::int64_t>(net->size()); segments += 3) {
      CAPTURE(segments);
      check_equal_runs(plain, train_step(*net, [&](const Tensor& x) {
                         return nn::checkpoint_sequential(*net, segments, x);
                       }));
    }
  }
  SUBCASE("without the generator rewound, dropout draws other masks") {
    CheckpointOptions options;
    options.preserve_rng_state = false;
    const Run unrewound = train_step(*net, [&](const Tensor& x) {
      return checkpoint([&](const Tensor& in) { return (*net)(in); }, x, options);
    });
    CHECK(equal(unrewound.loss, plain.loss));  // the first run is the plain one
    CHECK_FALSE(equal(unrewound.x_grad, plain.x_grad));
  }
}

TEST_CASE("checkpoint keeps only its own node of the segment's graph") {
  auto net = mlp(16, 8);
  net->eval();
  const Tensor x = randn({4, 16}).requires_grad_();
  const std::int64_t before = live_autograd_nodes();
  std::int64_t plain_nodes = 0, checkpointed_nodes = 0;
  {
    const Tensor y = (*net)(x);
    plain_nodes = live_autograd_nodes() - before;
  }
  {
    const Tensor y = nn::checkpoint_sequential(*net, 4, x);
    checkpointed_nodes = live_autograd_nodes() - before;
    sum(y).backward();
  }
  CHECK(live_autograd_nodes() == before);
  // Both graphs reach every parameter and x, one accumulator each. Beyond those, the
  // plain graph holds a node per Linear (9) and per Tanh (8); the checkpointed one the
  // three checkpoint nodes and the last segment's (modules 18 to 24: 3 Linear, 2 Tanh).
  const auto leaves = static_cast<std::int64_t>(net->parameters().size()) + 1;
  CHECK(plain_nodes - leaves == 17);
  CHECK(checkpointed_nodes - leaves == 3 + 5);
}

TEST_CASE("checkpoint with several outputs, an integer output and a parameter read inside") {
  manual_seed(3);
  const Tensor w = rand64({3, 4}).requires_grad_();
  const auto f = [&](const In& in) {
    const Tensor h = matmul(in[0], w);
    return In{tanh(h), argmax(h, 1), h * in[1]};
  };
  const Tensor a = rand64({2, 3}).requires_grad_(), b = rand64({2, 4}).requires_grad_();
  const auto loss_of = [](const In& out) { return sum(out[0] * out[0]) + sum(out[2]); };

  const In plain = f({a, b});
  const auto expected = grad(loss_of(plain), {a, b, w});
  const In outs = checkpoint(f, {a, b});
  CHECK(outs[1].dtype() == kInt64);
  CHECK(equal(outs[1], plain[1]));
  CHECK(outs[0].requires_grad());
  CHECK(outs[2].requires_grad());
  const auto got = grad(loss_of(outs), {a, b, w});  // grad() reaches w inside the function
  for (std::size_t i = 0; i < got.size(); ++i) test::check_same(got[i], expected[i], 1e-12);
  CHECK_FALSE(w.grad().defined());  // grad() fills no .grad()

  SUBCASE("one of the outputs unused") {
    const In again = checkpoint(f, {a, b});
    const auto g = grad(sum(again[2]), {b});
    test::check_same(g[0], matmul(a, w).detach(), 1e-12);
  }
}

TEST_CASE("checkpoint gradchecks in float64, nested too") {
  manual_seed(5);
  const Tensor w = rand64({3, 3}).requires_grad_();
  const auto inner = [&](const Tensor& x) { return sin(matmul(x, w)) * x; };
  const auto r = gradcheck([&](const In& in) { return sum(checkpoint(inner, in[0])); }, {rand64({2, 3})});
  CHECK(r.ok);
  // The parameter as a gradcheck input: it is read inside, not passed.
  const Tensor x = rand64({2, 3});
  const auto rw = gradcheck(
      [&](const In& in) {
        return sum(checkpoint([&](const Tensor& v) { return sin(matmul(v, in[0])) * v; }, x));
      },
      {rand64({3, 3})});
  CHECK(rw.ok);
  const auto nested = gradcheck(
      [&](const In& in) {
        return sum(checkpoint([&](const Tensor& v) { return exp(checkpoint(inner, v) * 0.5); }, in[0]));
      },
      {rand64({2, 3})});
  CHECK(nested.ok);
}

TEST_CASE("checkpoint differentiates again: gradgradcheck, and a gradient penalty equal to the plain one") {
  manual_seed(6);
  const Tensor w = rand64({3, 3}).requires_grad_();
  const auto inner = [&](const Tensor& x) { return sin(matmul(x, w)) * x; };
  const auto rr = gradgradcheck([&](const In& in) { return checkpoint(inner, in[0]); }, {rand64({2, 3})});
  CHECK_MESSAGE(rr.ok, rr.message);
  const auto nested = gradgradcheck(
      [&](const In& in) {
        return checkpoint([&](const Tensor& v) { return exp(checkpoint(inner, v) * 0.5); }, in[0]);
      },
      {rand64({2, 3})});
  CHECK_MESSAGE(nested.ok, nested.message);
  // A WGAN-GP penalty through a checkpointed MLP (dropout in it): its gradient in the
  // weights equals the plain graph's, and the generator ends in the same place.
  auto net = mlp(8, 3);
  const auto penalty_grads = [&](bool checkpointed) {
    manual_seed(12);
    net->zero_grad();
    const Tensor x = randn({5, 8}).requires_grad_();
    const Tensor out = checkpointed ? nn::checkpoint_sequential(*net, 2, x) : net->forward(x);
    const Tensor g = grad(sum(out), {x}, Tensor(), {.create_graph = true})[0];
    sum(square(sqrt(sum(g * g, {1}) + 1e-12) - 1.0)).backward();
    std::vector<Tensor> grads;
    for (const Tensor& p : net->parameters())  // the last bias does not reach the penalty: none
      grads.push_back(p.grad().defined() ? p.grad().clone() : zeros({1}));
    grads.push_back(rand({1}));
    return grads;
  };
  const std::vector<Tensor> plain = penalty_grads(false), saved = penalty_grads(true);
  REQUIRE(plain.size() == saved.size());
  for (std::size_t i = 0; i < plain.size(); ++i) test::check_same(saved[i], plain[i], 1e-6);
}

TEST_CASE("checkpoint under NoGradGuard, without gradients, and its errors") {
  const Tensor x = randn({2, 2}).requires_grad_();
  int calls = 0;
  const auto f = [&](const Tensor& v) {
    ++calls;
    return v * 2.0;
  };
  {
    NoGradGuard no_grad;
    const Tensor y = checkpoint(f, x);
    CHECK_FALSE(y.requires_grad());
  }
  CHECK(calls == 1);
  const Tensor plain_input = randn({2, 2});
  CHECK_FALSE(checkpoint(f, plain_input).requires_grad());  // nothing to differentiate
  CHECK(calls == 2);

  SUBCASE("the function runs again in backward") {
    sum(checkpoint(f, x)).backward();
    CHECK(calls == 4);
    test::check_same(x.grad(), full({2, 2}, 2.0));
  }
  SUBCASE("a tensor with history read from outside") {
    const Tensor outside = x * 3.0;
    CHECK_THROWS_WITH_AS(checkpoint([&](const Tensor& v) { return v + outside; }, x),
                         doctest::Contains("pass that tensor as one of the inputs"), Error);
  }
  SUBCASE("an input changed in place before backward") {
    Tensor input = randn({2, 2}).requires_grad_();
    Tensor leaf_copy = input.detach();
    const Tensor y = checkpoint([](const Tensor& v) { return v * v; }, input);
    leaf_copy.fill_(1.0);
    CHECK_THROWS_WITH_AS(sum(y).backward(), doctest::Contains("changed in place"), Error);
  }
  SUBCASE("outputs of two dtypes that both carry gradients") {
    const auto two = [](const In& in) { return In{in[0] * 2.0, in[0].to(kFloat64) * 2.0}; };
    CHECK_THROWS_WITH_AS(checkpoint(two, {x}), doctest::Contains("share one dtype and device"), Error);
  }
  SUBCASE("segments out of range") {
    nn::Sequential seq{std::make_shared<nn::Tanh>(), std::make_shared<nn::Tanh>()};
    CHECK_THROWS_WITH_AS(nn::checkpoint_sequential(seq, 3, x), doctest::Contains("ask for 1 to 2"), Error);
  }
}
