// ctc_loss (the recursion composed of tensor ops on a GPU, the CPU's own loops) and the
// class-margin losses, and interpolate's bicubic, nearest-exact and area modes on the GPU
// against the CPU: values and gradients, every reduction, impossible alignments.
#include <doctest/doctest.h>

#include <cmath>

#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

TEST_CASE("cuda: ctc_loss, padded and concatenated targets, every reduction") {
  manual_seed(110);
  const Tensor padded = from_vector(std::vector<std::int64_t>{1, 2, 2, 4, 3, 4, 2, 0, 0, 1, 1, 1}, {4, 3});
  const Tensor concatenated = from_vector(std::vector<std::int64_t>{1, 2, 2, 4, 3, 4, 2});
  const std::vector<std::int64_t> input_lengths = {9, 6, 3, 8}, target_lengths = {3, 3, 1, 0};
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor lp = log_softmax(randn({9, 4, 5}, dt), 2);
    for (const Reduction r : {Reduction::none, Reduction::sum, Reduction::mean}) {
      parity([&](const auto& v) { return ctc_loss(v[0], v[1], input_lengths, target_lengths, 0, r); },
             {lp, padded}, tol_for(dt) * 10);
      parity([&](const auto& v) { return ctc_loss(v[0], v[1], input_lengths, target_lengths, 0, r); },
             {lp, concatenated}, tol_for(dt) * 10);
    }
    // Through a log_softmax, and one item unbatched.
    parity(
        [&](const auto& v) { return ctc_loss(log_softmax(v[0], 2), v[1], input_lengths, target_lengths, 0); },
        {randn({9, 4, 5}, dt), padded}, tol_for(dt) * 10);
    parity([&](const auto& v) { return ctc_loss(v[0], v[1], {7}, {2}, 0, Reduction::none); },
           {lp.select(1, 0), padded.select(0, 1).narrow(0, 0, 2)}, tol_for(dt) * 10);
  }
  // An item that cannot be aligned (3 labels with a repeat in 3 steps): inf, or 0 and no
  // gradient with zero_infinity, as on the CPU.
  const Tensor lp = log_softmax(randn({3, 1, 3}, kFloat64), 2);
  const Tensor repeat = from_vector(std::vector<std::int64_t>{1, 1, 2}, {1, 3});
  CHECK(std::isinf(ctc_loss(lp.to(gpu), repeat.to(gpu), {3}, {3}).item()));
  parity([&](const auto& v) { return ctc_loss(v[0], v[1], {3}, {3}, 0, Reduction::sum, true); }, {lp, repeat},
         tol_for(kFloat64));
}

TEST_CASE("cuda: multi_margin_loss and multilabel_margin_loss") {
  manual_seed(111);
  const Tensor classes = from_vector(std::vector<std::int64_t>{2, 0, 4, 2});
  const Tensor listed = from_vector(
      std::vector<std::int64_t>{2, 0, -1, 1, 1, 4, 1, 3, -1, 0, -1, 2, 3, 4, 0, 0, 1, 2, 3, 4}, {4, 5});
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({4, 5}, dt), w = rand({5}, dt) + 0.5;
    for (const Reduction r : {Reduction::none, Reduction::mean}) {
      parity([r](const auto& v) { return multi_margin_loss(v[0], v[1], 1, 0.9, Tensor(), r); }, {x, classes},
             tol_for(dt));
      parity([r](const auto& v) { return multi_margin_loss(v[0], v[1], 2, 1.0, v[2], r); }, {x, classes, w},
             tol_for(dt));
      parity([r](const auto& v) { return multilabel_margin_loss(v[0], v[1], r); }, {x, listed}, tol_for(dt));
    }
  }
}

TEST_CASE("cuda: interpolate, bicubic, nearest-exact and area") {
  manual_seed(112);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({2, 3, 5, 4}, dt);
    for (const Pair size : {Pair{9, 7}, Pair{3, 2}, Pair{5, 4}}) {
      for (const bool corners : {false, true})
        parity([=](const auto& v) { return interpolate(v[0], size, Interpolation::bicubic, corners); }, {x},
               tol_for(dt));
      parity([=](const auto& v) { return interpolate(v[0], size, Interpolation::nearest_exact); }, {x},
             tol_for(dt));
      parity([=](const auto& v) { return interpolate(v[0], size, Interpolation::area); }, {x}, tol_for(dt));
    }
  }
}

}  // namespace kiln::test
