// Views: geometry, aliasing and errors.
#include <algorithm>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

TEST_CASE("reshape and view share storage; -1 is inferred") {
  const Tensor a = arange(0.0, 12.0, 1.0);
  const Tensor b = a.reshape({3, -1});
  CHECK(b.shape() == Shape{3, 4});
  CHECK(b.shares_storage(a));
  b.at<float>({2, 3}) = 100;
  CHECK(a.at<float>({11}) == 100.0f);
  CHECK(a.view({2, 2, 3}).strides() == Strides{6, 3, 1});
  CHECK_THROWS_AS(a.reshape({5, -1}), Error);
  CHECK_THROWS_AS(a.reshape({-1, -1}), Error);
}

TEST_CASE("view of a non-contiguous tensor: allowed when strides fit, else an error") {
  const Tensor a = arange(0.0, 24.0, 1.0).reshape({2, 3, 4});
  const Tensor p = a.permute({1, 0, 2});  // (3, 2, 4): last dim still contiguous
  CHECK(p.view({3, 2, 2, 2}).shares_storage(a));
  const Tensor t = a.transpose(1, 2);  // (2, 4, 3)
  CHECK_THROWS_WITH_AS(t.view({2, 12}), doctest::Contains("cannot be viewed"), Error);
  const Tensor r = t.reshape({2, 12});  // copies
  CHECK_FALSE(r.shares_storage(a));
  check_values(r.select(0, 0).slice(0, 0, 4), {0, 4, 8, 1});
  // Splitting a dimension of a transposed view is still a view.
  CHECK(t.view({2, 2, 2, 3}).shares_storage(a));
}

TEST_CASE("transpose, permute, slice, narrow, select") {
  const Tensor a = arange(0.0, 24.0, 1.0).reshape({2, 3, 4});
  const Tensor t = a.transpose(0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.strides() == Strides{1, 4, 12});
  CHECK(t.at<float>({3, 2, 1}) == a.at<float>({1, 2, 3}));
  const Tensor p = a.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.at<float>({1, 1, 2}) == a.at<float>({1, 2, 1}));
  const Tensor s = a.slice(2, 1, 4, 2);  // columns 1 and 3
  CHECK(s.shape() == Shape{2, 3, 2});
  check_values(s.select(0, 0).select(0, 0), {1, 3});
  CHECK(a.slice(1, -2, 100).shape() == Shape{2, 2, 4});
  CHECK(a.slice(1, 2, 1).shape() == Shape{2, 0, 4});
  check_values(a.narrow(0, 1, 1).select(1, 2), {20, 21, 22, 23});
  CHECK_THROWS_AS(a.narrow(0, 1, 2), Error);
  CHECK_THROWS_AS(a.select(1, 3), Error);
  CHECK(a.select(1, -1).at<float>({0, 0}) == 8.0f);
  // x[i] is select(0, i): a view, negative indices from the end, chained.
  CHECK(a[1].shape() == Shape{3, 4});
  CHECK(a[1].raw_data_ptr() == a.select(0, 1).raw_data_ptr());
  check_values(a[-1][2], {20, 21, 22, 23});
  CHECK(a[0][1][2].item() == 6.0);
  CHECK_THROWS_WITH_AS(a[2], doctest::Contains("select: index 2 is out of range for dimension 0 of size 2"),
                       Error);
  const Tensor w = randn({3, 2}, kFloat64).requires_grad_();
  sum(w[1] * 3.0).backward();
  check_values(w.grad(), {0, 0, 3, 3, 0, 0});
}

