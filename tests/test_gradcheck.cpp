// A float64 finite-difference gradcheck for every differentiable op,
// with broadcasting and non-contiguous inputs where they apply.
#include "helpers.hpp"

using namespace kiln;
using kiln::test::positive64;
using kiln::test::rand64;
using In = std::vector<Tensor>;

TEST_CASE("gradcheck catches a wrong backward rule") {
  // An op that claims d/dx (2x) = 3.
  auto wrong = [](const In& in) {
    Tensor out = (in[0] * 2.0).detach();
    if (should_record({in[0]}))
      attach_grad_fn(out, "wrong", {in[0]}, [](const Tensor& g) { return Grads{g * 3.0}; });
    return out;
  };
  const auto r = gradcheck(wrong, {rand64({3})});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("analytic") != std::string::npos);
  CHECK_THROWS_WITH_AS(gradcheck(wrong, {randn({3})}), doctest::Contains("float64"), Error);
}

TEST_CASE("gradcheck: binary arithmetic with broadcasting") {
  manual_seed(11);
  KILN_CHECK_GRAD([](const In& in) { return in[0] + in[1]; }, {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0] - in[1]; }, {rand64({2, 1}), rand64({1, 3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0] * in[1]; }, {rand64({4, 2, 3}), rand64({2, 1})});
  KILN_CHECK_GRAD([](const In& in) { return in[0] / in[1]; }, {rand64({2, 3}), positive64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return pow(in[0], in[1]); }, {positive64({3}), rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return pow(in[0], 3.0); }, {rand64({5})});
  KILN_CHECK_GRAD([](const In& in) { return maximum(in[0], in[1]); }, {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return minimum(in[0], in[1]); }, {rand64({2, 3}), rand64({2, 1})});
  KILN_CHECK_GRAD([](const In& in) { return in[0] * 2.0 - 1.0 / in[1]; }, {rand64({3}), positive64({3})});
}

