// Elementwise CUDA kernels. One grid-stride loop per kind of op; the op itself
// is a small functor, so every (op, type) pair compiles to its own tight kernel.
// The math follows the scalar reference (kernels/cpu/ref/ref_kernels.hpp).
#include "kernels/cuda/bitwise.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/counter_random.hpp"
#include "kernels/cuda/division.hpp"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/float_parts.hpp"
#include "kernels/cuda/special_functions.hpp"
#include "kernels/cuda/value_cast.hpp"
#include "kernels/cuda/wrapping.hpp"

namespace kiln::cuda_kernels {

namespace {

// --- kernels ----------------------------------------------------------------------

template <class T>
__global__ void fill_kernel(Loop loop, T* dst, T value) {
  for (std::int64_t i = global_index(); i < loop.numel; i += grid_stride()) {
    std::int64_t off[1];
    loop_offsets<1>(loop, i, off);
    dst[off[0]] = value;
  }
}

template <class D, class S>
__global__ void copy_kernel(Loop loop, D* dst, const S* src) {
  for (std::int64_t i = global_index(); i < loop.numel; i += grid_stride()) {
    std::int64_t off[2];
    loop_offsets<2>(loop, i, off);
    dst[off[0]] = value_cast<D>(src[off[1]]);  // float to integer saturates, NaN gives 0, as on the CPU
  }
}

template <class T, class Out, class F>
__global__ void zip_kernel(Loop loop, Out* out, const T* a, const T* b, F f) {
  for (std::int64_t i = global_index(); i < loop.numel; i += grid_stride()) {
    std::int64_t off[3];
    loop_offsets<3>(loop, i, off);
    out[off[0]] = f(a[off[1]], b[off[2]]);
  }
}

template <class T>
__global__ void uniform_kernel(std::int64_t n, std::uint64_t seed, T* out) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) out[i] = counter_uniform<T>(seed, i);
}

// z = sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1] and u2 in [0, 1) from numbers 2i and 2i + 1.
template <class T>
__global__ void normal_kernel(std::int64_t n, std::uint64_t seed, T* out) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const double u1 = 1.0 - counter_uniform<double>(seed, 2 * static_cast<std::uint64_t>(i));
    const double u2 = counter_uniform<double>(seed, 2 * static_cast<std::uint64_t>(i) + 1);
    out[i] = static_cast<T>(sqrt(-2.0 * log(u1)) * cospi(2.0 * u2));
  }
}

// The multiplier is the CPU reference's (kernels/cpu/ref): kept or 0, times x.
template <class T>
__global__ void dropout_kernel(std::int64_t n, const T* x, std::uint64_t seed, std::uint64_t threshold, T kept,
                               T* y) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride())
    y[i] = x[i] * (kept * static_cast<T>(dropout_keeps<T>(seed, i, threshold)));
}

template <class T>
__global__ void where_kernel(Loop loop, T* out, const std::uint8_t* mask, const T* a, const T* b) {
  for (std::int64_t i = global_index(); i < loop.numel; i += grid_stride()) {
    std::int64_t off[4];
    loop_offsets<4>(loop, i, off);
    out[off[0]] = mask[off[1]] ? a[off[2]] : b[off[3]];
  }
}