TEST_CASE("contiguous copies of transposed and permuted views: every element where it belongs") {
  // Transposes take a tiled copy; sizes around and past its 8 x 8 tiles, batches of
  // them, a dtype conversion on the way, integers, and a permute whose last two
  // dimensions swap contiguity (NCHW -> NHWC).
  const auto check = [](const Tensor& base, const std::vector<std::int64_t>& order, DType to) {
    INFO("shape " << fmt(base.shape()) << ", order " << fmt(Shape(order.begin(), order.end())) << " to "
                  << std::string(dtype_name(to)));
    const Tensor view = base.permute(order);
    const Tensor copy = view.to(to).contiguous();
    CHECK(copy.is_contiguous());
    CHECK(copy.shape() == view.shape());
    // element k of the copy is element view_index(k) of the base, by the view's strides
    const std::vector<double> flat = base.to(kFloat64).contiguous().to_vector<double>();
    const std::vector<double> got = copy.to(kFloat64).to_vector<double>();
    bool all = true;
    for (std::int64_t k = 0; k < copy.numel(); ++k) {
      std::int64_t rest = k, at = view.offset() - base.offset();
      for (std::int64_t d = view.dim(); d-- > 0;) {
        at += rest % view.size(d) * view.stride(d);
        rest /= view.size(d);
      }
      all = all && got[static_cast<std::size_t>(k)] == flat[static_cast<std::size_t>(at)];
    }
    CHECK(all);
  };
  for (const auto& [rows, cols] :
       {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 5}, {8, 8}, {17, 33}, {64, 1024}, {1024, 9}})
    for (const DType to : {kFloat32, kFloat64}) check(randn({rows, cols}), {1, 0}, to);
  check(randint(-100, 100, {13, 21}).to(kInt32), {1, 0}, kInt32);
  check(randn({3, 11, 19}), {0, 2, 1}, kFloat32);
  check(randn({2, 5, 9, 10}), {0, 2, 3, 1}, kFloat32);  // NCHW -> NHWC
  check(randn({2, 9, 10, 5}), {0, 3, 1, 2}, kFloat64);  // and back, widened
  check(randn({4, 6, 7}), {2, 1, 0}, kFloat32);
  // A large contiguous block is copied in 1 MiB pieces over the threads (with a last,
  // shorter piece): cat of two such blocks puts every element in its place.
  const Tensor a = arange(0.0, 700001.0, 1.0), b = -arange(0.0, 300001.0, 1.0);
  const std::vector<float> joined = cat({a, b}, 0).to_vector<float>();
  REQUIRE(joined.size() == 1000002);
  bool all = true;
  for (std::size_t i = 0; i < joined.size(); ++i)
    all = all && joined[i] == (i < 700001 ? static_cast<float>(i) : -static_cast<float>(i - 700001));
  CHECK(all);
}

TEST_CASE("expand, squeeze, unsqueeze, flatten") {
  const Tensor col = tensor<float>({1, 2, 3}).reshape({3, 1});
  const Tensor e = col.expand({2, 3, 4});
  CHECK(e.strides() == Strides{0, 1, 0});
  check_values(e.select(0, 1).select(0, 2), {3, 3, 3, 3});
  CHECK_THROWS_AS(col.expand({3, 2, 2}), Error);
  CHECK(col.expand({-1, 5}).shape() == Shape{3, 5});
  const Tensor u = col.unsqueeze(0);
  CHECK(u.shape() == Shape{1, 3, 1});
  CHECK(u.squeeze().shape() == Shape{3});
  CHECK(u.squeeze(0).shape() == Shape{3, 1});
  CHECK(u.squeeze(1).shape() == Shape{1, 3, 1});  // size 3: unchanged
  CHECK(u.unsqueeze(-1).shape() == Shape{1, 3, 1, 1});
  CHECK(zeros({2, 3, 4}).flatten(1).shape() == Shape{2, 12});
  CHECK(zeros({2, 3, 4}).flatten().shape() == Shape{24});
  CHECK(scalar_tensor(1.0).flatten().shape() == Shape{1});
}

TEST_CASE("dimension arguments are checked") {
  const Tensor a = zeros({2, 3});
  CHECK_THROWS_WITH_AS(a.transpose(0, 2), doctest::Contains("dimension 2 is out of range"), Error);
  CHECK_THROWS_AS(a.permute({0, 0}), Error);
  CHECK_THROWS_AS(a.permute({0}), Error);
  CHECK_THROWS_AS(a.size(-3), Error);
}

TEST_CASE("split and chunk: views of consecutive parts, sharing storage") {
  const Tensor a = arange(0.0, 14.0, 1.0).reshape({2, 7});
  const std::vector<Tensor> parts = split(a, 3, 1);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].shape() == Shape{2, 3});
  CHECK(parts[2].shape() == Shape{2, 1});
  check_values(parts[1], {3, 4, 5, 10, 11, 12});
  check_values(parts[2], {6, 13});
  Tensor last = parts[2];
  last.fill_(-1.0);  // a view: the write shows in a
  CHECK(a.to_vector<double>()[13] == -1);
  const auto sized = split(a, {2, 0, 5}, -1);
  REQUIRE(sized.size() == 3);
  CHECK(sized[1].shape() == Shape{2, 0});
  check_values(sized[0], {0, 1, 7, 8});
  // chunk: ceil(7 / 3) = 3 per part; 4 chunks of 6 rows give 2, 2, 2 (fewer parts).
  CHECK(chunk(a, 3, 1).size() == 3);
  CHECK(chunk(zeros({6}), 4).size() == 3);
  CHECK(split(zeros({0, 3}), 2).size() == 1);
  CHECK_THROWS_WITH_AS(split(a, {2, 4}, 1), doctest::Contains("add up to 6"), Error);
  CHECK_THROWS_WITH_AS(split(a, 0, 1), doctest::Contains("split_size"), Error);
  CHECK_THROWS_WITH_AS(chunk(a, 0), doctest::Contains("at least 1"), Error);
  CHECK_THROWS_WITH_AS(split(scalar_tensor(1.0), 1), doctest::Contains("0-d"), Error);
  // Each part carries its share of the gradient back to the whole.
  const Tensor w = arange(0.0, 6.0, 1.0).requires_grad_();
  const auto halves = chunk(w, 2);
  sum(halves[0] * 2.0 + halves[1] * 3.0).backward();
  check_values(w.grad(), {2, 2, 2, 3, 3, 3});
}

