// Bit operations and common divisors of integer tensors against references built from
// arithmetic alone: every pair of int8 and uint8 values, edge and random values of int32
// and int64, shift counts below 0 and past the width, broadcasting, numbers, errors.
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "helpers.hpp"

using namespace kiln;

namespace {

constexpr int kAnd = 0, kOr = 1, kXor = 2;

// The two's complement bits of u in `width` bits, as an unsigned number below 2^width.
std::uint64_t bits_of(std::int64_t u, int width) {
  const std::uint64_t m = width == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << width) - 1;
  return static_cast<std::uint64_t>(u) & m;
}
// Back from `width` bits to the value of a signed or unsigned dtype.
std::int64_t value_of(std::uint64_t bits, int width, bool is_signed) {
  if (!is_signed || width == 64) return static_cast<std::int64_t>(bits);
  const std::uint64_t half = std::uint64_t(1) << (width - 1);
  return bits >= half ? static_cast<std::int64_t>(bits) - static_cast<std::int64_t>(half * 2)
                      : static_cast<std::int64_t>(bits);
}
// and / or / xor digit by digit: each bit read as the remainder of repeated halving.
std::int64_t logic_ref(int which, std::int64_t u, std::int64_t v, int width, bool is_signed) {
  std::uint64_t x = bits_of(u, width), y = bits_of(v, width), out = 0, place = 1;
  for (int k = 0; k < width; ++k, x /= 2, y /= 2, place *= 2) {
    const std::uint64_t p = x % 2, q = y % 2;
    const std::uint64_t bit = which == kAnd ? p * q : which == kOr ? (p + q > 0 ? 1 : 0) : (p + q) % 2;
    out += bit * place;
  }
  return value_of(out, width, is_signed);
}
// u times 2^v in `width` bits; 0 for a count out of [0, width).
std::int64_t left_ref(std::int64_t u, std::int64_t v, int width, bool is_signed) {
  if (v < 0 || v >= width) return 0;
  std::uint64_t bits = bits_of(u, width);
  for (std::int64_t k = 0; k < v; ++k) bits = bits_of(static_cast<std::int64_t>(bits * 2), width);
  return value_of(bits, width, is_signed);
}
// floor(u / 2^v); the sign alone (-1 or 0) for a count out of [0, width).
std::int64_t right_ref(std::int64_t u, std::int64_t v, int width) {
  if (v < 0 || v >= width) return u < 0 ? -1 : 0;
  std::int64_t q = u;
  for (std::int64_t k = 0; k < v; ++k) q = q >= 0 || q % 2 == 0 ? q / 2 : (q - 1) / 2;  // halving down
  return q;
}

template <class T>
void check_pairs(DType dtype, const std::vector<std::int64_t>& us, const std::vector<std::int64_t>& vs) {
  INFO(std::string(dtype_name(dtype)));
  constexpr int width = static_cast<int>(sizeof(T) * 8);
  constexpr bool is_signed = std::is_signed_v<T>;
  std::vector<T> a, b;
  std::vector<std::int64_t> want[5];
  for (std::int64_t u : us)
    for (std::int64_t v : vs) {
      a.push_back(static_cast<T>(u));
      b.push_back(static_cast<T>(v));
      for (int which : {kAnd, kOr, kXor}) want[which].push_back(logic_ref(which, u, v, width, is_signed));
      want[3].push_back(left_ref(u, v, width, is_signed));
      want[4].push_back(right_ref(u, v, width));
    }
  const Tensor ta = from_vector(a), tb = from_vector(b);
  const Tensor got[5] = {bitwise_and(ta, tb), bitwise_or(ta, tb), bitwise_xor(ta, tb),
                         bitwise_left_shift(ta, tb), bitwise_right_shift(ta, tb)};
  const char* names[5] = {"and", "or", "xor", "left shift", "right shift"};
  for (int k = 0; k < 5; ++k) {
    INFO(std::string(names[k]));
    CHECK(got[k].dtype() == dtype);
    const std::vector<std::int64_t> g = got[k].to(kInt64).to_vector<std::int64_t>();
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < g.size(); ++i)
      if (g[i] != want[k][i] && wrong++ == 0)
        FAIL_CHECK(+a[i] << " op " << +b[i] << ": got " << g[i] << ", expected " << want[k][i]);
    CHECK(wrong == 0);
  }
  // bitwise_not: -x - 1, or 255 - x for uint8.
  const std::vector<std::int64_t> flipped = bitwise_not(ta).to(kInt64).to_vector<std::int64_t>();
  for (std::size_t i = 0; i < a.size(); i += 7)
    CHECK(flipped[i] ==
          (is_signed ? static_cast<std::int64_t>(std::uint64_t(0) - static_cast<std::uint64_t>(a[i]) - 1)
                     : 255 - static_cast<std::int64_t>(a[i])));
}

