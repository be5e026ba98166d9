// The out-of-place writes (slice_scatter, select_scatter, diagonal_scatter, masked_scatter,
// index_put) against element-by-element answers, with gradchecks (and gradgradchecks for
// the view forms) and errors; and the NumPy-style splitting and stacking: parts, shapes,
// views, gradients.
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
using In = std::vector<Tensor>;

namespace {

// 0, 1, 2, ... in float64, shaped.
Tensor counting(const Shape& shape) {
  return arange(0.0, static_cast<double>(numel_of(shape)), 1.0, kFloat64).reshape(shape);
}

}  // namespace

TEST_CASE("slice_scatter, select_scatter, diagonal_scatter: values, x untouched, gradients") {
  const Tensor x = counting({4, 6});
  // Columns 1 and 3 (start 1, end 5, step 2) replaced.
  const Tensor src = -counting({4, 2}) - 1.0;
  std::vector<double> expect = x.to_vector<double>();
  for (int r = 0; r < 4; ++r)
    for (int j = 0; j < 2; ++j) expect[static_cast<std::size_t>(r * 6 + 1 + 2 * j)] = -(r * 2 + j) - 1.0;
  check_values(slice_scatter(x, src, 1, 1, 5, 2), expect, 0);
  check_values(x, counting({4, 6}).to_vector<double>(), 0);  // x itself unchanged
  // Defaults: the whole of dim 0; a negative start counts from the end.
  check_values(slice_scatter(x, zeros({4, 6}, kFloat64)), std::vector<double>(24, 0.0), 0);
  std::vector<double> last_row = x.to_vector<double>();
  for (int j = 0; j < 6; ++j) last_row[static_cast<std::size_t>(18 + j)] = 7;
  check_values(slice_scatter(x, full({1, 6}, 7.0, kFloat64), 0, -1), last_row, 0);

  std::vector<double> column = x.to_vector<double>();
  for (int r = 0; r < 4; ++r) column[static_cast<std::size_t>(r * 6 + 5)] = 100 + r;
  check_values(select_scatter(x, tensor<double>({100, 101, 102, 103}), 1, -1), column, 0);

  const Tensor wide = counting({3, 4});
  std::vector<double> above = wide.to_vector<double>();
  for (int i = 0; i < 3; ++i) above[static_cast<std::size_t>(i * 4 + i + 1)] = -1;
  check_values(diagonal_scatter(wide, full({3}, -1.0, kFloat64), 1), above, 0);

  // The gradient: g with the written part zeroed for x, that part of g for src; twice over.
  const auto slice_f = [](const In& v) { return slice_scatter(v[0], v[1], 1, 1, 5, 2) * v[0]; };
  const auto select_f = [](const In& v) { return square(select_scatter(v[0], v[1], 0, 2)); };
  const auto diag_f = [](const In& v) { return square(diagonal_scatter(v[0], v[1], -1, 1, 2)); };
  const In slice_in{kiln::test::rand64({3, 6}), kiln::test::rand64({3, 2})};
  const In select_in{kiln::test::rand64({4, 3}), kiln::test::rand64({3})};
  const In diag_in{kiln::test::rand64({2, 4, 3}), kiln::test::rand64({2, 3})};
  for (const auto& [f, in] : {std::pair{std::function<Tensor(const In&)>(slice_f), slice_in},
                              std::pair{std::function<Tensor(const In&)>(select_f), select_in},
                              std::pair{std::function<Tensor(const In&)>(diag_f), diag_in}}) {
    const GradcheckResult once = gradcheck(f, in), twice = gradgradcheck(f, in);
    CHECK_MESSAGE(once.ok, once.message);
    CHECK_MESSAGE(twice.ok, twice.message);
  }

  CHECK_THROWS_WITH_AS(
      slice_scatter(x, zeros({4, 3}, kFloat64), 1, 1, 5, 2),
      "slice_scatter: src has shape (4, 3) but the part of x (shape (4, 6)) it replaces has shape "
      "(4, 2); give src that shape",
      Error);
  CHECK_THROWS_WITH_AS(select_scatter(x, zeros({4}, kFloat64), 1, 6),
                       doctest::Contains("index 6 is out of range"), Error);
  CHECK_THROWS_AS(diagonal_scatter(wide, zeros({3})), Error);  // float32 into float64
}

