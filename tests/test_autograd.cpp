// The autograd engine: accumulation, graph lifetime, grad mode, views.
#include <pthread.h>

#include <memory>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;

TEST_CASE("a small graph by hand: y = sum(w * x + w)") {
  Tensor w = tensor<float>({1, 2, 3}).requires_grad_();
  const Tensor x = tensor<float>({4, 5, 6});
  Tensor y = sum(w * x + w);
  CHECK(y.item() == 1 * 4 + 2 * 5 + 3 * 6 + 6);
  y.backward();
  check_values(w.grad(), {5, 6, 7});  // dy/dw = x + 1
  CHECK_FALSE(x.requires_grad());
  CHECK_FALSE(x.grad().defined());
  CHECK(w.is_leaf());
  CHECK_FALSE(y.is_leaf());
}

TEST_CASE("gradients accumulate until cleared; the graph is freed unless retained") {
  Tensor w = tensor<double>({2}).requires_grad_();
  Tensor y = sum(w * w);  // dy/dw = 2w = 4
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  check_values(w.grad(), {8});
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), Error);
  w.set_grad(Tensor());
  sum(w * 3.0).backward();
  check_values(w.grad(), {3});
}

TEST_CASE("a leaf's gradient is its own memory: later ones add into it, and nothing else changes") {
  // A gradient the caller still holds reaches the leaf unchanged (clone passes it on):
  // the leaf must copy it, or accumulating would write into the caller's tensor.
  Tensor x = zeros({3}).requires_grad_();
  const Tensor g = ones({3});
  const Tensor y = x.clone();
  y.backward(g, /*retain_graph=*/true);
  y.backward(g);
  check_values(x.grad(), {2, 2, 2});
  check_values(g, {1, 1, 1});
  // One gradient sent to two leaves (add passes it to both): each gets its own.
  Tensor a = zeros({2}).requires_grad_(), b = zeros({2}).requires_grad_();
  const Tensor s = a + b;
  s.backward(ones({2}) * 3.0, /*retain_graph=*/true);
  s.backward(ones({2}));
  check_values(a.grad(), {4, 4});
  check_values(b.grad(), {4, 4});
  // A broadcast gradient (stride 0) and a fresh one, accumulated over two passes.
  Tensor w = tensor<double>({1, 2}).requires_grad_();
  const Tensor z = sum(w) + sum(w * w);  // dz/dw = 1 + 2w
  z.backward(Tensor(), /*retain_graph=*/true);
  z.backward();
  check_values(w.grad(), {6, 10});
  // The .grad a program read stays as it was when the next pass adds into a new one.
  Tensor v = ones({2}).requires_grad_();
  sum(v * 5.0).backward();
  const Tensor first = v.grad();
  v.set_grad(Tensor());
  sum(v * 7.0).backward();
  check_values(first, {5, 5});
  check_values(v.grad(), {7, 7});
}

TEST_CASE("a tensor used twice gets the sum of both paths") {
  Tensor x = tensor<double>({3}).requires_grad_();
  Tensor a = x * 2.0;
  Tensor y = sum(a * a + exp(a));  // dy/dx = 2 * (2a + e^a)
  y.backward();
  check_values(x.grad(), {2 * (12 + std::exp(6.0))}, 1e-12);
}