TEST_CASE("flip reverses chosen dimensions") {
  const Tensor a = arange(0.0, 6.0, 1.0).reshape({2, 3});
  check_values(flip(a, {1}), {2, 1, 0, 5, 4, 3});
  check_values(flip(a, {0}), {3, 4, 5, 0, 1, 2});
  check_values(flip(a, {0, -1}), {5, 4, 3, 2, 1, 0});
  check_values(flip(a.t(), {0}), {2, 5, 1, 4, 0, 3});
  check_values(flip(a, {}), a.to_vector<double>());
  CHECK(flip(zeros({0, 2}), {0}).shape() == Shape{0, 2});
  CHECK_THROWS_WITH_AS(flip(a, {1, -1}), doctest::Contains("twice"), Error);
  CHECK_THROWS_WITH_AS(flip(a, {2}), doctest::Contains("flip"), Error);
}

TEST_CASE("flip of random shapes, dim sets, strided inputs and dtypes: each element from its mirror") {
  // The expected value of every output position is read from x at the mirrored
  // coordinates, one element at a time.
  manual_seed(314);
  for (int trial = 0; trial < 60; ++trial) {
    const auto rank = static_cast<std::int64_t>(1 + trial % 4);
    Shape shape;
    for (std::int64_t d = 0; d < rank; ++d)
      shape.push_back(static_cast<std::int64_t>(randint(1, trial % 7 == 0 ? 70 : 6, {}).item()));
    Tensor x = randn(shape, kFloat64);
    if (trial % 3 == 1 && rank >= 2) x = x.transpose(0, rank - 1);  // strided
    if (trial % 5 == 2) x = x.to(kInt32);
    std::vector<std::int64_t> dims;
    for (std::int64_t d = 0; d < rank; ++d)
      if (randint(0, 2, {}).item() == 1 || (dims.empty() && d == rank - 1)) dims.push_back(d);
    const Tensor got = flip(x, dims);
    REQUIRE(got.shape() == x.shape());
    CHECK(got.dtype() == x.dtype());
    const std::vector<double> values = got.to(kFloat64).to_vector<double>();
    const Tensor xd = x.to(kFloat64).contiguous();
    const std::vector<double> source = xd.to_vector<double>();
    Shape at(static_cast<std::size_t>(rank), 0);
    for (std::size_t flat = 0; flat < values.size(); ++flat) {
      std::int64_t from = 0;
      for (std::int64_t d = 0; d < rank; ++d) {
        const std::int64_t i = at[static_cast<std::size_t>(d)];
        const bool mirrored = std::find(dims.begin(), dims.end(), d) != dims.end();
        from += (mirrored ? x.size(d) - 1 - i : i) * xd.strides()[static_cast<std::size_t>(d)];
      }
      if (values[flat] != source[static_cast<std::size_t>(from)]) {
        FAIL_CHECK("trial " << trial << ": flat position " << flat << " of shape " << fmt(x.shape()));
        break;
      }
      for (auto d = static_cast<std::size_t>(rank); d-- > 0;)  // next coordinates, row-major
        if (++at[d] < x.size(static_cast<std::int64_t>(d)))
          break;
        else
          at[d] = 0;
    }
  }
  // One long reversed row, split over the threads.
  const Tensor long_row = arange(0.0, 300000.0, 1.0, kFloat64);
  check_values(flip(long_row, {0}).slice(0, 0, 3), {299999, 299998, 299997});
  check_values(flip(long_row, {0}).slice(0, 299997, 300000), {2, 1, 0});
  CHECK(flip(zeros({3, 0, 2}), {1, 2}).shape() == Shape{3, 0, 2});
}