std::vector<std::int64_t> range(std::int64_t lo, std::int64_t hi) {
  std::vector<std::int64_t> v;
  for (std::int64_t x = lo; x <= hi; ++x) v.push_back(x);
  return v;
}

}  // namespace

TEST_CASE("bitwise and / or / xor / shifts / not: every int8 and uint8 pair, edges of int32 and int64") {
  check_pairs<std::int8_t>(kInt8, range(-128, 127), range(-128, 127));
  check_pairs<std::uint8_t>(kUInt8, range(0, 255), range(0, 255));
  const std::int64_t lo32 = std::numeric_limits<std::int32_t>::min(),
                     hi32 = std::numeric_limits<std::int32_t>::max();
  const std::int64_t lo64 = std::numeric_limits<std::int64_t>::min(),
                     hi64 = std::numeric_limits<std::int64_t>::max();
  std::vector<std::int64_t> counts = range(-3, 70);
  std::vector<std::int64_t> v32{lo32, lo32 + 1, -65536, -255,  -2,    -1,       0,   1,
                                2,    3,        255,    12345, 65535, hi32 - 1, hi32};
  std::vector<std::int64_t> v64{lo64,
                                lo64 + 1,
                                -(std::int64_t(1) << 40) - 3,
                                -7,
                                -1,
                                0,
                                1,
                                5,
                                std::int64_t(0x5555555555555555),
                                (std::int64_t(1) << 53) + 1,
                                hi64};
  manual_seed(5);
  const std::vector<std::int64_t> random = randint(-1000000, 1000000, {20}).to_vector<std::int64_t>();
  for (std::int64_t r : random) {
    v32.push_back(r * 1013);
    v64.push_back(r * 987654321);
  }
  std::vector<std::int64_t> c32 = counts, c64 = counts;
  c32.insert(c32.end(), v32.begin(), v32.end());  // and / or / xor need more than counts
  c64.insert(c64.end(), v64.begin(), v64.end());
  check_pairs<std::int32_t>(kInt32, v32, c32);
  check_pairs<std::int64_t>(kInt64, v64, c64);
}

TEST_CASE("gcd and lcm: std::gcd / std::lcm on small values, signs, zeros, and the lowest value") {
  for (DType dtype : {kInt64, kInt32, kInt8}) {
    INFO(std::string(dtype_name(dtype)));
    std::vector<std::int64_t> us, vs, g, l;
    for (std::int64_t u = -12; u <= 12; ++u)
      for (std::int64_t v = -10; v <= 10; ++v) {
        us.push_back(u);
        vs.push_back(v);
        g.push_back(std::gcd(u, v));
        l.push_back(std::lcm(u, v));
      }
    const Tensor a = from_vector(us).to(dtype), b = from_vector(vs).to(dtype);
    CHECK(gcd(a, b).dtype() == dtype);
    CHECK(gcd(a, b).to(kInt64).to_vector<std::int64_t>() == g);
    CHECK(lcm(a, b).to(kInt64).to_vector<std::int64_t>() == l);
  }
  // uint8, and the values torch.gcd / torch.lcm give.
  const Tensor u8 = tensor<std::uint8_t>({0, 12, 255, 200});
  CHECK(gcd(u8, tensor<std::uint8_t>({0, 18, 85, 150})).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{0, 6, 85, 50});
  CHECK(lcm(tensor<std::int64_t>({-4, 0, 6, 21}), tensor<std::int64_t>({6, 5, -4, 6}))
            .to_vector<std::int64_t>() == std::vector<std::int64_t>{12, 0, 12, 42});
  const std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
  CHECK(gcd(tensor<std::int64_t>({lowest, lowest, lowest}), tensor<std::int64_t>({0, 6, lowest}))
            .to_vector<std::int64_t>() == std::vector<std::int64_t>{lowest, 2, lowest});
  CHECK(gcd(tensor<std::int8_t>({-128, -128}), tensor<std::int8_t>({-96, 0})).to_vector<std::int8_t>() ==
        std::vector<std::int8_t>{32, -128});
  // A number, broadcast.
  CHECK(gcd(tensor<std::int64_t>({{12}, {-18}}), 8).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{4, 2});
  CHECK(lcm(tensor<std::int32_t>({4, 6}), 10).to_vector<std::int32_t>() == std::vector<std::int32_t>{20, 30});
}