TEST_CASE("masked_scatter: source's values in row-major order at the marked places") {
  const Tensor x = counting({2, 3});
  const Tensor mask = tensor<std::uint8_t>({1, 0, 1});  // broadcast over the rows
  check_values(masked_scatter(x, mask, tensor<double>({-1, -2, -3, -4, -5})), {-1, 1, -2, -3, 4, -4}, 0);
  check_values(masked_scatter(x, zeros({2, 3}, kUInt8), zeros({0}, kFloat64)), x.to_vector<double>(), 0);
  // Gradients: x's where the mask is 0; source's first four entries get theirs, the fifth 0.
  const auto f = [&](const In& v) { return masked_scatter(v[0], mask, v[1]) * v[0]; };
  const GradcheckResult r = gradcheck(f, {kiln::test::rand64({2, 3}), kiln::test::rand64({5})});
  CHECK_MESSAGE(r.ok, r.message);
  Tensor source = kiln::test::rand64({5}).requires_grad_();
  sum(masked_scatter(x, mask, source)).backward();
  check_values(source.grad(), {1, 1, 1, 1, 0}, 0);

  CHECK_THROWS_WITH_AS(masked_scatter(x, mask, zeros({3}, kFloat64)),
                       "masked_scatter: the mask marks 4 places but source (shape (3)) holds only 3 values",
                       Error);
  CHECK_THROWS_WITH_AS(masked_scatter(x, ones({2, 3}), zeros({6}, kFloat64)),
                       doctest::Contains("must be uint8"), Error);
  CHECK_THROWS_WITH_AS(masked_scatter(x, ones({4}, kUInt8), zeros({6}, kFloat64)),
                       "masked_scatter: mask of shape (4) must broadcast to x's shape (2, 3)", Error);
}

