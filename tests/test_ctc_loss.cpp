// ctc_loss: against the sum over every path of a short input, enumerated; targets padded or
// concatenated, unbatched, the reductions, impossible alignments, float64 gradchecks, the
// module, errors.
#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// log p(target) by its definition: every path of `steps` classes that collapses (repeats
// merged, then blanks dropped) to the target, its probability summed. lp is (T, N, C).
double enumerated_log_p(const Tensor& lp, std::int64_t item, std::int64_t steps,
                        const std::vector<std::int64_t>& target, std::int64_t blank) {
  const std::int64_t n = lp.size(1), classes = lp.size(2);
  const std::vector<double> v = lp.contiguous().to_vector<double>();
  std::vector<std::int64_t> path(static_cast<std::size_t>(steps), 0);
  double total = 0;
  for (;;) {
    std::vector<std::int64_t> collapsed;
    double log_path = 0;
    for (std::int64_t t = 0; t < steps; ++t) {
      const std::int64_t c = path[static_cast<std::size_t>(t)];
      log_path += v[static_cast<std::size_t>((t * n + item) * classes + c)];
      if (c != blank && (t == 0 || path[static_cast<std::size_t>(t - 1)] != c)) collapsed.push_back(c);
    }
    if (collapsed == target) total += std::exp(log_path);
    std::int64_t t = 0;  // the next path, as a number in base C
    while (t < steps && ++path[static_cast<std::size_t>(t)] == classes)
      path[static_cast<std::size_t>(t++)] = 0;
    if (t == steps) break;
  }
  return std::log(total);
}

Tensor log_softmax_input(std::int64_t steps, std::int64_t batch, std::int64_t classes, DType dt = kFloat64) {
  return log_softmax(randn({steps, batch, classes}, dt), 2);
}

}  // namespace

TEST_CASE("ctc_loss: each item's loss is -log of the paths that collapse to its labels") {
  manual_seed(300);
  // Repeated labels (a blank must come between), an empty target, one that fills its input.
  const std::vector<std::vector<std::int64_t>> labels = {{1, 2}, {1, 1}, {}, {2, 1, 2}, {3}};
  const std::vector<std::int64_t> input_lengths = {6, 5, 4, 6, 1}, target_lengths = {2, 2, 0, 3, 1};
  for (const std::int64_t blank : {std::int64_t{0}, std::int64_t{3}}) {
    CAPTURE(blank);
    const Tensor lp = log_softmax_input(6, 5, 4);
    std::vector<std::int64_t> padded;
    for (auto row : labels) {
      for (auto& c : row)
        if (c == blank) c = 0;  // blank 3: label 3 becomes 0
      row.resize(3, 0);
      padded.insert(padded.end(), row.begin(), row.end());
    }
    const Tensor targets = from_vector(padded, {5, 3});
    const Tensor losses = ctc_loss(lp, targets, input_lengths, target_lengths, blank, Reduction::none);
    REQUIRE(losses.shape() == Shape{5});
    const std::vector<double> got = losses.to_vector<double>();
    for (std::int64_t b = 0; b < 5; ++b) {
      CAPTURE(b);
      std::vector<std::int64_t> target(padded.begin() + b * 3,
                                       padded.begin() + b * 3 + target_lengths[static_cast<std::size_t>(b)]);
      CHECK(
          got[static_cast<std::size_t>(b)] ==
          doctest::Approx(-enumerated_log_p(lp, b, input_lengths[static_cast<std::size_t>(b)], target, blank))
              .epsilon(1e-12));
    }
    // sum and mean (each loss over its target length, at least 1, then the batch mean)
    double sum = 0, mean = 0;
    for (std::size_t b = 0; b < 5; ++b) {
      sum += got[b];
      mean += got[b] / static_cast<double>(std::max<std::int64_t>(target_lengths[b], 1)) / 5;
    }
    CHECK(ctc_loss(lp, targets, input_lengths, target_lengths, blank, Reduction::sum).item() ==
          doctest::Approx(sum).epsilon(1e-12));
    CHECK(ctc_loss(lp, targets, input_lengths, target_lengths, blank).item() ==
          doctest::Approx(mean).epsilon(1e-12));
  }
}

