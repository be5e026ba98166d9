// Tensor basics: factories, dtypes, element access, copies, printing, randomness.
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;

TEST_CASE("factories fill shapes and values") {
  CHECK(zeros({2, 3}).shape() == Shape{2, 3});
  check_values(zeros({2, 2}), {0, 0, 0, 0});
  check_values(ones({3}, kInt32), {1, 1, 1});
  check_values(full({2}, 2.5, kFloat64), {2.5, 2.5});
  check_values(arange(5), {0, 1, 2, 3, 4});
  CHECK(arange(5).dtype() == kInt64);
  check_values(arange(1.0, 2.0, 0.25), {1, 1.25, 1.5, 1.75});
  check_values(arange(3.0, 0.0, -1.0), {3, 2, 1});
  CHECK(arange(0.0, 0.0).numel() == 0);
  const Tensor t = tensor<float>({{1, 2, 3}, {4, 5, 6}});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.at<float>({1, 2}) == 6.0f);
  CHECK(t.at<float>({-1, -1}) == 6.0f);
  CHECK(scalar_tensor(3.0).dim() == 0);
  CHECK(scalar_tensor(3.0).item() == 3.0);
  const std::int64_t big = (std::int64_t(1) << 60) + 1;  // not representable as a double
  CHECK(tensor<std::int64_t>({big}).item<std::int64_t>() == big);
  check_values(from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}), {1, 2, 3, 4});
  CHECK(zeros({0, 4}).numel() == 0);
  // Element counts that do not fit 64 bits are an Error, not a count wrapped to something small.
  const std::int64_t huge = std::int64_t(1) << 40;
  CHECK_THROWS_WITH_AS(zeros({huge, huge}), doctest::Contains("more elements than a 64-bit count"), Error);
  CHECK_THROWS_WITH_AS(ones({1, 1}).expand({std::int64_t(1) << 32, std::int64_t(1) << 32}),
                       doctest::Contains("more elements than a 64-bit count"), Error);
  CHECK_THROWS_AS(zeros({0}).reshape({huge, huge, huge}), Error);
  CHECK_THROWS_AS(zeros({0, huge, huge}), Error);  // its strides would overflow, though it holds nothing
  CHECK(zeros({huge, 0, 2}).numel() == 0);
  CHECK_THROWS_WITH_AS(ones({3}).expand({-1, 3}), doctest::Contains("sizes must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({std::int64_t(1) << 61}), doctest::Contains("larger than any memory"), Error);
}

TEST_CASE("linspace and eye") {
  check_values(linspace(0.0, 1.0, 5), {0, 0.25, 0.5, 0.75, 1}, 0);
  check_values(linspace(2.0, -1.0, 4, kFloat64), {2, 1, 0, -1}, 0);
  check_values(linspace(3.0, 7.0, 1), {3}, 0);  // one step: the start, as NumPy gives
  CHECK(linspace(0.0, 1.0, 0).numel() == 0);
  // Both ends exact, even where start + 9 * step would not land on 0.3 exactly.
  const std::vector<double> tenths = linspace(0.0, 0.3, 10, kFloat64).to_vector<double>();
  CHECK(tenths.front() == 0.0);
  CHECK(tenths.back() == 0.3);
  CHECK_THROWS_WITH_AS(linspace(0.0, 1.0, -1), doctest::Contains("linspace: start 0, end 1, steps -1"),
                       Error);
  check_values(eye(3), {1, 0, 0, 0, 1, 0, 0, 0, 1}, 0);
  check_values(eye(2, 4, kInt64), {1, 0, 0, 0, 0, 1, 0, 0}, 0);
  check_values(eye(4, 2), {1, 0, 0, 1, 0, 0, 0, 0}, 0);
  CHECK(eye(0).shape() == Shape{0, 0});
  CHECK(eye(3, 0).shape() == Shape{3, 0});
  CHECK_THROWS_WITH_AS(eye(-2), doctest::Contains("eye: sizes -2 x -2 must be >= 0"), Error);
}

TEST_CASE("from_blob wraps memory without copying and calls release") {
  std::vector<float> buffer{1, 2, 3, 4, 5, 6};
  bool released = false;
  {
    Tensor t = from_blob(buffer.data(), {2, 3}, kFloat32, [&](void*) { released = true; });
    buffer[4] = 50;
    CHECK(t.at<float>({1, 1}) == 50.0f);
    t.at<float>({0, 0}) = -1;
    CHECK(buffer[0] == -1.0f);
    Tensor strided = from_blob(buffer.data(), {3}, {2}, kFloat32);
    check_values(strided, {-1, 3, 50});
    CHECK_FALSE(released);
  }
  CHECK(released);
}

TEST_CASE("dtypes: sizes, conversions and checked access") {
  CHECK(itemsize(kFloat32) == 4);
  CHECK(itemsize(kFloat64) == 8);
  CHECK(itemsize(kInt64) == 8);
  CHECK(itemsize(kInt32) == 4);
  CHECK(itemsize(kUInt8) == 1);
  CHECK(dtype_name(kUInt8) == "uint8");
  const Tensor f = tensor<float>({1.7f, -2.2f, 300.0f});
  const Tensor i = f.to(kInt32);
  CHECK(i.dtype() == kInt32);
  check_values(i, {1, -2, 300});
  check_values(f.to(kFloat64), {1.7, -2.2, 300}, 1e-6);
  CHECK_THROWS_AS(f.data_ptr<double>(), Error);
  CHECK_THROWS_AS(f.at<float>({3}), Error);
  CHECK_THROWS_AS(f.at<float>({0, 0}), Error);
  CHECK_THROWS_AS(f.item(), Error);
}

TEST_CASE("float to integer conversion: truncation, NaN as 0, saturation at the dtype's ends") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> in{-2.7, -0.9, 0.9,  126.9, 127.0, 128.5, 255.9, 256.0,  -128.0, -129.5,
                               3e9,  -3e9, 1e30, -1e30, inf,   -inf,  nan,   9.3e18, -9.3e18};
  const auto expect = [&]<class I>() {
    std::vector<double> out;
    const double lo = static_cast<double>(std::numeric_limits<I>::min());
    const double hi = static_cast<double>(std::numeric_limits<I>::max());  // int64: rounds up to 2^63
    for (double v : in) out.push_back(std::isnan(v) ? 0.0 : v <= lo ? lo : v >= hi ? hi : std::trunc(v));
    return out;
  };
  for (DType from : {kFloat64, kFloat32}) {
    const Tensor x = from_vector(in).to(from);
    // The strided copy path too: every other element of x interleaved with itself.
    const Tensor strided = stack({x, x}, 1).select(1, 0);
    REQUIRE_FALSE(strided.is_contiguous());
    const auto check_dtype = [&]<class I>(DType to) {
      CAPTURE(dtype_name(from));
      CAPTURE(dtype_name(to));
      std::vector<double> want = expect.template operator()<I>();
      if (from == kFloat32) {  // the float32 input itself is rounded first
        const std::vector<float> rounded = x.to_vector<float>();
        for (std::size_t i = 0; i < in.size(); ++i) {
          const double v = rounded[i], lo = static_cast<double>(std::numeric_limits<I>::min()),
                       hi = static_cast<double>(std::numeric_limits<I>::max());
          want[i] = std::isnan(v) ? 0.0 : v <= lo ? lo : v >= hi ? hi : std::trunc(v);
        }
      }
      for (const Tensor& source : {x, strided}) {
        const std::vector<I> got = source.to(to).template to_vector<I>();
        for (std::size_t i = 0; i < in.size(); ++i) {
          CAPTURE(in[i]);
          CHECK(static_cast<double>(got[i]) == want[i]);
        }
      }
    };
    check_dtype.template operator()<std::int64_t>(kInt64);
    check_dtype.template operator()<std::int32_t>(kInt32);
    check_dtype.template operator()<std::uint8_t>(kUInt8);
    check_dtype.template operator()<std::int8_t>(kInt8);
  }
  // The ends themselves, exactly.
  CHECK(tensor<double>({1e300}).to(kInt64).item<std::int64_t>() == std::numeric_limits<std::int64_t>::max());
  CHECK(tensor<double>({-1e300}).to(kInt64).item<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  CHECK(tensor<double>({-1e300}).to(kInt32).item<std::int32_t>() == std::numeric_limits<std::int32_t>::min());
}

TEST_CASE("a number that does not fit an integer dtype is an error, not a wrapped value") {
  check_values(full({2}, 2.9, kInt64), {2, 2});  // a fraction is dropped, as in PyTorch
  check_values(full({1}, -128.7, kInt8), {-128});
  check_values(full({1}, 255.0, kUInt8), {255});
  CHECK_THROWS_WITH_AS(full({2}, 300.0, kUInt8),
                       doctest::Contains("full: value 300 cannot be converted to uint8 without overflow (its "
                                         "range is 0 to 255)"),
                       Error);
  CHECK_THROWS_WITH_AS(full({2}, -1.0, kUInt8), doctest::Contains("value -1 cannot be converted to uint8"),
                       Error);
  CHECK_THROWS_WITH_AS(ones({2}, kInt32).fill_(std::nan("")), doctest::Contains("fill_: value nan"), Error);
  CHECK_THROWS_WITH_AS(full({1}, 9.3e18, kInt64), doctest::Contains("cannot be converted to int64"), Error);
  CHECK(full({1}, -9.223372036854775808e18, kInt64).item<std::int64_t>() ==
        std::numeric_limits<std::int64_t>::min());
  CHECK_THROWS_AS(full({1}, INFINITY, kInt32), Error);
  CHECK(std::isinf(full({1}, INFINITY, kFloat32).item()));  // floating dtypes hold anything
  // Arithmetic with a whole number builds it in the tensor's dtype; a number that is not a
  // whole one promotes the tensor to float32, as in PyTorch.
  CHECK_THROWS_WITH_AS(ones({3}, kInt32) + 1e10, doctest::Contains("cannot be converted to int32"), Error);
  check_values(ones({3}, kInt32) + 2.5, {3.5, 3.5, 3.5});
  CHECK((ones({3}, kInt32) + 2.5).dtype() == kFloat32);
  CHECK_THROWS_WITH_AS(arange(0.0, 300.0, 1.0, kUInt8), doctest::Contains("arange: value 299"), Error);
  check_values(arange(250.0, 256.0, 1.0, kUInt8), {250, 251, 252, 253, 254, 255});
  CHECK_THROWS_WITH_AS(linspace(-1.0, 1.0, 3, kUInt8), doctest::Contains("linspace: value -1"), Error);
}

TEST_CASE("clone and contiguous copy; views share storage") {
  const Tensor a = arange(0.0, 6.0, 1.0).reshape({2, 3});
  const Tensor c = a.clone();
  CHECK_FALSE(c.shares_storage(a));
  c.at<float>({0, 0}) = 42;
  CHECK(a.at<float>({0, 0}) == 0.0f);
  const Tensor t = a.t();
  CHECK(t.shares_storage(a));
  CHECK_FALSE(t.is_contiguous());
  const Tensor tc = t.contiguous();
  CHECK(tc.is_contiguous());
  CHECK_FALSE(tc.shares_storage(a));
  check_values(tc, {0, 3, 1, 4, 2, 5});
  CHECK(a.contiguous().shares_storage(a));
}

TEST_CASE("in-place updates") {
  Tensor a = zeros({2, 3});
  a.fill_(2.0);
  check_values(a, {2, 2, 2, 2, 2, 2});
  a.add_(tensor<float>({1, 2, 3}));  // broadcast over rows
  check_values(a, {3, 4, 5, 3, 4, 5});
  a.add_(ones({2, 3}), -0.5);
  a.mul_(2.0);
  check_values(a, {5, 7, 9, 5, 7, 9});
  a.slice(1, 0, 1).zero_();  // through a view
  check_values(a, {0, 7, 9, 0, 7, 9});
  a.t().copy_(tensor<float>({{1, 2}, {3, 4}, {5, 6}}));
  check_values(a, {1, 3, 5, 2, 4, 6});
}

// add_ and mul_ write straight into a dense tensor when each element is read where
// it is written; other overlaps take a temporary, so every result is the one a
// separate output would give.
TEST_CASE("in-place updates read every element before they overwrite it") {
  Tensor a = tensor<float>({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}});
  a.add_(a);  // the same elements
  check_values(a, {2, 4, 6, 8, 10, 12, 14, 16, 18});
  a.mul_(0.5);
  a.add_(a.t());  // overlaps elsewhere: a + a^T of the values before
  check_values(a, {2, 6, 10, 6, 10, 14, 10, 14, 18});
  Tensor b = tensor<float>({{1, 2, 3}, {4, 5, 6}});
  b.add_(b.slice(0, 0, 1));  // its own first row, broadcast over both rows
  check_values(b, {2, 4, 6, 5, 7, 9});
  Tensor c = tensor<float>({{1, 2}, {3, 4}});
  c.t().add_(tensor<float>({10, 20}));  // a strided destination
  check_values(c, {11, 12, 23, 24});
  c.t().mul_(2.0);
  check_values(c, {22, 24, 46, 48});
  Tensor n = arange(4, kInt64);
  n.add_(tensor<std::int64_t>({5}));
  n.mul_(3.0);
  CHECK(n.to_vector<std::int64_t>() == std::vector<std::int64_t>{15, 18, 21, 24});
}

