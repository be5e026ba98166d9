// Bad input: one case per op family, each asserting the message names the
// op and the shapes (or dtypes) involved.
#include "helpers.hpp"

using namespace kiln;
using doctest::Contains;

TEST_CASE("elementwise: shapes that do not broadcast") {
  CHECK_THROWS_WITH_AS(zeros({2, 3}) * zeros({2, 4}),
                       Contains("mul: shapes (2, 3) and (2, 4) cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(where(zeros({2}, kUInt8), zeros({3}), zeros({3})), Contains("where: shapes (2) and (3)"),
                       Error);
}

TEST_CASE("elementwise: dtype mismatch names both dtypes") {
  CHECK_THROWS_WITH_AS(zeros({2}) + zeros({2}, kFloat64), Contains("add: dtypes float32 and float64 differ"), Error);
  CHECK_THROWS_WITH_AS(exp(arange(3)), Contains("exp: expected a floating tensor but got int64 of shape (3)"), Error);
}

TEST_CASE("reductions: bad dims and empty extremes") {
  CHECK_THROWS_WITH_AS(sum(zeros({2, 3}), {2}), Contains("sum: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(softmax(zeros({2, 3}), -3), Contains("softmax: dimension -3"), Error);
  CHECK_THROWS_WITH_AS(max(zeros({3, 0}), 1), Contains("max: dimension 1 of shape (3, 0) is empty"), Error);
  CHECK_THROWS_WITH_AS(mean(arange(4)), Contains("mean"), Error);
}

TEST_CASE("linalg: inner dimensions") {
  CHECK_THROWS_WITH_AS(matmul(zeros({3, 4}), zeros({5, 6})), Contains("(3, 4) and (5, 6)"), Error);
}

TEST_CASE("views: reshape, expand, narrow") {
  CHECK_THROWS_WITH_AS(zeros({2, 3}).reshape({4, 2}), Contains("cannot reshape (2, 3) (6 elements) into (4, 2)"),
                       Error);
  CHECK_THROWS_WITH_AS(zeros({2, 3}).expand({2, 4}), Contains("shape (2, 3) cannot be expanded to (2, 4)"), Error);
  CHECK_THROWS_WITH_AS(zeros({2, 3}).narrow(1, 2, 2), Contains("outside dimension 1 of shape (2, 3)"), Error);
}

TEST_CASE("indexing: out-of-range indices and mismatched joins") {
  CHECK_THROWS_WITH_AS(index_select(zeros({4, 2}), 0, tensor<std::int64_t>({1, 4})),
                       Contains("index 4 is out of range for dimension 0 of size 4 (tensor shape (4, 2))"), Error);
  CHECK_THROWS_WITH_AS(index_select(zeros({4, 2}), 0, tensor<float>({1})), Contains("int64 or int32"), Error);
  CHECK_THROWS_WITH_AS(gather(zeros({2, 2}), 1, tensor<std::int64_t>({0, 1})), Contains("same number of dimensions"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({3, 3})}, 1),
                       Contains("tensor 1 has shape (3, 3) but tensor 0 has shape (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(stack({zeros({2}), zeros({3})}), Contains("shapes (2) and (3) differ"), Error);
}

TEST_CASE("tensors: undefined handles, devices, factories") {
  Tensor undefined;
  CHECK_FALSE(undefined.defined());
  CHECK_THROWS_WITH_AS(undefined.shape(), Contains("undefined Tensor"), Error);
  if (!cuda::is_built()) CHECK_THROWS_WITH_AS(zeros({2}).to(Device::cuda(0)), Contains("no CUDA backend"), Error);
  CHECK_THROWS_WITH_AS(zeros({-1}), Contains("negative size"), Error);
  CHECK_THROWS_WITH_AS(from_vector(std::vector<float>{1, 2, 3}, {2, 2}),
                       Contains("3 values do not fill shape (2, 2)"), Error);
  CHECK_THROWS_AS(arange(0.0, 1.0, 0.0), Error);
  CHECK_THROWS_AS(randint(5, 5, {2}), Error);
}

TEST_CASE("threads: the knob rejects nonsense") {
  CHECK_THROWS_WITH_AS(set_num_threads(0), Contains("at least 1"), Error);
}