TEST_CASE("repeat tiles a tensor; pad surrounds it with a value") {
  const Tensor a = arange(0.0, 6.0, 1.0).reshape({2, 3});
  check_values(repeat(a, {1, 2}), {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  check_values(repeat(a, {2, 1}), {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5});
  CHECK(repeat(a, {2, 1, 2}).shape() == Shape{2, 2, 6});  // a leading dimension
  check_values(repeat(a, {2, 1, 2}).select(0, 1).select(0, 1), {3, 4, 5, 3, 4, 5});
  check_values(repeat(a.t(), {1, 2}), {0, 3, 0, 3, 1, 4, 1, 4, 2, 5, 2, 5});
  CHECK(repeat(a, {0, 1}).shape() == Shape{0, 3});
  check_values(repeat(arange(2), {3}), {0, 1, 0, 1, 0, 1});
  CHECK_THROWS_WITH_AS(
      repeat(a, {2}),
      "repeat: 1 repeat counts for a tensor of shape (2, 3); give one per dimension (2) or more", Error);
  CHECK_THROWS_WITH_AS(repeat(a, {1, -1}), doctest::Contains("repeat count -1 (entry 1) is negative"), Error);

  check_values(pad(a, {1, 0}), {0, 0, 1, 2, 0, 3, 4, 5});
  const Tensor framed = pad(a, {1, 1, 0, 2}, -1.0);  // a column each side, two rows below
  CHECK(framed.shape() == Shape{4, 5});
  check_values(framed, {-1, 0, 1, 2, -1, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1});
  check_values(pad(a.t(), {0, 1}), {0, 3, 0, 1, 4, 0, 2, 5, 0});
  check_values(pad(a, {}), a.to_vector<double>());
  CHECK(pad(arange(3), {2, 0}, 7).dtype() == kInt64);
  check_values(pad(arange(3), {2, 0}, 7), {7, 7, 0, 1, 2});
  CHECK_THROWS_WITH_AS(pad(a, {1}), doctest::Contains("pad: 1 pad sizes for a tensor of shape (2, 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(pad(a, {0, 0, 0, 0, 1, 1}), doctest::Contains("pad: 6 pad sizes"), Error);
  CHECK_THROWS_WITH_AS(pad(a, {0, 0, -1, 0}),
                       "pad: sizes (-1, 0) for dimension 0 must be >= 0; crop with narrow() or slice()",
                       Error);
  // Gradients: each tile's adds up; only the inner block of a padded tensor has one.
  const Tensor w = tensor<float>({1, 2}).requires_grad_();
  sum(repeat(w, {3}) * arange(0.0, 6.0, 1.0)).backward();
  check_values(w.grad(), {0 + 2 + 4, 1 + 3 + 5});
  const Tensor v = ones({2, 2}).requires_grad_();
  sum(pad(v, {1, 1, 1, 1}) * arange(0.0, 16.0, 1.0).reshape({4, 4})).backward();
  check_values(v.grad(), {5, 6, 9, 10});
}

TEST_CASE("nonzero: every set position in row-major order, any rank, NaN set and -0 not") {
  manual_seed(97);
  for (const Shape& shape :
       {Shape{}, Shape{0}, Shape{1}, Shape{37}, Shape{5, 9}, Shape{3, 0, 4}, Shape{2, 3, 4, 5}}) {
    INFO("shape " << fmt(shape));
    Tensor x = round(randn(shape, kFloat64));  // about 40 % zeros, some of them -0
    std::vector<double> v = x.to_vector<double>();
    for (std::size_t i = 0; i < v.size(); i += 5) v[i] = i % 10 == 0 ? NAN : -0.0;
    x = from_vector(v).reshape(shape);
    std::vector<std::int64_t> want;
    std::size_t count = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == 0.0) continue;
      ++count;
      std::int64_t rest = static_cast<std::int64_t>(i);
      std::vector<std::int64_t> coord(shape.size());
      for (std::size_t d = shape.size(); d-- > 0;) {
        coord[d] = rest % shape[d];
        rest /= shape[d];
      }
      want.insert(want.end(), coord.begin(), coord.end());
    }
    const Tensor got = nonzero(x);
    CHECK(got.shape() == Shape{static_cast<std::int64_t>(count), static_cast<std::int64_t>(shape.size())});
    CHECK(got.to_vector<std::int64_t>() == want);
    CHECK(nonzero(x.to(kFloat32)).to_vector<std::int64_t>() == want);
  }
}

TEST_CASE("nonzero and masked_select: positions and entries where a mask is set") {
  const Tensor x = tensor<float>({{0, 1.5f, 0}, {NAN, 0, -2}});
  const Tensor pos = nonzero(x);
  CHECK(pos.dtype() == kInt64);
  CHECK(pos.shape() == Shape{3, 2});
  CHECK(pos.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 1, 0, 1, 2});
  CHECK(nonzero(x.t()).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 1, 0, 2, 1});  // a view
  CHECK(nonzero(zeros({2, 0, 3})).shape() == Shape{0, 3});
  CHECK(nonzero(scalar_tensor(2.0)).shape() == Shape{1, 0});
  CHECK(nonzero(tensor<std::int64_t>({0, 7, 0, -1})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{1, 3});
  // Against a strided walk of a larger random tensor: every nonzero, in row-major order.
  const Tensor r = where(randn({4, 5, 6}) > 0.5, randn({4, 5, 6}), zeros({4, 5, 6}));
  const Tensor rp = nonzero(r);
  std::vector<std::int64_t> want;
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 5; ++j)
      for (std::int64_t k = 0; k < 6; ++k)
        if (r.at<float>({i, j, k}) != 0) want.insert(want.end(), {i, j, k});
  CHECK(rp.to_vector<std::int64_t>() == want);

  // masked_select: x[mask], the mask broadcasting to x's shape; the gradient goes back
  // to the selected entries.
  const Tensor w = tensor<double>({{1, 2, 3}, {4, 5, 6}}).requires_grad_();
  const Tensor picked = masked_select(w, w > 2.5);
  check_values(picked, {3, 4, 5, 6});
  sum(picked * tensor<double>({10, 20, 30, 40})).backward();
  check_values(w.grad(), {0, 0, 10, 20, 30, 40});
  check_values(masked_select(w.detach(), tensor<std::uint8_t>({1, 0, 1})), {1, 3, 4, 6});
  CHECK(masked_select(w.detach(), w.detach() > 10).shape() == Shape{0});
  CHECK_THROWS_WITH_AS(masked_select(w.detach(), w.detach()), doctest::Contains("the mask must be uint8"),
                       Error);
  CHECK_THROWS_WITH_AS(masked_select(tensor<float>({1, 2}), ones({2, 2}).to(kUInt8)),
                       doctest::Contains("does not broadcast to x's shape (2)"), Error);
}

