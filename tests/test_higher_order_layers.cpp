// Derivatives of derivatives through the layers of image and sequence models: transposed
// convolutions (and so a third derivative through conv2d), pooling, and the
// normalisations' fused kernels, whose backward rules take recorded forms while a walk
// records (create_graph).
#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::gradient_penalty;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// The first derivative of sum(f(inputs) * u) from a recording walk equals the plain
// walk's: the recorded rule computes the same gradient as the fused kernel.
void check_recorded_first_derivative(const std::function<Tensor(const In&)>& f, const In& values) {
  In inputs;
  for (const Tensor& v : values) inputs.push_back(v.detach().requires_grad_());
  const Tensor out = f(inputs);
  const Tensor u = rand64(out.shape());
  const std::vector<Tensor> plain = grad(out, inputs, u, {.retain_graph = true});
  const std::vector<Tensor> recorded = grad(out, inputs, u, {.create_graph = true});
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    INFO("input " << i);
    check_same(recorded[i], plain[i], 1e-12);
  }
}

}  // namespace

TEST_CASE("gradgradcheck: conv_transpose2d and conv_transpose1d with stride, padding, groups and bias") {
  manual_seed(41);
  struct Geometry {
    Pair stride, padding, output_padding, dilation;
    std::int64_t groups;
  };
  for (const Geometry& c :
       {Geometry{{2, 2}, {1, 0}, {1, 0}, {1, 1}, 1}, Geometry{{1, 2}, {0, 1}, {0, 1}, {2, 1}, 2},
        Geometry{{1, 1}, {0, 0}, {0, 0}, {1, 1}, 1}}) {
    INFO("stride " << c.stride[0] << "," << c.stride[1] << " groups " << c.groups);
    KILN_CHECK_GRADGRAD(
        [&](const In& in) {
          return tanh(conv_transpose2d(in[0], in[1], in[2], c.stride, c.padding, c.output_padding, c.groups,
                                       c.dilation));
        },
        {rand64({2, 4, 3, 4}), rand64({4, 6 / c.groups, 3, 2}), rand64({6})});
  }
  KILN_CHECK_GRADGRAD([](const In& in) { return square(conv_transpose1d(in[0], in[1], Tensor(), 2, 1, 1)); },
                      {rand64({2, 3, 5}), rand64({3, 2, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return tanh(conv1d(in[0], in[1], in[2], 2, 1)); },
                      {rand64({2, 3, 7}), rand64({4, 3, 3}), rand64({4})});
}

TEST_CASE("gradgradcheck: conv3d, conv_transpose3d and the 3-D pools") {
  manual_seed(47);
  const Tensor volume = rand64({2, 2, 4, 3, 4});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return tanh(conv3d(in[0], in[1], in[2], {2, 1, 1}, {1, 0, 1}, {1, 1, 2}));
      },
      {volume, rand64({3, 2, 2, 2, 2}), rand64({3})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return tanh(conv3d(in[0], in[1], Tensor(), {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2));
      },
      {volume, rand64({4, 1, 2, 2, 3})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return tanh(conv_transpose3d(in[0], in[1], in[2], {2, 1, 2}, {1, 0, 0}, {1, 0, 1}));
      },
      {rand64({1, 2, 3, 2, 3}), rand64({2, 3, 2, 2, 2}), rand64({3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(max_pool3d(in[0], {2, 2, 2})); }, {volume});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(avg_pool3d(in[0], {2, 3, 2}, {1, 1, 2}, {1, 1, 0}));
      },
      {volume});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(adaptive_avg_pool3d(in[0], {3, 2, 3})); }, {volume});
}

TEST_CASE("a third derivative through conv2d: the recorded input gradient is itself differentiable twice") {
  manual_seed(42);
  // f(x, w) = d/dx sum(tanh(conv2d(x, w))) as a recorded gradient; gradgradcheck of f checks
  // the third derivatives of the convolution network (conv2d's recorded gradients run their
  // conv_transpose2d and correlation backward twice).
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        EnableGradGuard recording;  // gradgradcheck also calls it under NoGradGuard, on plain inputs
        const Tensor x = in[0].requires_grad() ? in[0] : in[0].detach().requires_grad_();
        const Tensor y = sum(tanh(conv2d(x, in[1], Tensor(), {2, 1}, {1, 1})));
        return grad(y, {x}, Tensor(), {.create_graph = true})[0];
      },
      {rand64({1, 2, 5, 4}), rand64({3, 2, 3, 2})});
}

