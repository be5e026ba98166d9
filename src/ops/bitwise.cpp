// Bit operations and common divisors of integer tensors (kiln/ops/bitwise.hpp): one
// kernel of the elementwise engine each (the reference kernels on the CPU, the functors
// of kernels/cuda/elementwise.cu on a GPU, both from kernels/cuda/bitwise.hpp).
#include "kiln/ops/bitwise.hpp"

#include <cstdint>
#include <limits>
#include <type_traits>

#include "kiln/core/factories.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/unary_engine.hpp"

namespace kiln {

using cpu::Binary;

namespace {

void check_integer(const char* op, const Tensor& t) {
  KILN_CHECK(!is_floating(t.dtype()), op, ": expected integer tensors (int64, int32, int8 or uint8) but got ",
             t.dtype(), " of shape ", fmt(t.shape()),
             "; bit operations and divisors are defined on integers");
}

Tensor integer_op(Binary op, const char* name, const Tensor& a, const Tensor& b) {
  check_integer(name, a);
  check_integer(name, b);
  return detail::binary_forward(op, name, a, b);
}

// The whole number `value` as a 0-d tensor of like's dtype and device, exactly (an int64
// beyond 2^53 too); an Error where it does not fit that dtype.
Tensor integer_scalar(const char* op, const Tensor& like, std::int64_t value) {
  check_integer(op, like);
  Tensor s = Tensor::empty({}, like.dtype());
  visit_dtype(like.dtype(), [&]<class T>() {
    if constexpr (std::is_integral_v<T>) {
      const bool fits =
          std::is_signed_v<T>
              ? value >= static_cast<std::int64_t>(std::numeric_limits<T>::lowest()) &&
                    value <= static_cast<std::int64_t>(std::numeric_limits<T>::max())
              : value >= 0 && static_cast<std::uint64_t>(value) <= std::numeric_limits<T>::max();
      KILN_CHECK(fits, op, ": the number ", value, " cannot be converted to ", like.dtype(),
                 " without overflow (its range is ", +std::numeric_limits<T>::lowest(), " to ",
                 +std::numeric_limits<T>::max(), ")");
      *detail::ptr<T>(s) = static_cast<T>(value);
    }
  });
  return like.device().is_cuda() ? s.to(like.device()) : s;
}

}  // namespace

Tensor bitwise_and(const Tensor& a, const Tensor& b) {
  return integer_op(Binary::bitwise_and, "bitwise_and", a, b);
}
Tensor bitwise_and(const Tensor& a, std::int64_t b) {
  return bitwise_and(a, integer_scalar("bitwise_and", a, b));
}
Tensor bitwise_or(const Tensor& a, const Tensor& b) {
  return integer_op(Binary::bitwise_or, "bitwise_or", a, b);
}
Tensor bitwise_or(const Tensor& a, std::int64_t b) {
  return bitwise_or(a, integer_scalar("bitwise_or", a, b));
}
Tensor bitwise_xor(const Tensor& a, const Tensor& b) {
  return integer_op(Binary::bitwise_xor, "bitwise_xor", a, b);
}
Tensor bitwise_xor(const Tensor& a, std::int64_t b) {
  return bitwise_xor(a, integer_scalar("bitwise_xor", a, b));
}
Tensor bitwise_not(const Tensor& x) {
  // All ones: -1 in a signed dtype, 255 in uint8.
  return integer_op(Binary::bitwise_xor, "bitwise_not", x,
                    integer_scalar("bitwise_not", x, x.dtype() == kUInt8 ? 255 : -1));
}

Tensor bitwise_left_shift(const Tensor& a, const Tensor& b) {
  return integer_op(Binary::shift_left, "bitwise_left_shift", a, b);
}
Tensor bitwise_left_shift(const Tensor& a, std::int64_t b) {
  return bitwise_left_shift(a, integer_scalar("bitwise_left_shift", a, b));
}
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b) {
  return integer_op(Binary::shift_right, "bitwise_right_shift", a, b);
}
Tensor bitwise_right_shift(const Tensor& a, std::int64_t b) {
  return bitwise_right_shift(a, integer_scalar("bitwise_right_shift", a, b));
}

Tensor gcd(const Tensor& a, const Tensor& b) { return integer_op(Binary::gcd, "gcd", a, b); }
Tensor gcd(const Tensor& a, std::int64_t b) { return gcd(a, integer_scalar("gcd", a, b)); }
Tensor lcm(const Tensor& a, const Tensor& b) { return integer_op(Binary::lcm, "lcm", a, b); }
Tensor lcm(const Tensor& a, std::int64_t b) { return lcm(a, integer_scalar("lcm", a, b)); }

}  // namespace kiln