TEST_CASE("ctc_loss: concatenated targets, unbatched input, float32, and alignments that cannot fit") {
  manual_seed(301);
  const Tensor lp = log_softmax_input(7, 3, 5);
  const std::vector<std::int64_t> input_lengths = {7, 4, 6}, target_lengths = {3, 2, 1};
  const Tensor padded = from_vector(std::vector<std::int64_t>{1, 2, 2, 4, 3, 0, 2, 0, 0}, {3, 3});
  const Tensor concatenated = from_vector(std::vector<std::int64_t>{1, 2, 2, 4, 3, 2});
  const Tensor none = ctc_loss(lp, padded, input_lengths, target_lengths, 0, Reduction::none);
  check_same(ctc_loss(lp, concatenated, input_lengths, target_lengths, 0, Reduction::none), none, 1e-12);
  check_same(ctc_loss(lp, padded.to(kInt32), input_lengths, target_lengths, 0, Reduction::none), none, 1e-12);
  // Unbatched: (T, C) with one row of targets, a 0-d loss.
  const Tensor one =
      ctc_loss(lp.select(1, 1), padded.select(0, 1).narrow(0, 0, 2), {4}, {2}, 0, Reduction::none);
  CHECK(one.dim() == 0);
  CHECK(one.item() == doctest::Approx(none.to_vector<double>()[1]).epsilon(1e-12));
  check_same(
      ctc_loss(lp.to(kFloat32), padded, input_lengths, target_lengths, 0, Reduction::none).to(kFloat64), none,
      1e-5);

  // 3 labels with a repeat need 4 steps: with 3, no alignment; with 4, exactly one path.
  const Tensor repeat = from_vector(std::vector<std::int64_t>{1, 1, 2}, {1, 3});
  const Tensor short_lp = log_softmax_input(4, 1, 3).requires_grad_(true);
  CHECK(std::isinf(ctc_loss(short_lp, repeat, {3}, {3}, 0, Reduction::sum).item()));
  const std::vector<double> v = short_lp.detach().to_vector<double>();
  CHECK(ctc_loss(short_lp, repeat, {4}, {3}, 0, Reduction::sum).item() ==
        doctest::Approx(-(v[1] + v[3] + v[7] + v[11])).epsilon(1e-12));  // 1, blank, 1, 2
  Tensor zeroed = ctc_loss(short_lp, repeat, {3}, {3}, 0, Reduction::sum, /*zero_infinity=*/true);
  CHECK(zeroed.item() == 0.0);
  zeroed.backward();
  CHECK(sum(abs(short_lp.grad())).item() == 0.0);
}

TEST_CASE("ctc_loss: an alignment forced through an emission 800 nats down is still counted") {
  // Two steps, labels (1, 2): the one path is 1 then 2, at lp -1 and -800, while the blank
  // at step 1 is likely. Item 1 is an ordinary one beside it.
  std::vector<double> v = {0, -1, 0, -1.2, -0.5, -2, 0, 0, -800, -0.3, -1.1, -1.7};
  const Tensor lp = from_vector(v, {2, 2, 3}).requires_grad_(true);
  const Tensor targets = from_vector(std::vector<std::int64_t>{1, 2, 2, 0}, {2, 2});
  const Tensor losses = ctc_loss(lp, targets, {2, 2}, {2, 1}, 0, Reduction::none);
  CHECK(losses.to_vector<double>()[0] == doctest::Approx(801).epsilon(1e-14));
  CHECK(losses.to_vector<double>()[1] ==
        doctest::Approx(-enumerated_log_p(lp.detach(), 1, 2, {2}, 0)).epsilon(1e-12));
  sum(losses.select(0, 0)).backward();
  const std::vector<double> g = lp.grad().to_vector<double>();
  CHECK(g == std::vector<double>{0, -1, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0});

  // A log-probability of -inf (a class ruled out at a step) is no path, and no NaN, in
  // either form: here it forces the log form (the only way on is 800 nats down).
  v[0] = -std::numeric_limits<double>::infinity();  // item 0's blank at step 0
  const Tensor ruled_out = from_vector(v, {2, 2, 3}).requires_grad_(true);
  const Tensor both = ctc_loss(ruled_out, targets, {2, 2}, {2, 1}, 0, Reduction::sum);
  CHECK(both.item() == doctest::Approx(801 - enumerated_log_p(lp.detach(), 1, 2, {2}, 0)).epsilon(1e-12));
  both.backward();
  CHECK(sum(isnan(ruled_out.grad()).to(kFloat64)).item() == 0);
  CHECK(ruled_out.grad().to_vector<double>()[8] == -1);
}