TEST_CASE("gradgradcheck: max, average and adaptive pooling") {
  manual_seed(43);
  // Random values have no ties, so each window's winner is fixed under small changes.
  const Tensor image = rand64({2, 3, 7, 6});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(max_pool2d(in[0], {2, 2})); }, {image});  // SIMD 2x2
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(max_pool2d(in[0], {3, 2}, {2, 1}, {1, 1}, true));
      },
      {image});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(max_pool1d(in[0], 3, 2, 1)); }, {rand64({2, 3, 9})});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(adaptive_max_pool2d(in[0], {3, 4})); }, {image});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(avg_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}));
      },
      {image});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return square(avg_pool2d(in[0], {2, 3}, {2, 2}, {1, 1}, true, false));
      },
      {image});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(adaptive_avg_pool2d(in[0], {3, 4})); }, {image});
  KILN_CHECK_GRADGRAD([](const In& in) { return square(avg_pool1d(in[0], 2)); }, {rand64({2, 3, 8})});

  // avg_pool2d's gradient is itself recorded, so the walk goes on to any order.
  const Tensor x = rand64({1, 1, 4, 4}).requires_grad_();
  const Tensor d1 = grad(sum(pow(avg_pool2d(x, {2, 2}), 3.0)), {x}, Tensor(), {.create_graph = true})[0];
  const Tensor d2 = grad(sum(d1), {x}, Tensor(), {.create_graph = true})[0];
  const Tensor d3 = grad(sum(d2), {x})[0];
  // Each output m = mean of 4 inputs: d3 of sum(m^3) by x_i x_j x_k is 6 / 4^3, summed over
  // the 16 ordered pairs (j, k) in x_i's window: 96 / 64.
  check_same(d3, full_like(x.detach(), 1.5), 1e-12);
}

TEST_CASE("gradgradcheck: layer, rms, group, batch and instance normalisation") {
  manual_seed(44);
  const Tensor rows = rand64({4, 2, 5});
  KILN_CHECK_GRADGRAD([](const In& in) { return tanh(layer_norm(in[0], {5}, in[1], in[2])); },
                      {rows, rand64({5}), rand64({5})});
  KILN_CHECK_GRADGRAD([](const In& in) { return tanh(layer_norm(in[0], {2, 5})); }, {rows});
  KILN_CHECK_GRADGRAD([](const In& in) { return tanh(rms_norm(in[0], {5}, in[1], 1e-6)); },
                      {rows, rand64({5})});

  const Tensor images = rand64({3, 4, 3, 2});
  KILN_CHECK_GRADGRAD([](const In& in) { return tanh(group_norm(in[0], 2, in[1], in[2])); },
                      {images, rand64({4}), rand64({4})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return tanh(batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true)); },
      {images, rand64({4}), rand64({4})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return tanh(batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true)); },
      {rand64({6, 3})});
  const Tensor running_mean = rand64({4}), running_var = abs(rand64({4})) + 0.5;
  KILN_CHECK_GRADGRAD(
      [&](const In& in) { return tanh(batch_norm(in[0], running_mean, running_var, in[1], in[2], false)); },
      {images, rand64({4}), rand64({4})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) { return tanh(instance_norm(in[0], Tensor(), Tensor(), in[1], in[2])); },
      {images, rand64({4}), rand64({4})});
}

TEST_CASE("the normalisations' recorded first derivatives equal their fused kernels'") {
  manual_seed(45);
  const Tensor images = rand64({3, 4, 3, 2});
  check_recorded_first_derivative(
      [](const In& in) {
        return layer_norm(in[0], {3, 2}, in[1], in[2]);
      },
      {images, rand64({3, 2}), rand64({3, 2})});
  check_recorded_first_derivative([](const In& in) { return rms_norm(in[0], {2}, in[1]); },
                                  {images, rand64({2})});
  check_recorded_first_derivative([](const In& in) { return group_norm(in[0], 2, in[1], in[2]); },
                                  {images, rand64({4}), rand64({4})});
  check_recorded_first_derivative(
      [](const In& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
      {images, rand64({4}), rand64({4})});
  check_recorded_first_derivative([](const In& in) { return max_pool2d(in[0], {2, 2}) * 2.0; }, {images});
  check_recorded_first_derivative([](const In& in) { return avg_pool2d(in[0], {2, 1}, {1, 1}); }, {images});
  check_recorded_first_derivative(
      [](const In& in) {
        return conv_transpose2d(in[0], in[1], in[2], {2, 2}, {1, 1}, {1, 1});
      },
      {images, rand64({4, 2, 3, 3}), rand64({2})});
}

TEST_CASE("a critic with layer norm and pooling: its gradient penalty's gradient in the weights is right") {
  // WGAN-GP's critic normalises with layer norm (batch norm would couple the samples'
  // gradients); the penalty's gradient runs back through the recorded backward of
  // conv2d, layer_norm, leaky_relu and avg_pool2d.
  manual_seed(46);
  const Tensor images = rand64({3, 1, 6, 6});
  const auto penalty = [images](const In& w) {
    return gradient_penalty(images, [&w](const Tensor& x) {
      Tensor h = conv2d(x, w[0], w[1], {1, 1}, {1, 1});  // (3, 2, 6, 6)
      h = leaky_relu(layer_norm(h, {2, 6, 6}, w[2].reshape({2, 1, 1}).expand({2, 6, 6}).contiguous()), 0.2);
      h = avg_pool2d(max_pool2d(h, {2, 2}), {3, 3});  // (3, 2, 1, 1)
      return linear(h.flatten(1), w[3]);
    });
  };
  KILN_CHECK_GRAD(penalty, {rand64({2, 1, 3, 3}), rand64({2}), rand64({2}), rand64({1, 2})});
}