TEST_CASE("sub_, mul_ and div_ by tensors, and the compound operators") {
  Tensor a = tensor<float>({{1, 2, 3}, {4, 5, 6}});
  a -= tensor<float>({1, 1, 1});  // broadcast over rows
  check_values(a, {0, 1, 2, 3, 4, 5});
  a *= tensor<float>({{2}, {10}});
  check_values(a, {0, 2, 4, 30, 40, 50});
  a /= tensor<float>({1, 2, 4});
  check_values(a, {0, 1, 1, 30, 20, 12.5});
  a += 1.0;
  a -= 0.5;
  a *= 4.0;
  a /= 2.0;
  check_values(a, {1, 3, 3, 61, 41, 26});
  a.sub_(ones({2, 3}), 0.5);
  check_values(a, {0.5, 2.5, 2.5, 60.5, 40.5, 25.5});
  // Division rounds as div does (x / 3, not x * (1/3)), on a dense and a strided destination.
  Tensor third = tensor<float>({1, 2, 10});
  third /= 3.0;
  kiln::test::check_same(third, tensor<float>({1, 2, 10}) / 3.0, 0.0);
  Tensor c = tensor<float>({{2, 4}, {6, 8}});
  c.t() /= tensor<float>({2, 4});
  check_values(c, {1, 2, 1.5, 2});
  c.mul_(c);  // the same elements
  check_values(c, {1, 4, 2.25, 4});
  // Integers: exact sums and products; division is refused, as div refuses it.
  Tensor n = arange(4, kInt64);
  n += 2.0;
  n *= tensor<std::int64_t>({2});
  CHECK(n.to_vector<std::int64_t>() == std::vector<std::int64_t>{4, 6, 8, 10});
  CHECK_THROWS_WITH_AS(n /= 2.0, doctest::Contains("div"), Error);
  // The result keeps self's shape: an operand that would enlarge it is an Error.
  Tensor row = ones({3});
  CHECK_THROWS_WITH_AS(
      row *= ones({2, 3}),
      doctest::Contains("mul_: an operand of shape (2, 3) does not broadcast to self's shape (3)"), Error);
  CHECK_THROWS_WITH_AS(row += ones({2}), doctest::Contains("add_"), Error);
  CHECK_THROWS_AS(row *= ones({3}, kFloat64), Error);  // dtypes must match
  // A manual SGD step reads like the formula.
  Tensor w = tensor<float>({1, 2}).requires_grad_();
  sum(w * w).backward();
  {
    NoGradGuard no_grad;
    w -= 0.25 * w.grad();
  }
  check_values(w, {0.5, 1});
  CHECK_THROWS_WITH_AS(w -= ones({2}), doctest::Contains("NoGradGuard"), Error);
}

