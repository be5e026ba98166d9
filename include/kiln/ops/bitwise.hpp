// Bit operations and common divisors of integer tensors (int64, int32, int8 and uint8),
// broadcasting, as torch.bitwise_and ... torch.gcd: e.g. the two 4-bit halves of packed
// bytes, `bitwise_and(packed, 0xF)` and `bitwise_right_shift(packed, 4)`. Both operands
// share a dtype and a device; a number is taken in that dtype (an Error where it does
// not fit). Floating tensors are refused; nothing here has a gradient.
//
// kiln's operators &, |, ^, ~ and ! stay the logical ops of 0/1 masks
// (kiln/ops/elementwise.hpp); these are the named bit operations.
#pragma once

#include <cstdint>

#include "kiln/core/tensor.hpp"

namespace kiln {

Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_and(const Tensor& a, std::int64_t b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, std::int64_t b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, std::int64_t b);
// Every bit flipped (C's ~): -x - 1 for signed dtypes, 255 - x for uint8.
Tensor bitwise_not(const Tensor& x);

// a shifted left by b bits (bits shifted out are lost; a signed result wraps, as C++20's
// <<), and right by b bits, arithmetically for signed dtypes (the sign fills in). A count
// below 0 or of the dtype's width or more gives 0 on the left, and the sign alone on the
// right (-1 for a negative a, else 0).
Tensor bitwise_left_shift(const Tensor& a, const Tensor& b);
Tensor bitwise_left_shift(const Tensor& a, std::int64_t b);
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b);
Tensor bitwise_right_shift(const Tensor& a, std::int64_t b);

// The greatest common divisor of |a| and |b| (gcd(0, 0) = 0) and the least common
// multiple |a| / gcd * |b| (0 if either is 0), as torch.gcd / torch.lcm; a result beyond
// the dtype's range wraps around (gcd(lowest, 0) is the lowest value itself).
Tensor gcd(const Tensor& a, const Tensor& b);
Tensor gcd(const Tensor& a, std::int64_t b);
Tensor lcm(const Tensor& a, const Tensor& b);
Tensor lcm(const Tensor& a, std::int64_t b);

}  // namespace kiln
