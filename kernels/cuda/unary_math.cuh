// The elementwise math of kiln's unary ops and their gradients, as device functors:
// the kernels of elementwise.cu apply them one op at a time, and fused kernels
// (loss.cu) apply the same functors, so both compute each value the same way.
// The formulas follow the scalar reference (kernels/cpu/ref/ref_kernels.hpp).
#pragma once

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/float_parts.hpp"
#include "kernels/cuda/special_functions.hpp"

namespace kiln::cuda_kernels {

// --- unary functors --------------------------------------------------------------------
template <class T> __device__ T sigmoid_of(T x) { return T(1) / (T(1) + dexp(-x)); }

struct Neg { template <class T> __device__ T operator()(T x) const { return -x; } };
struct Exp { template <class T> __device__ T operator()(T x) const { return dexp(x); } };
struct Log { template <class T> __device__ T operator()(T x) const { return dlog(x); } };
struct Sqrt { template <class T> __device__ T operator()(T x) const { return dsqrt(x); } };
struct Abs { template <class T> __device__ T operator()(T x) const { return x < T(0) ? -x : x; } };
struct Relu { template <class T> __device__ T operator()(T x) const { return x < T(0) ? T(0) : x; } };
struct Sigmoid { template <class T> __device__ T operator()(T x) const { return sigmoid_of(x); } };
struct Tanh { template <class T> __device__ T operator()(T x) const { return dtanh(x); } };
struct Gelu {  // x * Phi(x)
  template <class T> __device__ T operator()(T x) const { return T(0.5) * x * derfc(-x * T(0.70710678118654752440)); }
};
struct Softplus {  // max(x, 0) + log1p(e^-|x|)
  template <class T> __device__ T operator()(T x) const {
    return (x > T(0) ? x : T(0)) + dlog1p(dexp(x < T(0) ? x : -x));
  }
};
struct Silu { template <class T> __device__ T operator()(T x) const { return x * sigmoid_of(x); } };
struct Sin { template <class T> __device__ T operator()(T x) const { return dsin(x); } };
struct Cos { template <class T> __device__ T operator()(T x) const { return dcos(x); } };
struct Log1p { template <class T> __device__ T operator()(T x) const { return dlog1p(x); } };
struct Expm1 { template <class T> __device__ T operator()(T x) const { return dexpm1(x); } };
struct Sign {  // x * 0 keeps both zeros' signs and NaN
  template <class T> __device__ T operator()(T x) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x * T(0)); }
};
struct Floor { template <class T> __device__ T operator()(T x) const { return dfloor(x); } };
struct Ceil { template <class T> __device__ T operator()(T x) const { return dceil(x); } };
struct Round { template <class T> __device__ T operator()(T x) const { return drint(x); } };  // halves to even
// The math functions (the CPU's reference: kernels/cpu/ref/ref_kernels.hpp).
#define KILN_UNARY_FUNCTOR(Name, expr)   \
  struct Name {                          \
    template <class T>                   \
    __device__ T operator()(T x) const { \
      return static_cast<T>(expr);       \
    }                                    \
  };
KILN_UNARY_FUNCTOR(Tan, dtan(x))
KILN_UNARY_FUNCTOR(Asin, dasin(x))
KILN_UNARY_FUNCTOR(Acos, dacos(x))
KILN_UNARY_FUNCTOR(Atan, datan(x))
KILN_UNARY_FUNCTOR(Sinh, dsinh(x))
KILN_UNARY_FUNCTOR(Cosh, dcosh(x))
KILN_UNARY_FUNCTOR(Asinh, dasinh(x))
KILN_UNARY_FUNCTOR(Acosh, dacosh(x))
KILN_UNARY_FUNCTOR(Atanh, datanh(x))
KILN_UNARY_FUNCTOR(Erf, derf(x))
KILN_UNARY_FUNCTOR(Erfc, derfc(x))
KILN_UNARY_FUNCTOR(Erfinv, erfinv_of(static_cast<double>(x)))
KILN_UNARY_FUNCTOR(Rsqrt, T(1) / dsqrt(x))
KILN_UNARY_FUNCTOR(Reciprocal, T(1) / x)
KILN_UNARY_FUNCTOR(Trunc, dtrunc(x))
KILN_UNARY_FUNCTOR(Exp2, dexp2(x))
KILN_UNARY_FUNCTOR(Log2, dlog2(x))
KILN_UNARY_FUNCTOR(Log10, dlog10(x))
KILN_UNARY_FUNCTOR(Lgamma, dlgamma(x))
KILN_UNARY_FUNCTOR(Digamma, digamma_of(static_cast<double>(x)))
KILN_UNARY_FUNCTOR(Trigamma, trigamma_of(static_cast<double>(x)))
KILN_UNARY_FUNCTOR(BesselI0, bessel_i_of(0, static_cast<double>(x), false))
KILN_UNARY_FUNCTOR(BesselI0e, bessel_i_of(0, static_cast<double>(x), true))
KILN_UNARY_FUNCTOR(BesselI1, bessel_i_of(1, static_cast<double>(x), false))
KILN_UNARY_FUNCTOR(BesselI1e, bessel_i_of(1, static_cast<double>(x), true))
KILN_UNARY_FUNCTOR(SignBit, sign_bit_of(x))
KILN_UNARY_FUNCTOR(FrexpMantissa, frexp_mantissa_of(x))
KILN_UNARY_FUNCTOR(FrexpExponent, frexp_exponent_of(x))
#undef KILN_UNARY_FUNCTOR

// --- gradient functors: (saved, g) -> g * f'(...) ------------------------------------------
struct ReluGrad { template <class T> __device__ T operator()(T x, T g) const { return x > T(0) ? g : T(0); } };
struct SigmoidGrad { template <class T> __device__ T operator()(T y, T g) const { return g * y * (T(1) - y); } };
struct TanhGrad { template <class T> __device__ T operator()(T y, T g) const { return g * (T(1) - y * y); } };
struct GeluGrad {  // Phi(x) + x phi(x)
  template <class T> __device__ T operator()(T x, T g) const {
    const T phi = dexp(T(-0.5) * x * x) * T(0.39894228040143267794);
    return g * (T(0.5) * derfc(-x * T(0.70710678118654752440)) + x * phi);
  }
};
struct SoftplusGrad { template <class T> __device__ T operator()(T x, T g) const { return g * sigmoid_of(x); } };
struct SiluGrad {  // s (1 + x (1 - s)), s = sigmoid(x)
  template <class T> __device__ T operator()(T x, T g) const {
    const T s = sigmoid_of(x);
    return g * (s * (T(1) + x * (T(1) - s)));
  }
};

// --- activations with one parameter (rounded to T, as the CPU kernels take it) ----------
template <class T>
struct LeakyRelu {
  T slope;
  __device__ T operator()(T x) const { return x > T(0) ? x : slope * x; }
};
template <class T>
struct LeakyReluGrad {
  T slope;
  __device__ T operator()(T x, T g) const { return x > T(0) ? g : slope * g; }
};
template <class T>
struct Elu {  // alpha expm1(x) at or below 0
  T alpha;
  __device__ T operator()(T x) const { return x > T(0) ? x : alpha * dexpm1(x); }
};
template <class T>
struct EluGrad {  // alpha e^x at or below 0
  T alpha;
  __device__ T operator()(T x, T g) const { return x > T(0) ? g : g * (alpha * dexp(x)); }
};

}  // namespace kiln::cuda_kernels
