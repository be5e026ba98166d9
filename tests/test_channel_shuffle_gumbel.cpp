// channel_shuffle, nn::Softmax2d and gumbel_softmax: definitions, the Gumbel-max
// frequencies, the straight-through gradient, float64 gradchecks, errors.
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

TEST_CASE("channel_shuffle interleaves the groups; nn::ChannelShuffle and nn::Softmax2d") {
  // 6 channels in 2 groups (0 1 2 | 3 4 5) become 0 3 1 4 2 5.
  const Tensor x = arange(0, 12, 1, kFloat64).reshape({1, 6, 2});
  check_values(channel_shuffle(x, 2).select(2, 0), {0, 6, 2, 8, 4, 10});
  check_values(channel_shuffle(x, 3).select(2, 0), {0, 4, 8, 2, 6, 10});
  check_same(channel_shuffle(x, 1), x, 0.0);
  check_same(channel_shuffle(x, 6), x, 0.0);
  // Shuffling by g then by C / g restores the order.
  const Tensor img = rand64({2, 12, 3, 2});
  check_same(channel_shuffle(channel_shuffle(img, 3), 4), img, 0.0);
  KILN_CHECK_GRAD([](const In& in) { return channel_shuffle(in[0], 2); }, {rand64({2, 4, 3})});
  nn::ChannelShuffle layer(3);
  check_same(layer(img), channel_shuffle(img, 3), 0.0);
  CHECK(layer.description() == "ChannelShuffle(groups=3)");
  CHECK_THROWS_WITH_AS(channel_shuffle(img, 5), doctest::Contains("groups = 5 must divide the 12 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(channel_shuffle(rand64({2, 4}), 2), doctest::Contains("(N, C, *)"), Error);
  CHECK_THROWS_AS(nn::ChannelShuffle(0), Error);

  nn::Softmax2d soft;
  check_same(soft(img), softmax(img, 1), 0.0);
  check_same(soft(img.select(0, 0)), softmax(img.select(0, 0), 0), 0.0);
  CHECK(soft.description() == "Softmax2d()");
  CHECK_THROWS_WITH_AS(soft(rand64({2, 3})), doctest::Contains("(N, C, H, W) or (C, H, W)"), Error);
}

TEST_CASE("gumbel_softmax: samples on the simplex, Gumbel-max frequencies, straight-through gradient") {
  manual_seed(63);
  const Tensor logits = from_vector(std::vector<double>{0.0, 1.0, 2.0, -1.0}, {1, 4});
  const Tensor many = logits.expand({40000, 4}).contiguous();
  const Tensor soft = gumbel_softmax(many, 0.5);
  check_same(sum(soft, {1}), ones({40000}, kFloat64), 1e-12);
  CHECK(min(soft).item() >= 0.0);
  // hard: one-hot rows whose argmax falls with softmax(logits)'s probabilities (the
  // Gumbel-max trick; binomial sd below 0.0025).
  const Tensor hard = gumbel_softmax(many, 1.0, true);
  CHECK(sum(eq(hard, 1.0).to(kFloat64)).item() == 40000);
  CHECK(sum(eq(hard, 0.0).to(kFloat64)).item() == 3 * 40000);
  const std::vector<double> freq = mean(hard, {0}).to_vector<double>(),
                            p = softmax(logits, 1).to_vector<double>();
  for (std::size_t k = 0; k < 4; ++k) CHECK(std::abs(freq[k] - p[k]) < 0.01);
  // Straight through: hard's gradient is the soft sample's of the same draw.
  Tensor a = rand64({3, 5}).requires_grad_(), b = a.detach().clone().requires_grad_();
  const Tensor weights = rand64({3, 5});
  manual_seed(9);
  sum(gumbel_softmax(a, 0.7, true) * weights).backward();
  manual_seed(9);
  sum(gumbel_softmax(b, 0.7, false) * weights).backward();
  check_same(a.grad(), b.grad(), 1e-12);
  // With its draw fixed, the soft sample is a smooth function of the logits.
  KILN_CHECK_GRAD(
      [](const In& in) {
        manual_seed(11);
        return gumbel_softmax(in[0], 0.8, false, 0);
      },
      {rand64({4, 3})});
  CHECK_THROWS_WITH_AS(gumbel_softmax(logits, 0.0), doctest::Contains("tau must be"), Error);
  CHECK_THROWS_WITH_AS(gumbel_softmax(ones({2}, kInt64)), doctest::Contains("gumbel_softmax"), Error);
}