// --- binary functors ---------------------------------------------------------------
struct Add {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return wrapping_add(u, v);
  }
};
struct Sub {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return wrapping_sub(u, v);
  }
};
struct Mul {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return wrapping_mul(u, v);
  }
};
struct Div { template <class T> __device__ T operator()(T u, T v) const { return static_cast<T>(u / v); } };
struct Max {  // NaN propagates
  template <class T> __device__ T operator()(T u, T v) const {
    return is_nan(u) ? u : (is_nan(v) ? v : (u >= v ? u : v));
  }
};
struct Min {
  template <class T> __device__ T operator()(T u, T v) const {
    return is_nan(u) ? u : (is_nan(v) ? v : (u <= v ? u : v));
  }
};
struct Pow { template <class T> __device__ T operator()(T u, T v) const { return dpow(u, v); } };
struct Atan2 {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return datan2(u, v);
  }
};
struct Fmod {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return dfmod(u, v);
  }
};
struct Hypot {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return dhypot(u, v);
  }
};
struct Remainder {  // the sign of v: fmod, moved by v when the signs differ
  template <class T>
  __device__ T operator()(T u, T v) const {
    const T r = dfmod(u, v);
    return r != T(0) && ((r < T(0)) != (v < T(0))) ? r + v : r;
  }
};
// Floor division of floats, and integer division and remainders (division.hpp; the op
// refuses an integer divisor of 0 before launching).
struct FloorDivide {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return floor_divide_of(u, v);
  }
};
struct FloorQuotient {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return floor_quotient(u, v);
  }
};
struct IntegerPower {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return integer_power(u, v);
  }
};
struct TruncatedQuotient {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return truncated_quotient(u, v);
  }
};
struct TruncatedRemainder {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return truncated_remainder(u, v);
  }
};
struct FlooredRemainder {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return floored_remainder(u, v);
  }
};
// Bit operations and divisors of integers (bitwise.hpp).
struct BitAnd {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return static_cast<T>(u & v);
  }
};
struct BitOr {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return static_cast<T>(u | v);
  }
};
struct BitXor {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return static_cast<T>(u ^ v);
  }
};
struct ShiftLeft {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return shift_left(u, v);
  }
};
struct ShiftRight {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return shift_right(u, v);
  }
};
struct Gcd {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return gcd_of(u, v);
  }
};
struct Lcm {
  template <class T>
  __device__ T operator()(T u, T v) const {
    return lcm_of(u, v);
  }
};
struct Zeta {  // Hurwitz's zeta function, in double (special_functions.hpp)
  template <class T>
  __device__ T operator()(T s, T q) const {
    return static_cast<T>(zeta_of(static_cast<double>(s), static_cast<double>(q)));
  }
};
struct NextAfter {  // the next number toward v, in T's precision (float_parts.hpp)
  template <class T>
  __device__ T operator()(T u, T v) const {
    return next_after_of(u, v);
  }
};
struct Logaddexp {  // max + log1p(e^-|u - v|); u where both are the same infinity
  template <class T>
  __device__ T operator()(T u, T v) const {
    if (u == v && (u == T(INFINITY) || u == T(-INFINITY))) return u;
    const T m = u > v ? u : v;
    const T d = u - v;
    return m + dlog1p(dexp(d < T(0) ? d : -d));
  }
};

// --- comparison functors -------------------------------------------------------------
template <Compare C>
struct Cmp {
  template <class T> __device__ std::uint8_t operator()(T u, T v) const {
    bool r = false;
    if constexpr (C == Compare::eq) r = u == v;
    else if constexpr (C == Compare::ne) r = u != v;
    else if constexpr (C == Compare::lt) r = u < v;
    else if constexpr (C == Compare::le) r = u <= v;
    else if constexpr (C == Compare::gt) r = u > v;
    else r = u >= v;
    return r ? 1 : 0;
  }
};

template <class T, class Out, class F>
void launch_zip(const Loop& loop, Out* out, const T* a, const T* b, F f) {
  launch_over(loop.numel, zip_kernel<T, Out, F>, loop, out, a, b, f);
}
}  // namespace

void fill(Scalar t, const Loop& loop, void* dst, double value) {
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(loop.numel, fill_kernel<T>, loop, dst, static_cast<T>(value));
  });
}

void copy(Scalar dst_t, Scalar src_t, const Loop& loop, void* dst, const void* src) {
  visit_scalar(dst_t, [&](auto dtag) {
    visit_scalar(src_t, [&](auto stag) {
      launch_over(loop.numel, copy_kernel<decltype(dtag), decltype(stag)>, loop, dst, src);
    });
  });
}