TEST_CASE("gradcheck: unary math and activations") {
  manual_seed(12);
  KILN_CHECK_GRAD([](const In& in) { return neg(in[0]); }, {rand64({4})});
  KILN_CHECK_GRAD([](const In& in) { return exp(in[0]); }, {rand64({4})});
  KILN_CHECK_GRAD([](const In& in) { return log(in[0]); }, {positive64({4})});
  KILN_CHECK_GRAD([](const In& in) { return sqrt(in[0]); }, {positive64({4})});
  KILN_CHECK_GRAD([](const In& in) { return abs(in[0]); }, {tensor<double>({-2, -0.5, 0.5, 3})});
  KILN_CHECK_GRAD([](const In& in) { return clamp(in[0], -0.5, 0.5); }, {tensor<double>({-2, -0.3, 0.1, 0.4, 3})});
  KILN_CHECK_GRAD([](const In& in) { return relu(in[0]); }, {tensor<double>({-2, -0.3, 0.1, 3})});
  KILN_CHECK_GRAD([](const In& in) { return leaky_relu(in[0], 0.2); }, {tensor<double>({-2, -0.3, 0.1, 3})});
  KILN_CHECK_GRAD([](const In& in) { return sigmoid(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return tanh(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return gelu(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return softplus(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return silu(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return sin(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return cos(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return log1p(in[0]); }, {positive64({4})});
  KILN_CHECK_GRAD([](const In& in) { return expm1(in[0]); }, {rand64({2, 3})});
}

TEST_CASE("gradcheck: cumsum") {
  manual_seed(14);
  KILN_CHECK_GRAD([](const In& in) { return cumsum(in[0], 0); }, {rand64({5})});
  KILN_CHECK_GRAD([](const In& in) { return cumsum(in[0], 1); }, {rand64({3, 4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return cumsum(in[0].t(), -1); }, {rand64({4, 3})});
}

TEST_CASE("gradcheck: prod, also with zeros in a line") {
  manual_seed(15);
  KILN_CHECK_GRAD([](const In& in) { return prod(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return prod(in[0], 1, true); }, {rand64({3, 4, 2})});
  Tensor with_zeros = rand64({4, 3});
  with_zeros.narrow(0, 1, 1).narrow(1, 0, 1).zero_();  // one 0 in row 1
  with_zeros.narrow(0, 2, 1).narrow(1, 1, 2).zero_();  // two 0s in row 2
  KILN_CHECK_GRAD([](const In& in) { return prod(in[0], -1); }, {with_zeros});
  KILN_CHECK_GRAD([](const In& in) { return prod(in[0].t(), 0); }, {with_zeros});
}

TEST_CASE("gradcheck: non-contiguous inputs") {
  manual_seed(13);
  KILN_CHECK_GRAD([](const In& in) { return tanh(in[0].t()) * in[1]; }, {rand64({3, 2}), rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return sigmoid(in[0].slice(1, 0, 4, 2)); }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return exp(in[0].expand({3, 2})); }, {rand64({1, 2})});
  KILN_CHECK_GRAD([](const In& in) { return sum(in[0].permute({2, 0, 1}), {0}); }, {rand64({2, 3, 2})});
}

TEST_CASE("gradcheck: reductions and softmax") {
  manual_seed(14);
  KILN_CHECK_GRAD([](const In& in) { return sum(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return sum(in[0], {0, 2}, true); }, {rand64({2, 3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return mean(in[0], {1}); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return var(in[0], {1}); }, {rand64({2, 4})});
  KILN_CHECK_GRAD([](const In& in) { return kiln::std(in[0], {0}); }, {rand64({4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return kiln::std(in[0], {0, 2}, true, 0); }, {rand64({3, 2, 2})});
  KILN_CHECK_GRAD([](const In& in) { return kiln::std(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return logsumexp(in[0], {1}); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return max(in[0], 1).values; }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return min(in[0], 0, true).values; }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return max(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return softmax(in[0], 1); }, {rand64({2, 4})});
  KILN_CHECK_GRAD([](const In& in) { return softmax(in[0], 0); }, {rand64({3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return log_softmax(in[0], -1); }, {rand64({2, 4})});
  KILN_CHECK_GRAD([](const In& in) { return log_softmax(in[0].t(), 1); }, {rand64({4, 2})});
}

TEST_CASE("gradcheck: matmul in every rank") {
  manual_seed(15);
  KILN_CHECK_GRAD([](const In& in) { return matmul(in[0], in[1]); }, {rand64({3, 4}), rand64({4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return matmul(in[0].t(), in[1]); }, {rand64({4, 3}), rand64({4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return matmul(in[0], in[1]); }, {rand64({4}), rand64({4})});
  KILN_CHECK_GRAD([](const In& in) { return matmul(in[0], in[1]); }, {rand64({4}), rand64({4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return matmul(in[0], in[1]); }, {rand64({3, 4}), rand64({4})});
  KILN_CHECK_GRAD([](const In& in) { return matmul(in[0], in[1]); }, {rand64({2, 1, 3, 4}), rand64({3, 4, 2})});
}

TEST_CASE("gradcheck: views, indexing, joining") {
  manual_seed(16);
  KILN_CHECK_GRAD([](const In& in) { return in[0].reshape({3, 2}) * 2.0; }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0].view({6}) * 2.0; }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0].transpose(0, 1) * 2.0; }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0].select(1, 2) * 2.0; }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0].narrow(0, 1, 2) * 2.0; }, {rand64({3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return in[0].unsqueeze(1).squeeze(1) * 2.0; }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0].flatten() * 2.0; }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return in[0].clone() * in[0]; }, {rand64({3})});
  const Tensor idx = tensor<std::int64_t>({2, 0, 2});
  KILN_CHECK_GRAD([idx](const In& in) { return index_select(in[0], 0, idx); }, {rand64({3, 2})});
  KILN_CHECK_GRAD([idx](const In& in) { return index_select(in[0], 1, idx); }, {rand64({2, 3})});
  const Tensor gidx = tensor<std::int64_t>({{0, 0}, {2, 1}});
  KILN_CHECK_GRAD([gidx](const In& in) { return gather(in[0], 1, gidx); }, {rand64({2, 3})});
  const Tensor select_mask = tensor<std::uint8_t>({1, 0, 1});
  KILN_CHECK_GRAD([select_mask](const In& in) { return masked_select(in[0], select_mask); },
                  {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return cat({in[0], in[1]}, 1); }, {rand64({2, 1}), rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return stack({in[0], in[1]}, 0); }, {rand64({2}), rand64({2})});
  const Tensor mask = tensor<std::uint8_t>({1, 0, 1});
  KILN_CHECK_GRAD([mask](const In& in) { return where(mask, in[0], in[1]); }, {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRAD([mask](const In& in) { return masked_fill(in[0], mask, 0.5); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return flip(in[0], {0, 2}); }, {rand64({2, 3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return tril(in[0]) + triu(in[0], 2); }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return triu(in[0], -1); }, {rand64({2, 4, 3})});
  KILN_CHECK_GRAD([](const In& in) { return repeat(in[0].t(), {2, 1, 3}); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return pad(in[0], {1, 2, 0, 1}, 0.5); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return split(in[0], 2, 1)[1] * chunk(in[0], 3, 1)[0]; }, {rand64({2, 4})});
}

TEST_CASE("gradcheck: a two-layer network end to end") {
  manual_seed(17);
  KILN_CHECK_GRAD(
      [](const In& in) {
        const Tensor h = gelu(matmul(in[0], in[1]) + in[2]);
        return sum(log_softmax(matmul(h, in[3]), 1) * in[4]);
      },
      {rand64({4, 3}), rand64({3, 5}), rand64({5}), rand64({5, 2}), rand64({4, 2})});
}