TEST_CASE("index_put: rows, broadcast index pairs, a mask, accumulate with repeats; gradients; errors") {
  const Tensor x = counting({4, 3});
  // Rows 0, 2 and 3 (as -1) replaced by one row broadcast.
  std::vector<double> rows = x.to_vector<double>();
  for (int r : {0, 2, 3})
    for (int c = 0; c < 3; ++c) rows[static_cast<std::size_t>(r * 3 + c)] = 9 - c;
  check_values(index_put(x, {tensor<std::int64_t>({0, 2, -1})}, tensor<double>({9, 8, 7})), rows, 0);
  // Index pairs broadcast: rows (1, 3) by columns (0, 2) -> four places set to a number.
  std::vector<double> corners = x.to_vector<double>();
  for (int r : {1, 3})
    for (int c : {0, 2}) corners[static_cast<std::size_t>(r * 3 + c)] = -1;
  check_values(
      index_put(x, {tensor<std::int64_t>({1, 3}).reshape({2, 1}), tensor<std::int32_t>({0, 2})}, -1.0),
      corners, 0);
  // accumulate: a repeated row adds twice.
  std::vector<double> added = x.to_vector<double>();
  for (int c = 0; c < 3; ++c) added[static_cast<std::size_t>(3 + c)] += 2;
  check_values(index_put(x, {tensor<std::int64_t>({1, 1})}, ones({3}, kFloat64), true), added, 0);
  // x[mask] = 0 with a mask over the rows, and over every element.
  std::vector<double> masked = x.to_vector<double>();
  for (int c = 0; c < 3; ++c)
    masked[static_cast<std::size_t>(3 + c)] = masked[static_cast<std::size_t>(9 + c)] = 0;
  check_values(index_put(x, {tensor<std::uint8_t>({0, 1, 0, 1})}, 0.0), masked, 0);
  check_values(index_put(x, {gt(x, 5.0)}, 5.0), minimum(x, full_like(x, 5.0)).to_vector<double>(), 0);

  const auto f = [](const In& v) {
    return index_put(v[0], {tensor<std::int64_t>({2, 0, 2})}, v[1], /*accumulate=*/true) * v[0];
  };
  const GradcheckResult r = gradcheck(f, {kiln::test::rand64({3, 2}), kiln::test::rand64({3, 2})});
  CHECK_MESSAGE(r.ok, r.message);
  const auto g = [](const In& v) {
    return index_put(v[0], {tensor<std::int64_t>({1}), tensor<std::int64_t>({0})}, v[1]);
  };
  const GradcheckResult q = gradcheck(g, {kiln::test::rand64({3, 2}), kiln::test::rand64({1})});
  CHECK_MESSAGE(q.ok, q.message);

  CHECK_THROWS_WITH_AS(index_put(x, {tensor<std::int64_t>({4})}, 0.0),
                       "index_put: index 4 is out of range for dimension 0 of size 4 (x of shape (4, 3))",
                       Error);
  CHECK_THROWS_WITH_AS(index_put(x, {tensor<double>({1})}, 0.0), doctest::Contains("must be int64 or int32"),
                       Error);
  CHECK_THROWS_WITH_AS(index_put(x, {arange(2), arange(2), arange(2)}, 0.0),
                       doctest::Contains("3 index tensors for x of shape (4, 3)"), Error);
  CHECK_THROWS_WITH_AS(index_put(x, {arange(2)}, zeros({4}, kFloat64)),
                       doctest::Contains("must broadcast to (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(index_put(x, {tensor<std::uint8_t>({1, 0})}, 0.0),
                       doctest::Contains("must match x's leading dimensions"), Error);
}

TEST_CASE("tensor_split, hsplit, vsplit, dsplit: parts as Python slices, views") {
  const Tensor x = counting({7});
  const auto sizes = [](const std::vector<Tensor>& parts) {
    std::vector<std::int64_t> s;
    for (const Tensor& p : parts) s.push_back(p.numel());
    return s;
  };
  CHECK(sizes(tensor_split(x, 3)) == std::vector<std::int64_t>{3, 2, 2});
  CHECK(sizes(tensor_split(counting({2}), 3)) == std::vector<std::int64_t>{1, 1, 0});
  const std::vector<Tensor> cut = tensor_split(x, std::vector<std::int64_t>{5, 2});
  CHECK(sizes(cut) == std::vector<std::int64_t>{5, 0, 5});
  check_values(cut[2], {2, 3, 4, 5, 6}, 0);
  CHECK(sizes(tensor_split(x, std::vector<std::int64_t>{-2, 9})) == std::vector<std::int64_t>{5, 2, 0});
  // Views: a part shares x's storage.
  CHECK(tensor_split(x, 2)[1].data_ptr<double>() == x.data_ptr<double>() + 4);

  const Tensor m = counting({2, 6, 4});
  CHECK(hsplit(m, 3)[0].shape() == Shape{2, 2, 4});
  CHECK(vsplit(m, 2)[1].shape() == Shape{1, 6, 4});
  CHECK(dsplit(m, 4)[3].shape() == Shape{2, 6, 1});
  CHECK(hsplit(x.narrow(0, 0, 6), 2)[1].shape() == Shape{3});
  CHECK_THROWS_WITH_AS(hsplit(m, 4), doctest::Contains("does not split into 4 equal parts"), Error);
  CHECK_THROWS_WITH_AS(vsplit(x, 1), doctest::Contains("at least 2 dimensions"), Error);
  CHECK_THROWS_WITH_AS(tensor_split(x, 0), doctest::Contains("sections = 0 must be >= 1"), Error);
}

TEST_CASE("hstack, vstack, dstack, column_stack, atleast_nd, unflatten, swapaxes") {
  const Tensor a = tensor<double>({1, 2}), b = tensor<double>({3, 4});
  check_values(hstack({a, b}), {1, 2, 3, 4}, 0);
  CHECK(vstack({a, b}).shape() == Shape{2, 2});
  check_values(vstack({a, b}), {1, 2, 3, 4}, 0);
  CHECK(dstack({a, b}).shape() == Shape{1, 2, 2});
  check_values(dstack({a, b}), {1, 3, 2, 4}, 0);
  CHECK(column_stack({a, b, counting({2, 3})}).shape() == Shape{2, 5});
  check_values(column_stack({a, b}), {1, 3, 2, 4}, 0);
  CHECK(hstack({counting({2, 1}), counting({2, 3})}).shape() == Shape{2, 4});
  CHECK(atleast_1d(scalar_tensor(3.0)).shape() == Shape{1});
  CHECK(atleast_2d(a).shape() == Shape{1, 2});
  CHECK(atleast_3d(a).shape() == Shape{1, 2, 1});
  CHECK(atleast_3d(counting({2, 3})).shape() == Shape{2, 3, 1});
  CHECK(atleast_3d(scalar_tensor(1.0)).shape() == Shape{1, 1, 1});
  CHECK(atleast_2d(counting({2, 3, 4})).shape() == Shape{2, 3, 4});
  const auto f = [](const In& v) { return square(column_stack({v[0], v[1]})); };
  const GradcheckResult r = gradcheck(f, {kiln::test::rand64({3}), kiln::test::rand64({3, 2})});
  CHECK_MESSAGE(r.ok, r.message);

  CHECK(unflatten(counting({2, 12}), 1, {3, -1}).shape() == Shape{2, 3, 4});
  CHECK(unflatten(counting({2, 12}), -1, {2, 2, 3}).shape() == Shape{2, 2, 2, 3});
  CHECK_THROWS_WITH_AS(unflatten(counting({2, 12}), 1, {5, -1}),
                       doctest::Contains("do not multiply to dimension 1"), Error);
  CHECK_THROWS_AS(unflatten(counting({2, 12}), 1, {-1, -1}), Error);
  CHECK(swapaxes(counting({2, 3, 4}), 0, 2).shape() == Shape{4, 3, 2});
  CHECK(swapdims(counting({2, 3}), 0, 1).shape() == Shape{3, 2});
  CHECK_THROWS_AS(hstack({}), Error);
}