TEST_CASE("gradcheck: ctc_loss in log_probs, every reduction, and through log_softmax") {
  manual_seed(302);
  const Tensor targets = from_vector(std::vector<std::int64_t>{1, 2, 1, 3, 3, 0, 2, 0, 0}, {3, 3});
  const std::vector<std::int64_t> input_lengths = {6, 5, 2}, target_lengths = {3, 2, 1};
  for (const Reduction r : {Reduction::none, Reduction::sum, Reduction::mean}) {
    CAPTURE(static_cast<int>(r));
    // Not normalised: the gradient is log_probs' own, whatever they hold.
    KILN_CHECK_GRAD(
        [&](const In& in) { return ctc_loss(in[0], targets, input_lengths, target_lengths, 0, r); },
        {rand64({6, 3, 4}) * 0.5});
  }
  KILN_CHECK_GRAD(
      [&](const In& in) {
        return ctc_loss(log_softmax(in[0], 2), targets, input_lengths, target_lengths, 0, Reduction::sum);
      },
      {rand64({6, 3, 4})});
  // Second derivatives: while a walk records, the CPU kernel's rule is the gradient of the
  // recursion written as tensor ops (the GPU's), taken by a nested recorded grad.
  const Tensor short_targets = from_vector(std::vector<std::int64_t>{1, 2, 1, 0}, {2, 2});
  KILN_CHECK_GRADGRAD(
      [&](const In& in) {
        return ctc_loss(log_softmax(in[0], 2), short_targets, {4, 3}, {2, 1}, 0, Reduction::none);
      },
      {rand64({4, 2, 3})});
}

TEST_CASE("nn::CTCLoss is the functional form; ctc_loss's errors name the op and the sizes") {
  manual_seed(303);
  const Tensor lp = log_softmax_input(5, 2, 4);
  const Tensor targets = from_vector(std::vector<std::int64_t>{1, 2, 3, 0}, {2, 2});
  nn::CTCLoss loss(nn::CTCLossOptions().blank(0).reduction(Reduction::sum).zero_infinity(true));
  CHECK(loss.description() == "CTCLoss(reduction=sum, blank=0, zero_infinity=true)");
  CHECK(loss(lp, targets, {5, 3}, {2, 1}).item() ==
        ctc_loss(lp, targets, {5, 3}, {2, 1}, 0, Reduction::sum, true).item());
  CHECK_THROWS_WITH_AS(loss.forward(lp), doctest::Contains("input_lengths, target_lengths"), Error);

  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets, {5}, {2, 1}),
                       doctest::Contains("1 input lengths and 2 target lengths"), Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets, {6, 3}, {2, 1}), doctest::Contains("must be in 1 .. 5"), Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets, {5, 0}, {2, 1}), doctest::Contains("must be in 1 .. 5"), Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets, {5, 3}, {3, 1}),
                       doctest::Contains("longer than the targets' rows"), Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets, {5, 3}, {2, 2}), doctest::Contains("other than the blank, 0"),
                       Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets, {5, 3}, {2, 1}, 3), doctest::Contains("other than the blank, 3"),
                       Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets, {5, 3}, {2, 1}, 4),
                       doctest::Contains("blank = 4 is not one of the 4"), Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, from_vector(std::vector<std::int64_t>{1, 2, 3}), {5, 3}, {2, 2}),
                       doctest::Contains("3 concatenated targets, but the target lengths add up to 4"),
                       Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp, targets.to(kFloat32), {5, 3}, {2, 1}),
                       doctest::Contains("int64 or int32"), Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp.select(0, 0), targets, {5, 3}, {2, 1}),
                       doctest::Contains("for a batch of 1"), Error);
  CHECK_THROWS_WITH_AS(ctc_loss(lp.unsqueeze(0), targets, {5, 3}, {2, 1}),
                       doctest::Contains("(T, N, C) or (T, C)"), Error);
}
