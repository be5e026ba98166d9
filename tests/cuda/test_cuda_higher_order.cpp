// Second derivatives on the GPU against the CPU (cross_entropy's kernels included): the
// gradient recorded by grad() with create_graph is the function parity() compares, so its
// backward pass differentiates the backward rules themselves, on both devices (the fused
// graph kernels' rules too, which record their composites).
#include <doctest/doctest.h>

#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

namespace {
// x -> d sum(f(x, rest...)) / dx, recorded.
Fn first_derivative(const Fn& f) {
  return [f](const std::vector<Tensor>& in) {
    return grad(sum(f(in)), {in[0]}, Tensor(), {.create_graph = true})[0];
  };
}
}  // namespace

TEST_CASE("cuda: second derivatives through activations, reductions, matmul and index_select") {
  manual_seed(130);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const double tol = tol_for(dt) * 10;
    const Tensor x = randn({4, 3}, dt), w = randn({3, 5}, dt), rows = tensor<std::int64_t>({3, 0, 3, 1});
    parity(first_derivative([](const auto& v) {
             const Tensor h = matmul(v[0], v[1]);
             return tanh(h) * softplus(h) + sigmoid(h) * silu(h) + gelu(h) + elu(h, 0.5) * h +
                    leaky_relu(h, 0.1) * h + relu(h) * h;
           }),
           {x, w}, tol);
    parity(first_derivative([](const auto& v) {
             return softmax(v[0], 1) * log_softmax(v[0], 0) + mean(v[0] * v[0], {1}, true) +
                    norm(v[0], 2.0, {0});
           }),
           {x}, tol);
    parity(first_derivative([](const auto& v) {
             const Tensor p = exp(v[0] * 0.3) + 2.0;
             return log(p) * sqrt(p) + pow(p, 1.5) / p + sin(v[0]) * cos(v[0]);
           }),
           {x}, tol);
    parity(first_derivative([rows](const auto& v) {
             return square(index_select(v[0], 0, rows.to(v[0].device())).transpose(0, 1));
           }),
           {x}, tol);
    parity(first_derivative([](const auto& v) { return tanh(matmul(v[0], v[1])); }),
           {randn({2, 3, 4}, dt), randn({4, 2}, dt)}, tol);
    parity(first_derivative([](const auto& v) {
             return tanh(conv2d(v[0], v[1], v[2], {2, 1}, {1, 0}, {1, 2}, 2));
           }),
           {randn({2, 4, 7, 6}, dt), randn({6, 2, 3, 2}, dt), randn({6}, dt)}, tol);
    const Tensor labels = tensor<std::int64_t>({4, 0, 2, 4});
    parity(first_derivative([labels](const auto& v) {
             return cross_entropy(tanh(matmul(v[0], v[1])), labels.to(v[0].device()), Reduction::mean, 0.1);
           }),
           {x, w}, tol);
  }
}

TEST_CASE("cuda: second derivatives through transposed convolution, pooling and the normalisations") {
  manual_seed(131);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const double tol = tol_for(dt) * 10;
    const Tensor images = randn({2, 4, 6, 5}, dt), channel_w = randn({4}, dt), channel_b = randn({4}, dt);
    parity(first_derivative([](const auto& v) {
             return tanh(conv_transpose2d(v[0], v[1], v[2], {2, 1}, {1, 0}, {1, 0}, 2));
           }),
           {images, randn({4, 3, 3, 2}, dt), randn({6}, dt)}, tol);
    parity(first_derivative([](const auto& v) {
             return square(max_pool2d(v[0], {2, 2})) +
                    sum(square(avg_pool2d(v[0], {3, 2}, {2, 2}, {1, 1}, true, false)), {2, 3}, true) +
                    sum(square(adaptive_max_pool2d(v[0], {4, 3})), {2, 3}, true);
           }),
           {images}, tol);
    parity(first_derivative([](const auto& v) {
             return tanh(batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true)) +
                    tanh(group_norm(v[0], 2, v[1], v[2])) + tanh(layer_norm(v[0], {6, 5}));
           }),
           {images, channel_w, channel_b}, tol);
    parity(first_derivative([](const auto& v) {
             return tanh(conv3d(v[0], v[1], Tensor(), {2, 1, 1}, {1, 0, 1})) * 2.0;
           }),
           {randn({1, 2, 4, 3, 4}, dt), randn({3, 2, 2, 2, 2}, dt)}, tol);
    parity(first_derivative([](const auto& v) {
             return square(conv_transpose3d(v[0], v[1], Tensor(), {2, 1, 1}, {1, 0, 0}, {1, 0, 0}));
           }),
           {randn({1, 2, 3, 2, 3}, dt), randn({2, 2, 2, 2, 2}, dt)}, tol);
    const Tensor running_mean = randn({4}, dt), running_var = abs(randn({4}, dt)) + 0.5;
    parity(first_derivative([running_mean, running_var](const auto& v) {
             return tanh(batch_norm(v[0], running_mean.to(v[0].device()), running_var.to(v[0].device()), v[1],
                                    v[2], false));
           }),
           {images, channel_w, channel_b}, tol);
  }
}