TEST_CASE("printing looks like PyTorch's") {
  const std::string s = tensor<float>({{1, -2}, {3.5f, 4}}).str();
  CHECK(s.find("tensor([[") == 0);
  CHECK(s.find("shape=(2, 2)") != std::string::npos);
  CHECK(s.find("dtype=float32") != std::string::npos);
  CHECK(s.find("-2.0000") != std::string::npos);
  CHECK(s.find("3.5000") != std::string::npos);
  const std::string ints = arange(3).str();
  CHECK(ints.find("[0, 1, 2]") != std::string::npos);
  const std::string big = zeros({2000}).str();
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.size() < 200);
  Tensor w = ones({2}).requires_grad_();
  CHECK(w.str().find("requires_grad=true") != std::string::npos);
  CHECK((w * 2.0).str().find("grad_fn=<mul>") != std::string::npos);
  CHECK(scalar_tensor(1.5).str() == "tensor(1.5000, shape=(), dtype=float32)");
}

TEST_CASE("randn draws the values normal() draws one by one, bit for bit, spare and all") {
  // fill_normal draws each chunk's uniforms in order and spreads the transforms over the
  // threads: the values, and the generator's state after them, are those of normal().
  for (const std::int64_t n : {0, 1, 2, 3, 64, 65535, 65536 + 7, 3 * 32768 * 2 + 1}) {
    for (const bool spare_first : {false, true}) {
      INFO("n = " << n << ", a spare waiting: " << spare_first);
      Generator one(77), many(77);
      if (spare_first) {
        CHECK(one.normal() == many.normal());  // each now holds the pair's second value
      }
      std::vector<double> want(static_cast<std::size_t>(n)), got(want.size());
      for (double& v : want) v = one.normal();
      many.fill_normal(got.data(), n);
      CHECK((n == 0 || std::memcmp(want.data(), got.data(), want.size() * sizeof(double)) == 0));
      CHECK(one.normal() == many.normal());  // the same spare (or none) afterwards
      CHECK(one.state() == many.state());
      std::vector<float> floats(static_cast<std::size_t>(n));
      many.fill_normal(floats.data(), n);
      bool same = true;
      for (float& f : floats) same = same && f == static_cast<float>(one.normal());
      CHECK(same);
    }
  }
  // randn is the default generator's fill_normal
  manual_seed(5);
  const std::vector<float> drawn = randn({1001}).to_vector<float>();
  manual_seed(5);
  bool same = true;
  for (const float v : drawn) same = same && v == static_cast<float>(default_generator().normal());
  CHECK(same);
}

TEST_CASE("random tensors are reproducible from one seed") {
  manual_seed(123);
  const Tensor a = randn({1000});
  const Tensor u = rand({1000});
  manual_seed(123);
  const Tensor b = randn({1000});
  check_values(a, b.to_vector<double>(), 0);
  const double m = mean(a).item(), s = kiln::std(a).item();
  CHECK(std::abs(m) < 0.15);
  CHECK(std::abs(s - 1) < 0.1);
  CHECK(min(u).item() >= 0.0);
  CHECK(max(u).item() < 1.0);
  const Tensor r = randint(3, 7, {500});
  CHECK(min(r).item() == 3);
  CHECK(max(r).item() == 6);
  std::vector<std::int64_t> p = randperm(50).to_vector<std::int64_t>();
  std::sort(p.begin(), p.end());
  std::vector<std::int64_t> expect(50);
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(p == expect);
}