void binary(cpu::Binary op, Scalar t, const Loop& loop, void* out, const void* a, const void* b) {
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out);
    const T* pa = static_cast<const T*>(a);
    const T* pb = static_cast<const T*>(b);
    switch (op) {
      case cpu::Binary::add: return launch_zip(loop, o, pa, pb, Add{});
      case cpu::Binary::sub: return launch_zip(loop, o, pa, pb, Sub{});
      case cpu::Binary::mul: return launch_zip(loop, o, pa, pb, Mul{});
      case cpu::Binary::maximum: return launch_zip(loop, o, pa, pb, Max{});
      case cpu::Binary::minimum: return launch_zip(loop, o, pa, pb, Min{});
      case cpu::Binary::floor_divide:
        if constexpr (std::is_floating_point_v<T>)
          return launch_zip(loop, o, pa, pb, FloorDivide{});
        else
          return launch_zip(loop, o, pa, pb, FloorQuotient{});
      case cpu::Binary::div:
      case cpu::Binary::pow:
      case cpu::Binary::atan2:
      case cpu::Binary::fmod:
      case cpu::Binary::remainder:
      case cpu::Binary::hypot:
      case cpu::Binary::logaddexp:
      case cpu::Binary::zeta:
      case cpu::Binary::nextafter:
        if constexpr (std::is_floating_point_v<T>) {
          switch (op) {
            case cpu::Binary::div:
              return launch_zip(loop, o, pa, pb, Div{});
            case cpu::Binary::pow:
              return launch_zip(loop, o, pa, pb, Pow{});
            case cpu::Binary::atan2:
              return launch_zip(loop, o, pa, pb, Atan2{});
            case cpu::Binary::fmod:
              return launch_zip(loop, o, pa, pb, Fmod{});
            case cpu::Binary::remainder:
              return launch_zip(loop, o, pa, pb, Remainder{});
            case cpu::Binary::hypot:
              return launch_zip(loop, o, pa, pb, Hypot{});
            case cpu::Binary::zeta:
              return launch_zip(loop, o, pa, pb, Zeta{});
            case cpu::Binary::nextafter:
              return launch_zip(loop, o, pa, pb, NextAfter{});
            default:
              return launch_zip(loop, o, pa, pb, Logaddexp{});
          }
        } else if (op == cpu::Binary::div) {
          return launch_zip(loop, o, pa, pb, TruncatedQuotient{});
        } else if (op == cpu::Binary::pow) {
          return launch_zip(loop, o, pa, pb, IntegerPower{});
        } else if (op == cpu::Binary::fmod) {
          return launch_zip(loop, o, pa, pb, TruncatedRemainder{});
        } else if (op == cpu::Binary::remainder) {
          return launch_zip(loop, o, pa, pb, FlooredRemainder{});
        }
        break;
      case cpu::Binary::bitwise_and:
      case cpu::Binary::bitwise_or:
      case cpu::Binary::bitwise_xor:
      case cpu::Binary::shift_left:
      case cpu::Binary::shift_right:
      case cpu::Binary::gcd:
      case cpu::Binary::lcm:
        if constexpr (!std::is_floating_point_v<T>) {
          switch (op) {
            case cpu::Binary::bitwise_and:
              return launch_zip(loop, o, pa, pb, BitAnd{});
            case cpu::Binary::bitwise_or:
              return launch_zip(loop, o, pa, pb, BitOr{});
            case cpu::Binary::bitwise_xor:
              return launch_zip(loop, o, pa, pb, BitXor{});
            case cpu::Binary::shift_left:
              return launch_zip(loop, o, pa, pb, ShiftLeft{});
            case cpu::Binary::shift_right:
              return launch_zip(loop, o, pa, pb, ShiftRight{});
            case cpu::Binary::gcd:
              return launch_zip(loop, o, pa, pb, Gcd{});
            default:
              return launch_zip(loop, o, pa, pb, Lcm{});
          }
        }
        break;
      case cpu::Binary::count: break;
    }
    KILN_ASSERT(!"binary: op not defined for this element type");
  });
}

void compare(Compare op, Scalar t, const Loop& loop, std::uint8_t* out, const void* a, const void* b) {
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a);
    const T* pb = static_cast<const T*>(b);
    switch (op) {
      case Compare::eq: return launch_zip(loop, out, pa, pb, Cmp<Compare::eq>{});
      case Compare::ne: return launch_zip(loop, out, pa, pb, Cmp<Compare::ne>{});
      case Compare::lt: return launch_zip(loop, out, pa, pb, Cmp<Compare::lt>{});
      case Compare::le: return launch_zip(loop, out, pa, pb, Cmp<Compare::le>{});
      case Compare::gt: return launch_zip(loop, out, pa, pb, Cmp<Compare::gt>{});
      case Compare::ge: return launch_zip(loop, out, pa, pb, Cmp<Compare::ge>{});
    }
  });
}

void where(Scalar t, const Loop& loop, void* out, const std::uint8_t* mask, const void* a, const void* b) {
  visit_scalar(t, [&](auto tag) { launch_over(loop.numel, where_kernel<decltype(tag)>, loop, out, mask, a, b); });
}

void random_uniform(Scalar t, std::int64_t n, std::uint64_t seed, void* out) {
  visit_floating(t, [&](auto tag) { launch_over(n, uniform_kernel<decltype(tag)>, n, seed, out); });
}

void random_normal(Scalar t, std::int64_t n, std::uint64_t seed, void* out) {
  visit_floating(t, [&](auto tag) { launch_over(n, normal_kernel<decltype(tag)>, n, seed, out); });
}

void dropout(Scalar t, std::int64_t n, const void* x, std::uint64_t seed, std::uint64_t threshold, double scale,
             void* y) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(n, dropout_kernel<T>, n, static_cast<const T*>(x), seed, threshold, static_cast<T>(scale),
                static_cast<T*>(y));
  });
}

}  // namespace kiln::cuda_kernels