TEST_CASE("bitwise ops: packed 4-bit pairs, numbers, broadcasting and errors") {
  // Two 4-bit values per byte (the layout of kiln's INT4 weights: low nibble first).
  const Tensor low = tensor<std::uint8_t>({1, 15, 0, 7}), high = tensor<std::uint8_t>({9, 0, 15, 7});
  const Tensor packed = bitwise_or(low, bitwise_left_shift(high, 4));
  CHECK(packed.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0x91, 0x0F, 0xF0, 0x77});
  CHECK(bitwise_and(packed, 0xF).to_vector<std::uint8_t>() == low.to_vector<std::uint8_t>());
  CHECK(bitwise_right_shift(packed, 4).to_vector<std::uint8_t>() == high.to_vector<std::uint8_t>());
  // Exact int64 numbers beyond 2^53, broadcasting over rows.
  const std::int64_t mask = (std::int64_t(1) << 62) + 1;
  CHECK(bitwise_and(tensor<std::int64_t>({-1, 3}), mask).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{mask, 1});
  CHECK(bitwise_xor(tensor<std::int32_t>({{1, 2}, {4, 8}}), tensor<std::int32_t>({3, 3}))
            .to_vector<std::int32_t>() == std::vector<std::int32_t>{2, 1, 7, 11});
  CHECK(bitwise_not(tensor<std::int64_t>({0, -1, 5})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{-1, 0, -6});
  CHECK(bitwise_not(tensor<std::uint8_t>({0, 255, 1})).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{255, 0, 254});
  // A transposed (strided) operand.
  const Tensor grid = arange(0.0, 6.0, 1.0, kInt64).reshape({2, 3});
  CHECK(bitwise_and(grid.t(), 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 1, 0, 0, 1});

  CHECK_THROWS_WITH_AS(
      bitwise_and(tensor<float>({1, 2}), tensor<float>({1, 2})),
      "bitwise_and: expected integer tensors (int64, int32, int8 or uint8) but got float32 of shape "
      "(2); bit operations and divisors are defined on integers",
      Error);
  CHECK_THROWS_WITH_AS(gcd(tensor<double>({1}), 2), doctest::Contains("gcd: expected integer tensors"),
                       Error);
  CHECK_THROWS_WITH_AS(bitwise_or(tensor<std::int64_t>({1}), tensor<std::int32_t>({1})),
                       doctest::Contains("dtypes int64 and int32 differ"), Error);
  CHECK_THROWS_WITH_AS(
      bitwise_and(tensor<std::int8_t>({1}), 255),
      "bitwise_and: the number 255 cannot be converted to int8 without overflow (its range is -128 "
      "to 127)",
      Error);
  CHECK_THROWS_WITH_AS(bitwise_left_shift(tensor<std::uint8_t>({1}), -1), doctest::Contains("to uint8"),
                       Error);
  CHECK_THROWS_WITH_AS(lcm(tensor<std::int64_t>({1, 2}), tensor<std::int64_t>({1, 2, 3})),
                       doctest::Contains("lcm"), Error);
}