TEST_CASE(
    "cuda: second derivatives through std, max values, scans, logcumsumexp, polygamma, prod, gather and "
    "binary "
    "cross-entropy") {
  manual_seed(132);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const double tol = tol_for(dt) * 10;
    const Tensor x = randn({4, 5}, dt),
                 picks = tensor<std::int64_t>({0, 4, 2, 2, 1, 3, 0, 1}).reshape({4, 2});
    parity(first_derivative([](const auto& v) {
             return square(kiln::std(v[0], {1}, true)) * v[0] + square(max(v[0], 0).values) +
                    tanh(cumsum(v[0], 1)) + cumprod(v[0], 1) + prod(v[0], 0) + square(cummax(v[0], 0).values);
           }),
           {x}, tol);
    parity(first_derivative([](const auto& v) {
             const Tensor positive = exp(v[0]) + 0.5;
             return square(logcumsumexp(v[0] * 3.0, 1)) + digamma(positive) + polygamma(2, positive);
           }),
           {x}, tol);
    parity(
        first_derivative([picks](const auto& v) { return square(gather(v[0], 1, picks.to(v[0].device()))); }),
        {x}, tol);
    const Tensor labels = rand({4, 5}, dt);
    parity(first_derivative([labels](const auto& v) {
             return binary_cross_entropy_with_logits(v[0], labels.to(v[0].device()), Tensor(),
                                                     Reduction::none);
           }),
           {x}, tol);
  }
}

TEST_CASE(
    "cuda: second derivatives through edge_softmax and the graph VAE's fused decoder, KL and sampling") {
  manual_seed(133);
  std::vector<graph::Edge> edges;
  for (int k = 0; k < 40; ++k)
    edges.push_back({randint(0, 12, {1}).item<std::int64_t>(), randint(0, 12, {1}).item<std::int64_t>()});
  const graph::CsrMatrix a = graph::add_self_loops(graph::CsrMatrix::undirected(12, edges));
  const graph::DeviceCsr on_gpu(a, gpu), on_cpu(a);
  const auto held = [&](const Tensor& t) -> const graph::DeviceCsr& {
    return t.device().is_cuda() ? on_gpu : on_cpu;
  };
  // Pairs with a node and itself, repeats, and node numbers counted from the end.
  const Tensor src = tensor<std::int64_t>({0, 3, 3, 7, -1, 5}),
               dst = tensor<std::int64_t>({0, 4, 4, -2, 2, 11});
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const double tol = tol_for(dt) * 10;
    parity(first_derivative([&](const auto& v) { return square(edge_softmax(held(v[0]), v[0] * 2.0)); }),
           {randn({a.nnz(), 3}, dt)}, tol);
    parity(first_derivative([&](const auto& v) {
             const Device on = v[0].device();
             return square(nn::inner_product_logits(v[0], src, dst)) +
                    nn::inner_product_logits(v[0], src.to(on), dst.to(on)) * 0.5;
           }),
           {randn({12, 5}, dt)}, tol);
    parity(first_derivative([](const auto& v) { return nn::gaussian_kl(v[0] * v[1], v[1]); }),
           {randn({6, 4}, dt), randn({6, 4}, dt) * 0.3}, tol);
    parity(first_derivative([](const auto& v) {
             return square(grid_sample(v[0], v[1], Interpolation::bilinear, GridPadding::reflection));
           }),
           {randn({1, 2, 4, 5}, dt), rand({1, 3, 2, 2}, dt) * 2.4 - 1.2}, tol);
    // z = mu + eps e^s: d sum(z) / ds = eps e^s = z - mu, and so is its own derivative in s.
    const Tensor mu = randn({7, 3}, dt).to(gpu), logstd = (randn({7, 3}, dt) * 0.5).to(gpu).requires_grad_();
    const Tensor z = nn::reparameterize(mu, logstd);
    const Tensor first = grad(sum(z), {logstd}, Tensor(), {.create_graph = true})[0];
    check_same(first.detach().to(Device::cpu()), (z - mu).detach().to(Device::cpu()), tol);
    check_same(grad(sum(first), {logstd})[0].to(Device::cpu()), (z - mu).detach().to(Device::cpu()), tol);
  }
}

}  // namespace kiln::test