TEST_CASE("x[mask] and x[indices]: indexing by a tensor, as PyTorch's") {
  const Tensor x = arange(0.0, 24.0, 1.0).reshape({2, 3, 4});
  // A mask of x's whole shape: the set entries, as masked_select.
  check_same(x[x > 20.0], masked_select(x, x > 20.0), 0.0);
  // A mask of the leading dimensions: whole rows (count, rest...).
  const Tensor rows = x[tensor<std::uint8_t>({{1, 0, 1}, {0, 0, 1}})];
  CHECK(rows.shape() == Shape{3, 4});
  check_values(rows, {0, 1, 2, 3, 8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(x[tensor<std::uint8_t>({0, 1})].shape() == Shape{1, 3, 4});
  CHECK(x[tensor<std::uint8_t>({0, 0})].shape() == Shape{0, 3, 4});
  CHECK(zeros({3, 0})[tensor<std::uint8_t>({1, 0, 1})].shape() == Shape{2, 0});
  CHECK(scalar_tensor(5.0)[scalar_tensor(1.0).to(kUInt8)].shape() == Shape{1});
  // Indices into dimension 0, of any shape; negative ones from the end; int32 too.
  check_same(x[tensor<std::int64_t>({1, 0, -1})], index_select(x, 0, tensor<std::int64_t>({1, 0, 1})), 0.0);
  CHECK(x[tensor<std::int64_t>({{0, 1}, {1, 1}, {0, 0}})].shape() == Shape{3, 2, 3, 4});
  check_same(x[tensor<std::int64_t>({-2}).reshape({})], x[0], 0.0);  // a 0-d index: as x[i], though a copy
  check_values(arange(5)[tensor<std::int32_t>({4, 2})], {4, 2});
  // Differentiable in x: the gradient goes back to the picked places (twice for a repeat).
  const Tensor w = tensor<double>({{1, 2}, {3, 4}, {5, 6}}).requires_grad_();
  (sum(w[tensor<std::int64_t>({2, 0, 2})] * 1.5) + sum(w[w > 3.5])).backward();
  check_values(w.grad(), {1.5, 1.5, 0, 1, 4, 4});
  KILN_CHECK_GRAD([](const In& in) { return in[0][tensor<std::uint8_t>({1, 0, 1})]; }, {rand64({3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return in[0][tensor<std::int64_t>({{2}, {0}})]; }, {rand64({3, 2})});
  CHECK_THROWS_WITH_AS(
      x[tensor<std::uint8_t>({1, 0, 1})],
      doctest::Contains("operator[]: a mask of shape (3) does not match the leading dimensions of "
                        "x's shape (2, 3, 4)"),
      Error);
  CHECK_THROWS_WITH_AS(x[ones({2})], doctest::Contains("must be int64 or int32"), Error);
  CHECK_THROWS_WITH_AS(x[tensor<std::int64_t>({2})], doctest::Contains("out of range"), Error);
}

TEST_CASE("one_hot: a 1 at each class index, the classes a new last dimension") {
  const Tensor labels = tensor<std::int64_t>({{2, 0}, {1, 2}});
  const Tensor hot = one_hot(labels, 4);
  CHECK(hot.dtype() == kInt64);
  CHECK(hot.shape() == Shape{2, 2, 4});
  check_values(hot, {0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0});
  // num_classes -1: one more than the largest index; int32 indices and strided views too.
  CHECK(one_hot(labels).shape() == Shape{2, 2, 3});
  check_values(one_hot(labels.t().to(kInt32)), {0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1});
  check_values(one_hot(scalar_tensor(1.0).to(kInt64), 3), {0, 1, 0});
  CHECK(one_hot(zeros({0}, kInt64), 5).shape() == Shape{0, 5});
  CHECK_THROWS_WITH_AS(
      one_hot(tensor<std::int64_t>({1, 4, 0}), 4),
      "one_hot: index 4 (entry 1 of the indices, in row-major order) is not a class in [0, 4)", Error);
  CHECK_THROWS_WITH_AS(one_hot(tensor<std::int64_t>({-1}), 4), doctest::Contains("index -1 (entry 0"), Error);
  CHECK_THROWS_WITH_AS(one_hot(tensor<float>({1}), 2), "one_hot: indices must be int64 or int32, got float32",
                       Error);
  CHECK_THROWS_WITH_AS(one_hot(labels, 0), doctest::Contains("num_classes must be positive, or -1"), Error);
  CHECK_THROWS_WITH_AS(one_hot(zeros({0}, kInt64)), doctest::Contains("empty index tensor has no largest"),
                       Error);
  CHECK_THROWS_WITH_AS(one_hot(tensor<std::int64_t>({-2, -1})), doctest::Contains("every index is negative"),
                       Error);
}

TEST_CASE("roll and diff") {
  const Tensor a = arange(0.0, 6.0, 1.0).reshape({2, 3});
  check_values(roll(a, {1}, {1}), {2, 0, 1, 5, 3, 4});
  check_values(roll(a, {-1, 1}, {1, 0}), {4, 5, 3, 1, 2, 0});
  check_values(roll(a, {2}), {4, 5, 0, 1, 2, 3});  // flattened, shape kept
  CHECK(roll(a, {2}).shape() == a.shape());
  check_values(roll(a, {7}, {1}), {2, 0, 1, 5, 3, 4});  // whole turns count for nothing
  check_values(diff(tensor<double>({1, 4, 9, 16})), {3, 5, 7});
  check_values(diff(tensor<double>({1, 4, 9, 16}), 2), {2, 2});
  check_values(diff(a, 1, 0), {3, 3, 3});
  CHECK(diff(tensor<double>({1, 2}), 5).shape() == Shape{0});
  check_values(diff(arange(5) * arange(5)), {1, 3, 5, 7});  // integers too
  manual_seed(97);
  KILN_CHECK_GRAD([](const In& in) { return roll(in[0], {1, -2}, {0, 1}); }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return diff(in[0], 2, 0); }, {rand64({5, 2})});
  CHECK_THROWS_WITH_AS(roll(a, {1, 2}, {0}), doctest::Contains("2 shifts for 1 dims"), Error);
  CHECK_THROWS_WITH_AS(diff(a, -1), doctest::Contains("the order n = -1 must be >= 0"), Error);
}

TEST_CASE("index_select along the last dimension: single elements, repeated indices adding up") {
  const Tensor x = arange(0.0, 15.0, 1.0, kFloat64).reshape({3, 5}).requires_grad_();
  const Tensor picked = index_select(x, 1, tensor<std::int64_t>({4, 0, 4, -3}));
  check_values(picked, {4, 0, 4, 2, 9, 5, 9, 7, 14, 10, 14, 12});
  sum(picked * tensor<double>({1, 10, 100, 1000})).backward();
  check_values(x.grad(), {10, 0, 1000, 0, 101, 10, 0, 1000, 0, 101, 10, 0, 1000, 0, 101});
  using In = std::vector<Tensor>;
  KILN_CHECK_GRAD(
      [](const In& in) {
        return index_select(in[0], 2, tensor<std::int64_t>({1, 1, 0, 2}));
      },
      {rand64({2, 3, 3})});
}

TEST_CASE("gather from views along every dimension, with an index smaller than x, and its gradient") {
  manual_seed(96);
  // x: a transposed, narrowed view (offset and strides of its own) of shape (4, 5, 6)
  const Tensor storage = randn({7, 6, 5}, kFloat64);
  const Tensor x = storage.narrow(0, 2, 4).transpose(1, 2);
  REQUIRE(x.shape() == Shape{4, 5, 6});
  for (std::int64_t dim = 0; dim < 3; ++dim) {
    INFO("dim " << dim);
    Shape index_shape{3, 4, 5};                      // smaller than x in every other dimension
    index_shape[static_cast<std::size_t>(dim)] = 7;  // any length along dim
    const Tensor index =
        randint(-x.size(dim), x.size(dim), index_shape);  // negative entries count from the end
    const Tensor leaf = x.detach().requires_grad_();
    const Tensor got = gather(leaf, dim, index);
    const Tensor g = randn(index_shape, kFloat64);
    sum(got * g).backward();
    std::vector<double> want_grad(static_cast<std::size_t>(x.numel()), 0.0);
    bool all = true;
    for (std::int64_t i = 0; i < index_shape[0]; ++i)
      for (std::int64_t j = 0; j < index_shape[1]; ++j)
        for (std::int64_t k = 0; k < index_shape[2]; ++k) {
          std::vector<std::int64_t> at{i, j, k};
          std::int64_t picked = static_cast<std::int64_t>(index.at<std::int64_t>({i, j, k}));
          if (picked < 0) picked += x.size(dim);
          at[static_cast<std::size_t>(dim)] = picked;
          all = all && got.at<double>({i, j, k}) == x.at<double>({at[0], at[1], at[2]});
          want_grad[static_cast<std::size_t>((at[0] * 5 + at[1]) * 6 + at[2])] += g.at<double>({i, j, k});
        }
    CHECK(all);
    kiln::test::check_same(leaf.grad(), from_vector(want_grad, x.shape()), 1e-12);
  }
}

TEST_CASE("scatter_add: gather's adjoint; repeats add up; gradients") {
  const Tensor idx = tensor<std::int64_t>({{0, 1, 1}, {3, 3, 3}});
  check_values(scatter_add(zeros({2, 4}), 1, idx, ones({2, 3})), {1, 2, 0, 0, 0, 0, 0, 3});
  // Along dim 0, an index smaller than src: src's leading block only.
  check_values(scatter_add(ones({3, 2}, kFloat64), 0, tensor<std::int64_t>({{2, 0}}),
                           tensor<double>({{5, 6}, {7, 8}})),
               {1, 7, 1, 1, 6, 1});
  manual_seed(95);
  const Tensor y = rand64({3, 5}), s = rand64({3, 4});
  const Tensor index = randint(0, 5, {3, 4});
  // <gather(y, 1, index), s> = <y, scatter_add(0, 1, index, s)>
  CHECK(sum(gather(y, 1, index) * s).item() ==
        doctest::Approx(sum(y * scatter_add(zeros_like(y), 1, index, s)).item()).epsilon(1e-12));
  KILN_CHECK_GRAD([index](const In& in) { return scatter_add(in[0], 1, index, in[1]); },
                  {rand64({3, 5}), rand64({3, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return scatter_add(in[0], 0, tensor<std::int64_t>({{1, 0}, {1, 1}}), in[1]);
      },
      {rand64({2, 2}), rand64({3, 2})});
  CHECK_THROWS_WITH_AS(scatter_add(zeros({2, 4}), 1, tensor<std::int64_t>({{4}}), ones({1, 1})),
                       doctest::Contains("index 4 is out of range for dimension 1 of size 4"), Error);
  CHECK_THROWS_WITH_AS(scatter_add(zeros({2, 4}), 1, tensor<std::int64_t>({{0, 1}}), ones({1, 1})),
                       doctest::Contains("exceeds src of shape (1, 1)"), Error);
  CHECK_THROWS_WITH_AS(scatter_add(zeros({2, 4}), 1, tensor<std::int64_t>({0}), ones({1})),
                       doctest::Contains("need the same number of dimensions"), Error);
}

TEST_CASE("scatter, scatter_reduce, index_copy, index_fill: values by hand, repeats, gradients") {
  const Tensor idx = tensor<std::int64_t>({{0, 1, 1}, {3, 3, 2}});
  const Tensor src = tensor<double>({{1, 2, 3}, {4, 5, 6}}), x = full({2, 4}, 10.0, kFloat64);
  // Overwrite: the last entry for a place wins.
  check_values(scatter(x, 1, idx, src), {1, 3, 10, 10, 10, 10, 6, 5}, 0);
  check_values(scatter(x, 1, idx, -1.0), {-1, -1, 10, 10, 10, 10, -1, -1}, 0);
  // Reductions, with and without x's own value.
  using R = ScatterReduce;
  check_values(scatter_reduce(x, 1, idx, src, R::sum), {11, 15, 10, 10, 10, 10, 16, 19}, 0);
  check_values(scatter_reduce(x, 1, idx, src, R::sum, false), {1, 5, 10, 10, 10, 10, 6, 9}, 0);
  check_values(scatter_reduce(x, 1, idx, src, R::mean), {5.5, 5, 10, 10, 10, 10, 8, 19.0 / 3}, 1e-15);
  check_values(scatter_reduce(x, 1, idx, src, R::mean, false), {1, 2.5, 10, 10, 10, 10, 6, 4.5}, 1e-15);
  check_values(scatter_reduce(x, 1, idx, src, R::prod), {10, 60, 10, 10, 10, 10, 60, 200}, 0);
  check_values(scatter_reduce(x, 1, idx, src, R::prod, false), {1, 6, 10, 10, 10, 10, 6, 20}, 0);
  check_values(scatter_reduce(x, 1, idx, src, R::amax), {10, 10, 10, 10, 10, 10, 10, 10}, 0);
  check_values(scatter_reduce(x, 1, idx, src, R::amax, false), {1, 3, 10, 10, 10, 10, 6, 5}, 0);
  check_values(scatter_reduce(x, 1, idx, src, R::amin), {1, 2, 10, 10, 10, 10, 6, 4}, 0);
  check_values(scatter_reduce(x, 1, idx, src, R::amin, false), {1, 2, 10, 10, 10, 10, 6, 4}, 0);
  // Many entries for one place (rows of several widths in one call).
  const Tensor many = zeros({1, 9}, kInt64), seq = arange(1.0, 10.0, 1.0, kFloat64).reshape({1, 9});
  check_values(scatter_reduce(zeros({1, 3}, kFloat64), 1, many, seq, R::amax, false), {9, 0, 0}, 0);
  check_values(scatter_reduce(ones({1, 3}, kFloat64), 1, many, seq, R::prod), {362880, 1, 1}, 0);
  // A NaN wins its place, as in amax; the other places are untouched by it.
  const Tensor holes = tensor<double>({{1, std::nan(""), 2, 7}});
  const Tensor spots = tensor<std::int64_t>({{0, 0, 1, 1}});
  check_values(scatter_reduce(zeros({1, 3}, kFloat64), 1, spots, holes, R::amax, false), {std::nan(""), 7, 0},
               0);
  check_values(scatter_reduce(zeros({1, 3}, kFloat64), 1, spots, holes, R::amin), {std::nan(""), 0, 0}, 0);

  // amax's gradient splits evenly among the tied maxima (x's own value included).
  const Tensor xt = tensor<double>({{5, 0}}).requires_grad_(),
               st = tensor<double>({{5, 2, 5}}).requires_grad_();
  sum(scatter_reduce(xt, 1, tensor<std::int64_t>({{0, 0, 0}}), st, R::amax)).backward();
  check_values(xt.grad(), {1.0 / 3, 1}, 1e-15);
  check_values(st.grad(), {1.0 / 3, 0, 1.0 / 3}, 1e-15);
  // scatter: only the winning entry of a repeated place gets a gradient; x none where written.
  const Tensor xs = zeros({1, 3}, kFloat64).requires_grad_(),
               ss = tensor<double>({{1, 2, 3}}).requires_grad_();
  sum(scatter(xs, 1, tensor<std::int64_t>({{2, 0, 2}}), ss) * tensor<double>({{4, 5, 6}})).backward();
  check_values(xs.grad(), {0, 5, 0}, 0);
  check_values(ss.grad(), {0, 4, 6}, 0);

  // index_copy and index_fill.
  const Tensor base = zeros({3, 4}, kFloat64), slices = tensor<double>({{1, 2}, {3, 4}, {5, 6}});
  check_values(index_copy(base, 1, tensor<std::int64_t>({3, 0}), slices),
               {2, 0, 0, 1, 4, 0, 0, 3, 6, 0, 0, 5}, 0);
  check_values(index_fill(base, 0, tensor<std::int64_t>({-1, 0}), 7.0), {7, 7, 7, 7, 0, 0, 0, 0, 7, 7, 7, 7},
               0);

  manual_seed(96);
  const Tensor index = randint(0, 5, {3, 4});
  for (R r : {R::sum, R::mean, R::prod, R::amax, R::amin})
    for (bool self : {true, false}) {
      INFO(scatter_reduce_name(r), " include_self ", self);
      KILN_CHECK_GRAD([&](const In& in) { return scatter_reduce(in[0], 1, index, in[1], r, self); },
                      {rand64({3, 5}), rand64({3, 4})});
      KILN_CHECK_GRADGRAD(
          [&](const In& in) { return square(scatter_reduce(in[0], 1, index, in[1], r, self)) * in[0]; },
          {rand64({3, 5}), rand64({3, 4})});
    }
  KILN_CHECK_GRAD([&](const In& in) { return scatter(in[0], 1, index, in[1]); },
                  {rand64({3, 5}), rand64({3, 4})});
  KILN_CHECK_GRADGRAD(
      [&](const In& in) {
        return square(scatter(in[0], 1, index, in[1])) + scatter_add(in[0], 1, index, in[1] * in[1]);
      },
      {rand64({3, 5}), rand64({3, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return scatter(in[0], 0, tensor<std::int64_t>({{1, 0}}), 2.0);
      },
      {rand64({2, 2})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return index_copy(in[0], 0, tensor<std::int64_t>({2, 0}), in[1]);
      },
      {rand64({3, 2}), rand64({2, 2})});
  KILN_CHECK_GRAD([](const In& in) { return index_fill(in[0], 1, tensor<std::int64_t>({1}), 0.5); },
                  {rand64({3, 2})});

  CHECK_THROWS_WITH_AS(scatter(x, 1, tensor<std::int64_t>({{4}}), src),
                       doctest::Contains("scatter: index 4 is out of range"), Error);
  CHECK_THROWS_WITH_AS(scatter_reduce(x, 2, idx, src, R::sum),
                       doctest::Contains("scatter_reduce: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(index_copy(base, 1, tensor<std::int64_t>({0}), slices),
                       doctest::Contains("index_copy: source of shape (3, 2) must match"), Error);
  CHECK_THROWS_WITH_AS(index_fill(base, 1, tensor<std::int64_t>({4}), 1.0),
                       doctest::Contains("index_fill: index 4 is out of range for dimension 1 of size 4"),
                       Error);
}
