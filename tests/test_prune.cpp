// Pruning (kiln/nn/prune.hpp): the masks of each rule worked out by hand, pruning again,
// amounts as fractions (rounded half to even) and counts, the gradient through the mask,
// global pruning, state dicts with PyTorch's names, remove, the errors, and sequences of
// calls whose masks PyTorch printed (tests/prune_torch_reference.py).
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
namespace prune = kiln::nn::prune;

namespace {

// A Linear(4, 3) whose weights are -1.2, 0.1, ... (distinct magnitudes, mixed signs).
std::shared_ptr<nn::Linear> linear_with_known_weights() {
  auto fc = std::make_shared<nn::Linear>(4, 3);
  NoGradGuard no_grad;
  fc->weight.copy_(tensor<float>({-1.2f, 0.1f, 0.7f, -0.3f,  //
                                  0.5f, -0.05f, 2.0f, 0.9f,  //
                                  -0.6f, 0.2f, -1.5f, 0.4f},
                                 {3, 4}));
  return fc;
}

std::vector<std::string> names(const nn::NamedTensors& list) {
  std::vector<std::string> out;
  for (const auto& [n, _] : list) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("l1_unstructured zeroes the smallest magnitudes, through weight_orig and weight_mask") {
  const auto fc_owner = linear_with_known_weights();
  nn::Linear& fc = *fc_owner;
  const Tensor original = fc.weight.clone();
  prune::l1_unstructured(fc, "weight", 0.5);  // 6 of 12: |w| 0.05, 0.1, 0.2, 0.3, 0.4, 0.5
  CHECK(names(fc.named_parameters()) == std::vector<std::string>{"bias", "weight_orig"});
  CHECK(names(fc.named_buffers()) == std::vector<std::string>{"weight_mask"});
  const std::vector<double> mask{1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0};
  check_values(fc.named_buffers()[0].second, mask);
  check_same(fc.named_parameters()[1].second, original);  // orig keeps every value
  check_same(fc.weight, original * fc.named_buffers()[0].second);
  CHECK(prune::is_pruned(fc));

  // The layer computes with the masked weight.
  const Tensor x = randn({2, 4});
  check_same(fc(x), linear(x, original * fc.named_buffers()[0].second, fc.bias));

  SUBCASE("pruning again narrows the same mask: the fraction counts what is left") {
    prune::l1_unstructured(fc, "weight", 0.5);  // 3 of the 6 left: 0.6, 0.7 and 0.9 go
    check_values(fc.named_buffers()[0].second, {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0});
    CHECK(fc.named_buffers().size() == 1);
    prune::l1_unstructured(fc, "weight", 2);  // a count: 1.2 and 1.5 go, 2.0 stays
    check_values(fc.weight, {0, 0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 0});
  }
  SUBCASE("the gradient reaches only the kept entries, and training keeps the pruned at 0") {
    optim::SGD sgd(fc.parameters(), optim::SGDOptions(0.1));
    sgd.zero_grad();
    sum(fc(x)).backward();
    const Tensor g = fc.named_parameters()[1].second.grad();
    const std::vector<double> gv = g.to_vector<double>();
    for (std::size_t i = 0; i < mask.size(); ++i) CHECK((gv[i] != 0.0) == (mask[i] != 0.0));
    sgd.step();
    fc(x);  // the pre-hook recomputes the weight from the new weight_orig
    const std::vector<double> w = fc.weight.to_vector<double>();
    for (std::size_t i = 0; i < mask.size(); ++i)
      if (mask[i] == 0.0) CHECK(w[i] == 0.0);
  }
  SUBCASE("remove makes it permanent") {
    prune::remove(fc, "weight");
    CHECK(names(fc.named_parameters()) == std::vector<std::string>{"bias", "weight"});
    CHECK(fc.named_buffers().empty());
    CHECK_FALSE(prune::is_pruned(fc));
    check_same(fc.named_parameters()[1].second,
               original * tensor<float>({1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0}, {3, 4}));
    CHECK(fc.weight.requires_grad());
    CHECK_THROWS_WITH_AS(prune::remove(fc, "weight"), doctest::Contains("has no prune"), Error);
  }
}

TEST_CASE("prune amounts: fractions round half to even, counts are exact") {
  const Tensor scores = tensor<double>({5, 4, 3, 2, 1}), all = ones({5}, kFloat64);
  // 0.5 * 5 = 2.5 rounds to 2; 0.3 * 5 = 1.5 rounds to 2; 0.1 * 5 = 0.5 rounds to 0.
  check_values(prune::l1_unstructured_mask(scores, 0.5, all), {1, 1, 1, 0, 0});
  check_values(prune::l1_unstructured_mask(scores, 0.3, all), {1, 1, 1, 0, 0});
  check_values(prune::l1_unstructured_mask(scores, 0.1, all), {1, 1, 1, 1, 1});
  check_values(prune::l1_unstructured_mask(scores, 0.7, all), {1, 0, 0, 0, 0});  // 3.5 -> 4
  check_values(prune::l1_unstructured_mask(scores, 1, all), {1, 1, 1, 1, 0});
  check_values(prune::l1_unstructured_mask(scores, 1.0, all), {0, 0, 0, 0, 0});
  // Ties go to the lower index; entries already pruned are not candidates.
  check_values(prune::l1_unstructured_mask(tensor<double>({2, -1, 1, 3}), 1, ones({4}, kFloat64)),
               {1, 0, 1, 1});
  check_values(prune::l1_unstructured_mask(tensor<double>({2, -1, 1, 3}), 1, tensor<double>({1, 0, 1, 1})),
               {1, 0, 0, 1});
  CHECK_THROWS_WITH_AS(prune::l1_unstructured_mask(scores, 6, all),
                       doctest::Contains("a count must lie in [0, 5]"), Error);
  CHECK_THROWS_WITH_AS(prune::l1_unstructured_mask(scores, 1.5, all), doctest::Contains("must lie in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(prune::l1_unstructured_mask(scores, 0.5, ones({4}, kFloat64)),
                       doctest::Contains("the mask has shape (4)"), Error);
}

TEST_CASE("ln_structured removes whole slices by their norm") {
  // Rows of a (3, 4) weight: L1 norms 2.3, 3.45, 2.7; L2 norms 1.43, 2.3, 1.70; max 1.2, 2.0, 1.5.
  const auto fc_owner = linear_with_known_weights();
  nn::Linear& fc = *fc_owner;
  const Tensor w = fc.weight.clone();
  check_values(prune::ln_structured_mask(w, 1, 1.0, 0, ones({3, 4})), {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1});
  check_values(prune::ln_structured_mask(w, 2, INFINITY, 0, ones({3, 4})),
               {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0});
  // Columns (dim 1), L2: 1.43, 0.23, 2.59, 1.03: half of them, the two smallest.
  check_values(prune::ln_structured_mask(w, 0.5, 2.0, -1, ones({3, 4})),
               {1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0});

  SUBCASE("on a convolution's filters, again and again") {
    nn::Conv2d conv(nn::Conv2dOptions(2, 4, 3));
    prune::ln_structured(conv, "weight", 0.5, 2.0, 0);  // 2 of 4 filters
    const std::vector<double> kept = sum(abs(conv.weight), {1, 2, 3}).to_vector<double>();
    CHECK(std::count(kept.begin(), kept.end(), 0.0) == 2);
    prune::ln_structured(conv, "weight", 0.5, 2.0, 0);  // 1 of the 2 left
    const std::vector<double> left = sum(abs(conv.weight), {1, 2, 3}).to_vector<double>();
    CHECK(std::count(left.begin(), left.end(), 0.0) == 3);
    CHECK_THROWS_WITH_AS(prune::ln_structured(conv, "weight", 2, 2.0, 0),
                         doctest::Contains("a count must lie in [0, 1]"), Error);
  }
  CHECK_THROWS_WITH_AS(prune::ln_structured_mask(w, 1, 2.0, 2, ones({3, 4})),
                       doctest::Contains("dim 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(prune::ln_structured_mask(w, 1, 0.0, 0, ones({3, 4})),
                       doctest::Contains("must be positive"), Error);
}

TEST_CASE("random pruning takes exactly the amount, repeatably for a seed") {
  const auto zeros_in = [](const Tensor& t) {
    const std::vector<double> v = t.to_vector<double>();
    return std::count(v.begin(), v.end(), 0.0);
  };
  nn::Linear a(10, 10), b(10, 10);
  NoGradGuard no_grad;
  b.weight.copy_(a.weight);
  manual_seed(3);
  prune::random_unstructured(a, "weight", 0.35);
  manual_seed(3);
  prune::random_unstructured(b, "weight", 0.35);
  CHECK(zeros_in(a.named_buffers()[0].second) == 35);
  CHECK(equal(a.named_buffers()[0].second, b.named_buffers()[0].second));
  prune::random_unstructured(a, "weight", 13);
  CHECK(zeros_in(a.named_buffers()[0].second) == 48);

  nn::Conv2d conv(nn::Conv2dOptions(3, 8, 3));
  prune::random_structured(conv, "weight", 0.25, 0);  // 2 of 8 filters
  const std::vector<double> per_filter = sum(conv.named_buffers()[0].second, {1, 2, 3}).to_vector<double>();
  CHECK(std::count(per_filter.begin(), per_filter.end(), 0.0) == 2);
  CHECK(std::count(per_filter.begin(), per_filter.end(), 27.0) == 6);
}

TEST_CASE("global_unstructured ranks every listed parameter together") {
  const auto fc1_owner = linear_with_known_weights();
  nn::Linear& fc1 = *fc1_owner;
  nn::Linear fc2(2, 2);
  {
    NoGradGuard no_grad;
    fc2.weight.copy_(tensor<float>({0.15f, -3.0f, 0.01f, 0.25f}, {2, 2}));
  }
  // 16 entries; 0.25 of them is 4: 0.01, 0.05, 0.1, 0.15.
  prune::global_unstructured({{&fc1, "weight"}, {&fc2, "weight"}}, 0.25);
  check_values(fc1.weight, {-1.2, 0, 0.7, -0.3, 0.5, 0, 2.0, 0.9, -0.6, 0.2, -1.5, 0.4}, 1e-6);
  check_values(fc2.weight, {0, -3.0, 0, 0.25}, 1e-6);
  // Again: 3 of the 12 left (0.2, 0.25, 0.3), across both layers' current weights.
  prune::global_unstructured({{&fc1, "weight"}, {&fc2, "weight"}}, 3);
  check_values(fc1.weight, {-1.2, 0, 0.7, 0, 0.5, 0, 2.0, 0.9, -0.6, 0, -1.5, 0.4}, 1e-6);
  check_values(fc2.weight, {0, -3.0, 0, 0}, 1e-6);
  CHECK_THROWS_WITH_AS(prune::global_unstructured({{&fc1, "weight"}, {&fc1, "weight"}}, 1),
                       doctest::Contains("is listed twice"), Error);
}

TEST_CASE("custom_from_mask, identity, state dicts and errors") {
  const auto fc_owner = linear_with_known_weights();
  nn::Linear& fc = *fc_owner;
  prune::identity(fc, "weight");
  check_same(fc.weight, linear_with_known_weights()->weight);
  prune::custom_from_mask(fc, "weight", tensor<float>({1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0}, {3, 4}));
  prune::custom_from_mask(fc, "weight", tensor<float>({0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 4}));
  check_values(fc.named_buffers()[0].second, {0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0});

  // A state dict with PyTorch's names loads into another pruned layer, weight recomputed.
  const nn::StateDict state = fc.state_dict();
  CHECK(state.count("weight_orig") == 1);
  CHECK(state.count("weight_mask") == 1);
  CHECK(state.count("weight") == 0);
  nn::Linear other(4, 3);
  prune::identity(other, "weight");
  other.load_state_dict(state);
  check_same(other.weight, fc.weight);

  CHECK_THROWS_WITH_AS(prune::custom_from_mask(fc, "weight", full({3, 4}, 0.5)),
                       doctest::Contains("only 0 and 1"), Error);
  CHECK_THROWS_WITH_AS(prune::l1_unstructured(fc, "kernel", 0.5),
                       doctest::Contains("has no parameter 'kernel'"), Error);
  nn::Linear normed(4, 3);
  nn::weight_norm(normed);
  CHECK_THROWS_WITH_AS(prune::l1_unstructured(normed, "weight", 0.5),
                       doctest::Contains("already has weight_norm"), Error);
}

// The masks tests/prune_torch_reference.py printed with PyTorch 2.15 for the same weights
// and calls: pruning again, structured pruning over what is left, global pruning.
TEST_CASE("prune masks match torch.nn.utils.prune") {
  const auto with_formula = [](Tensor& weight, auto value) {
    std::vector<float> w(static_cast<std::size_t>(weight.numel()));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(value(static_cast<double>(i)));
    NoGradGuard no_grad;
    weight.copy_(from_vector(w, weight.shape()));
  };
  const auto make_linear = [&] {
    auto fc = std::make_shared<nn::Linear>(5, 6);
    with_formula(fc->weight, [](double i) { return std::sin(0.7 * i + 0.2) * (1 + 0.05 * i); });
    return fc;
  };
  const auto make_conv = [&] {
    auto conv = std::make_shared<nn::Conv1d>(nn::Conv1dOptions(3, 4, 2));
    with_formula(conv->weight, [](double i) { return std::cos(1.3 * i) * (0.5 + 0.01 * i); });
    return conv;
  };
  const auto mask_of = [](nn::Module& m) {
    std::string s;
    for (const auto& [name, t] : m.named_buffers())
      if (name == "weight_mask")
        for (double v : t.to_vector<double>()) s += v != 0.0 ? '1' : '0';
    return s;
  };

  auto fc = make_linear();
  prune::l1_unstructured(*fc, "weight", 0.3);
  CHECK(mask_of(*fc) == "011100110011101111011101111011");
  prune::l1_unstructured(*fc, "weight", 0.45);
  CHECK(mask_of(*fc) == "000000110001000110011100110011");
  prune::ln_structured(*fc, "weight", 0.34, 2.0, 1);
  CHECK(mask_of(*fc) == "000000100001000110011100110001");
  prune::l1_unstructured(*fc, "weight", 3);
  CHECK(mask_of(*fc) == "000000000000000110011000110001");

  auto conv = make_conv();
  prune::ln_structured(*conv, "weight", 0.5, 1.0, 0);
  CHECK(mask_of(*conv) == "000000000000111111111111");
  prune::ln_structured(*conv, "weight", 1, INFINITY, 1);
  CHECK(mask_of(*conv) == "000000000000110011110011");
  prune::l1_unstructured(*conv, "weight", 0.25);
  CHECK(mask_of(*conv) == "000000000000110011010010");
  prune::ln_structured(*conv, "weight", 0.5, 3.0, -1);
  CHECK(mask_of(*conv) == "000000000000100010000010");

  auto a = make_linear();
  auto b = make_conv();
  prune::global_unstructured({{a.get(), "weight"}, {b.get(), "weight"}}, 0.4);
  CHECK(mask_of(*a) == "011101111011101111011101111111");
  CHECK(mask_of(*b) == "000001010010100101010010");
  prune::global_unstructured({{a.get(), "weight"}, {b.get(), "weight"}}, 7);
  CHECK(mask_of(*a) == "011101111011101111011101111011");
  CHECK(mask_of(*b) == "000000000000000001000010");
}