TEST_CASE("backward needs a gradient for non-scalar outputs") {
  Tensor x = ones({2, 2}).requires_grad_();
  Tensor y = x * 3.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("pass a gradient"), Error);
  y.backward(tensor<float>({{1, 2}, {3, 4}}));
  check_values(x.grad(), {3, 6, 9, 12});
  CHECK_THROWS_AS(y.backward(ones({3})), Error);
  CHECK_THROWS_WITH_AS(ones({1}).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("detach, NoGradGuard and requires_grad_ rules") {
  Tensor w = ones({2}).requires_grad_();
  CHECK_FALSE((w.detach() * 2.0).requires_grad());
  CHECK(w.detach().shares_storage(w));
  {
    NoGradGuard guard;
    CHECK_FALSE(is_grad_enabled());
    CHECK_FALSE((w * 2.0).requires_grad());
    w.add_(ones({2}));  // allowed: not recorded
  }
  CHECK(is_grad_enabled());
  CHECK((w * 2.0).requires_grad());
  CHECK_THROWS_WITH_AS(w.add_(ones({2})), doctest::Contains("NoGradGuard"), Error);
  CHECK_THROWS_WITH_AS(w.fill_(0.0), doctest::Contains("fill_: in-place update of a leaf"), Error);
  // In-place ops are not recorded: while recording, one on a tensor autograd computed (or
  // a view of it), or with an update that needs a gradient, would give a wrong or lost
  // gradient, so it is refused; the out-of-place forms record.
  Tensor h = w * 2.0;
  CHECK_THROWS_WITH_AS(h.mul_(2.0),
                       doctest::Contains("mul_: in-place update of a tensor of shape (2) that "
                                         "autograd computed"),
                       Error);
  CHECK_THROWS_WITH_AS(h.narrow(0, 0, 1).fill_(1.0), doctest::Contains("fill_"), Error);
  Tensor acc = zeros({2});
  CHECK_THROWS_WITH_AS(acc.add_(h), doctest::Contains("add_: the update (shape (2)) requires grad"), Error);
  CHECK_THROWS_WITH_AS(acc.copy_(h), doctest::Contains("copy_: the update"), Error);
  acc.add_(h.detach());  // no gradient asked for: allowed
  acc = acc + h;         // recorded
  sum(acc).backward();
  check_values(w.grad(), {2, 2});
  {
    NoGradGuard guard;
    h.mul_(2.0);  // allowed: the caller says no gradient is wanted
  }
  CHECK_THROWS_WITH_AS(arange(3).requires_grad_(), doctest::Contains("floating"), Error);
  CHECK_THROWS_AS((w * 2.0).requires_grad_(false), Error);
}

// A backward rule that reads a tensor refuses to run when that tensor was changed in
// place after the forward pass (its gradient would use the new values); tensors the
// rule does not read may change freely.
TEST_CASE("backward refuses tensors it saved that changed in place since") {
  const Tensor a = tensor<float>({1, 2, 3}).requires_grad_();
  Tensor b = tensor<float>({4, 5, 6});
  Tensor c = sum(a * b);
  b.fill_(0.0);  // read by mul's rule for a's gradient
  CHECK_THROWS_WITH_AS(c.backward(), doctest::Contains("backward: 'mul' saved a tensor of shape (3) for its gradient, "
                                                       "and it was changed in place after the forward pass"),
                       Error);
  Tensor d = tensor<float>({4, 5, 6});
  c = sum(a * d);
  d.slice(0, 2, 3).mul_(2.0);  // through a view: the same bytes
  CHECK_THROWS_AS(c.backward(), Error);

  Tensor e = tensor<float>({4, 5, 6});
  c = sum(e * a);
  {
    NoGradGuard no_grad;
    Tensor(a).add_(tensor<float>({1, 1, 1}));  // a itself is not read for a's gradient
  }
  c.backward();
  check_values(a.grad(), {4, 5, 6});
  e.fill_(1.0);  // after backward: nothing left to check
  check_values(a.grad(), {4, 5, 6});

  // An op's output that its rule reads (exp), changed before backward.
  const Tensor x = tensor<float>({0.5f, -1.0f}).requires_grad_();
  Tensor y = exp(x);
  const Tensor loss = sum(y * 1.0);
  CHECK_THROWS_AS(y.mul_(3.0), Error);  // while recording, refused at once (above)
  {
    NoGradGuard no_grad;
    y.mul_(3.0);
  }
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("'exp' saved a tensor of shape (2)"), Error);

  // An optimizer step between two passes over a retained graph.
  const Tensor w = tensor<float>({1, 2}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  const Tensor square = sum(w * w);
  square.backward({}, /*retain_graph=*/true);
  opt.step();
  CHECK_THROWS_WITH_AS(square.backward(), doctest::Contains("optimizer step"), Error);
  opt.zero_grad();
  sum(w * w).backward();  // a new forward pass reads the new values
  check_values(w.grad(), {2 * (1 - 0.1 * 2), 2 * (2 - 0.1 * 4)}, 1e-6);
}

TEST_CASE("gradients flow through views and broadcasting") {
  Tensor x = arange(0.0, 6.0, 1.0, kFloat64).reshape({2, 3}).detach().requires_grad_();
  Tensor b = tensor<double>({1, 2, 3}).requires_grad_();
  Tensor y = sum(x.t().slice(0, 1, 3) * 2.0) + sum(x + b);
  y.backward();
  check_values(x.grad(), {1, 3, 3, 1, 3, 3});
  check_values(b.grad(), {2, 2, 2});  // broadcast over 2 rows sums back
}

TEST_CASE("a deep chain does not overflow the stack") {
  Tensor x = tensor<float>({1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0;
  sum(y).backward();
  check_values(x.grad(), {1});
}

TEST_CASE("a deep chain dropped without backward is freed without deep recursion") {
  // Freed one nested destructor call per op, as an unoptimised or instrumented build
  // compiles shared_ptr's release, the chain would need megabytes of stack: the thread
  // that drops it here has 256 KiB.
  const std::int64_t live_before = live_autograd_nodes();
  Tensor x = tensor<float>({1}).requires_grad_();
  auto y = std::make_unique<Tensor>(x);
  for (int i = 0; i < 30000; ++i) *y = *y * 1.0;
  CHECK(live_autograd_nodes() - live_before >= 30000);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, std::size_t{1} << 18);
  pthread_t dropper;
  const auto drop = [](void* chain) -> void* {
    static_cast<std::unique_ptr<Tensor>*>(chain)->reset();
    return nullptr;
  };
  REQUIRE(pthread_create(&dropper, &attr, drop, &y) == 0);
  pthread_join(dropper, nullptr);
  pthread_attr_destroy(&attr);
  CHECK(live_autograd_nodes() == live_before);
}

TEST_CASE("intermediate tensors are freed after backward") {
  std::weak_ptr<Storage> saved;
  Tensor w = ones({4}).requires_grad_();
  {
    Tensor h = exp(w);  // exp saves its output for backward
    saved = h.storage();
    Tensor y = sum(h);
    h = Tensor();
    CHECK_FALSE(saved.expired());  // still held by the graph
    y.backward();
  }
  CHECK(saved.expired());
}

TEST_CASE("to(dtype) passes gradients back in the source dtype") {
  Tensor x = tensor<float>({1, 2}).requires_grad_();
  sum(x.to(kFloat64) * 2.0).backward();
  CHECK(x.grad().dtype() == kFloat32);
  check_values(x.grad(), {2, 2});
}

TEST_CASE("backward of several outputs walks their shared graph once") {
  manual_seed(4);
  const Tensor x = randn({5, 3}, kFloat64);
  Tensor w = randn({3, 4}, kFloat64).requires_grad_();
  const auto losses = [&] {
    const Tensor h = tanh(matmul(x, w));
    return std::vector<Tensor>{sum(h * h), mean(h), h * 2.0};
  };
  const Tensor up = randn({5, 4}, kFloat64);
  std::vector<Tensor> out = losses();
  backward(out, {Tensor(), Tensor(), up});
  const std::vector<double> together = w.grad().to_vector<double>();
  w.set_grad(Tensor());
  out = losses();
  (out[0] + out[1] + sum(out[2] * up)).backward();
  check_values(w.grad(), together, 1e-12);
  // One after the other, the second pass finds the shared part freed; in one walk it runs once.
  w.set_grad(Tensor());
  out = losses();
  out[0].backward();
  CHECK_THROWS_WITH_AS(out[1].backward(), doctest::Contains("retain_graph"), Error);
  CHECK_THROWS_WITH_AS(
      backward({out[0], sum(x)}),
      "backward: output 1 (shape ()) does not require grad, so no "
      "input can have a gradient through it; call requires_grad_() on the inputs before computing "
      "the outputs, outside a NoGradGuard",
      Error);
  out = losses();
  CHECK_THROWS_WITH_AS(backward(out),
                       doctest::Contains("backward: output 2 has shape (5, 4); an implicit gradient"), Error);
  CHECK_THROWS_WITH_AS(backward(out, {Tensor()}), doctest::Contains("backward: 3 outputs but 1 grad_outputs"),
                       Error);
}

TEST_CASE("grad returns the gradients backward would add, and leaves every .grad alone") {
  manual_seed(3);
  const Tensor x = randn({4, 3}, kFloat64);
  Tensor w = randn({3, 2}, kFloat64).requires_grad_(), b = randn({2}, kFloat64).requires_grad_();
  const Tensor h = tanh(matmul(x, w) + b);
  const Tensor loss = sum(h * h);
  const std::vector<Tensor> g = grad(loss, {w, b}, Tensor(), {.retain_graph = true});
  REQUIRE(g.size() == 2);
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(b.grad().defined());
  CHECK(g[0].shape() == w.shape());
  CHECK(g[1].dtype() == kFloat64);
  CHECK_FALSE(g[0].requires_grad());
  loss.backward();
  check_values(g[0], w.grad().to_vector<double>(), 1e-12);
  check_values(g[1], b.grad().to_vector<double>(), 1e-12);
  // One-sided: d loss / d b alone, computed as 2 h (1 - h^2) summed over the rows.
  const Tensor expected = sum(h.detach() * 2.0 * (1.0 - h.detach() * h.detach()), {0});
  Tensor b2 = b.detach().clone().requires_grad_();
  const Tensor h2 = tanh(matmul(x, w.detach()) + b2);
  check_values(grad(sum(h2 * h2), {b2})[0], expected.to_vector<double>(), 1e-12);
}

TEST_CASE("grad with respect to a tensor an op computed, and through several outputs") {
  Tensor x = tensor<double>({-1, 2, 3}).requires_grad_();
  const Tensor h = x * 2.0;
  const Tensor c = tensor<double>({5, 6, 7});
  const Tensor loss = sum(relu(h) * c);
  check_values(grad(loss, {h}, Tensor(), {.retain_graph = true})[0], {0, 6, 7});
  check_values(grad(loss, {h, x})[1], {0, 12, 14});
  CHECK_FALSE(x.grad().defined());

  // sum_k <g_k, y_k>: y1 = 2x, y2 = x^2.
  const Tensor y1 = x * 2.0, y2 = x * x;
  check_values(grad({y1, y2}, {x}, {tensor<double>({1, 1, 1}), tensor<double>({1, 2, 3})})[0],
               {2 - 2, 2 + 8, 2 + 18});
  // One output computed from the other: both paths add up.
  const Tensor z = x * 3.0;
  const Tensor total = sum(z * z);  // d/dx = 18 x, plus 3 from z's own seed of ones
  check_values(grad({total, z}, {x}, {Tensor(), ones_like(z)})[0], {-18 + 3, 36 + 3, 54 + 3});
  // An input listed twice gets its gradient twice.
  const std::vector<Tensor> twice = grad(sum(x * 4.0), {x, x});
  check_values(twice[0], {4, 4, 4});
  check_values(twice[1], {4, 4, 4});
}

TEST_CASE("grad runs only the ops between the outputs and its inputs") {
  // a's branch saved a tensor that was changed since: backward() refuses it, but the
  // gradient with respect to b never goes through that op.
  Tensor a = tensor<float>({1, 2}).requires_grad_(), b = tensor<float>({3, 4}).requires_grad_();
  Tensor t = tensor<float>({5, 6});
  const Tensor y = sum(a * t) + sum(b * 2.0);
  t.fill_(0.0);
  check_values(grad(y, {b}, Tensor(), {.retain_graph = true})[0], {2, 2});
  CHECK_THROWS_WITH_AS(grad(y, {a}, Tensor(), {.retain_graph = true}),
                       doctest::Contains("'mul' saved a tensor"), Error);
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  CHECK_THROWS_AS(y.backward(), Error);
}

TEST_CASE("grad's results are their own memory") {
  Tensor x = tensor<float>({1, 2}).requires_grad_();
  const Tensor s = sum(x);
  Tensor g = grad(s, {s}, Tensor(), {.retain_graph = true})[0];  // the implicit seed 1
  check_values(g, {1});
  g.fill_(7.0);
  check_values(grad(s, {s}, Tensor(), {.retain_graph = true})[0], {1});
  const Tensor seed = sum(tensor<float>({1.5f}));  // 0-d, as s is
  Tensor from_seed = grad(s, {s}, seed, {.retain_graph = true})[0];
  from_seed.fill_(0.0);
  check_values(seed, {1.5f});
  Tensor gx = grad(s, {x})[0];  // sum hands down one value expanded: stride 0
  CHECK(gx.is_contiguous());
  gx.add_(ones({2}));
  check_values(gx, {2, 2});
  // In the input's dtype, as a leaf's .grad would be.
  Tensor d = tensor<double>({1, 2}).requires_grad_();
  const Tensor gd = grad(sum(d.to(kFloat32) * 3.0f), {d})[0];
  CHECK(gd.dtype() == kFloat64);
  check_values(gd, {3, 3});
}

TEST_CASE("grad's errors name the output or input and what to do") {
  Tensor x = tensor<float>({1, 2}).requires_grad_();
  const Tensor unused = tensor<float>({3}).requires_grad_();
  const Tensor plain = tensor<float>({3});
  const Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(grad(plain * 2.0, {x}),
                       "grad: output 0 (shape (1)) does not require grad, so no input can "
                       "have a gradient through it; call requires_grad_() on the inputs before computing the "
                       "outputs, outside a NoGradGuard",
                       Error);
  CHECK_THROWS_WITH_AS(grad(sum(y), {plain}),
                       "grad: input 0 (shape (1)) does not require grad; call "
                       "requires_grad_() on it before computing the outputs",
                       Error);
  CHECK_THROWS_WITH_AS(
      grad(sum(y), {x, unused}, Tensor(), {.retain_graph = true}),
      "grad: input 1 (shape (1)) is not used to compute the outputs, so it has no gradient; pass "
      "allow_unused = true to get an undefined Tensor for it",
      Error);
  const std::vector<Tensor> g = grad(sum(y), {unused, x}, Tensor(), {.allow_unused = true});
  CHECK_FALSE(g[0].defined());
  check_values(g[1], {2, 2});
  CHECK_THROWS_WITH_AS(grad(y, {x}),
                       doctest::Contains("grad: output 0 has shape (2); an implicit gradient exists "
                                         "only for one-element outputs"),
                       Error);
  CHECK_THROWS_WITH_AS(grad(y, {x}, ones({3})), "grad: gradient of shape (3) for output 0 of shape (2)",
                       Error);
  CHECK_THROWS_WITH_AS(grad({y, y}, {x}, {ones({2})}),
                       "grad: 2 outputs but 1 grad_outputs; pass one gradient per "
                       "output, or none when every output has one element",
                       Error);
  // Without retain_graph the first call frees what the ops saved.
  const Tensor z = sum(x * x);
  check_values(grad(z, {x})[0], {2, 4});
  CHECK_THROWS_WITH_AS(grad(z, {x}), doctest::Contains("retain_graph"), Error);
}

TEST_CASE("gradient hooks: on leaves and on computed tensors, in backward and grad()") {
  Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  const std::uint64_t doubling = x.register_hook([](const Tensor& g) { return g * 2.0; });
  sum(x * x).backward();  // d/dx = 2x, doubled by the hook
  check_values(x.grad(), {4, 8, 12});
  check_values(grad(sum(x * x), {x})[0], {4, 8, 12});  // grad() runs the hooks too
  x.remove_hook(doubling);
  x.set_grad(Tensor());
  sum(x * x).backward();
  check_values(x.grad(), {2, 4, 6});

  SUBCASE("on a computed tensor: sees the summed gradient, and may replace it") {
    Tensor seen;
    Tensor y = x * 3.0;
    y.register_hook([&](const Tensor& g) {
      seen = g.clone();
      return Tensor();  // look only
    });
    const Tensor z = sum(y * y) + sum(y);  // two paths into y: dz/dy = 2y + 1
    x.set_grad(Tensor());
    z.backward(Tensor(), true);
    check_values(seen, {7, 13, 19});
    check_values(x.grad(), {21, 39, 57});                            // 3 (2y + 1)
    y.register_hook([](const Tensor& g) { return zeros_like(g); });  // cut the gradient here
    x.set_grad(Tensor());
    z.backward();
    check_values(x.grad(), {0, 0, 0});
  }
  SUBCASE("errors") {
    CHECK_THROWS_WITH_AS(tensor<double>({1.0}).register_hook([](const Tensor& g) { return g; }),
                         doctest::Contains("does not require grad"), Error);
    x.register_hook([](const Tensor&) { return zeros({2}, kFloat64); });
    CHECK_THROWS_WITH_AS(sum(x * x).backward(),
                         doctest::Contains("a gradient hook on a leaf tensor returned a tensor of shape (2)"),
                         Error);
  }
}

TEST_CASE("retain_grad keeps a hidden layer's gradient, as kiln::grad computes it") {
  manual_seed(4);
  const Tensor x = randn({5, 3}, kFloat64);
  Tensor w = randn({3, 4}, kFloat64).requires_grad_();
  Tensor h = relu(matmul(x, w));
  h.retain_grad();
  h.retain_grad();  // once is enough: no double accumulation
  CHECK(h.retains_grad());
  const Tensor loss = sum(square(h));
  const Tensor expected = grad(loss, {h}, Tensor(), GradOptions{true, false})[0];
  test::check_same(h.grad(), expected, 1e-12);  // grad() fills it too, as torch.autograd.grad does
  h.set_grad(Tensor());
  loss.backward(Tensor(), true);
  test::check_same(h.grad(), expected, 1e-12);
  test::check_same(h.grad(), h.detach() * 2.0, 1e-12);  // d sum(h^2) / dh = 2h
  loss.backward();                                      // accumulates, as a leaf's .grad()
  test::check_same(h.grad(), expected * 2.0, 1e-12);
  CHECK(w.grad().defined());
  CHECK_FALSE(w.retains_grad());
  w.retain_grad();  // a leaf keeps its gradient anyway
  CHECK_FALSE(w.retains_grad());
}

TEST_CASE("jacobian: softmax by its formula, and two functions against torch.autograd.functional") {
  const Tensor x = tensor<double>({0.2, -1.0, 0.7});
  const Tensor j = jacobian([](const Tensor& v) { return softmax(v, 0); }, x);
  CHECK(j.shape() == Shape{3, 3});
  const std::vector<double> p = softmax(x, 0).to_vector<double>();
  std::vector<double> expected;
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 3; ++c)
      expected.push_back((r == c ? p[r] : 0.0) - p[r] * p[c]);  // diag(p) - p p^T
  check_values(j, expected, 1e-14);
  CHECK_FALSE(x.requires_grad());  // the inputs themselves are left alone

  // Values printed by torch.autograd.functional.jacobian (PyTorch 2.15, float64).
  const auto f = [](const std::vector<Tensor>& in) {
    return sum(sin(in[0].unsqueeze(1) * in[1].unsqueeze(0)), {0}) + sum(in[0]) * square(in[1]);
  };
  const auto jab = jacobian(f, {tensor<double>({0.3, -1.1, 0.8}), tensor<double>({1.5, -0.4})});
  CHECK(jab[0].shape() == Shape{2, 3});
  CHECK(jab[1].shape() == Shape{2, 2});
  check_values(jab[0],
               {3.6006706535290154, 2.1313186667898987, 2.79353663171501, -0.23712345434154647,
                -0.20190066528798534, -0.2196941672329763},
               1e-13);
  check_values(jab[1], {0.6470533119745492, 0.0, 0.0, 0.06200409568015286}, 1e-13);
  const Tensor jm =
      jacobian([](const Tensor& m) { return matmul(m, m); }, tensor<double>({{1.0, 2.0}, {-0.5, 0.25}}));
  CHECK(jm.shape() == Shape{2, 2, 2, 2});
  check_values(jm, {2.0, -0.5, 2.0, 0.0, 2.0, 1.25, 0.0, 2.0, -0.5, 0.0, 1.25, -0.5, 0.0, -0.5, 2.0, 0.5},
               1e-14);

  // An input the output does not use: zeros.
  const auto unused = jacobian([](const std::vector<Tensor>& in) { return in[0] * 2.0; },
                               {tensor<double>({1, 2}), tensor<double>({3})});
  check_values(unused[0], {2, 0, 0, 2});
  check_values(unused[1], {0, 0});
  CHECK_THROWS_WITH_AS(jacobian([](const Tensor& v) { return v; }, tensor<std::int64_t>({1})),
                       doctest::Contains("must be a floating tensor"), Error);
}
