// Unary math and activations: one grid-stride loop over contiguous arrays, the op a
// functor from unary_math.cuh, so every (op, type) pair compiles to its own kernel.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/unary.cuh"
#include "kernels/cuda/unary_math.cuh"

namespace kiln::cuda_kernels {

namespace {

template <class T, class F>
__global__ void map_kernel(std::int64_t n, const T* x, T* y, F f) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) y[i] = f(x[i]);
}

template <class T, class F>
__global__ void grad_kernel(std::int64_t n, const T* saved, const T* g, T* gx, F f) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) gx[i] = f(saved[i], g[i]);
}

template <class T, class F>
void launch_map(std::int64_t n, const T* x, T* y, F f) {
  launch_over(n, map_kernel<T, F>, n, x, y, f);
}
template <class T, class F>
void launch_grad(std::int64_t n, const T* saved, const T* g, T* gx, F f) {
  launch_over(n, grad_kernel<T, F>, n, saved, g, gx, f);
}

}  // namespace

void unary(cpu::Unary op, Scalar t, std::int64_t n, const void* x, void* y) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    switch (op) {
      case cpu::Unary::neg: return launch_map(n, px, py, Neg{});
      case cpu::Unary::exp: return launch_map(n, px, py, Exp{});
      case cpu::Unary::log: return launch_map(n, px, py, Log{});
      case cpu::Unary::sqrt: return launch_map(n, px, py, Sqrt{});
      case cpu::Unary::abs: return launch_map(n, px, py, Abs{});
      case cpu::Unary::relu: return launch_map(n, px, py, Relu{});
      case cpu::Unary::sigmoid: return launch_map(n, px, py, Sigmoid{});
      case cpu::Unary::tanh: return launch_map(n, px, py, Tanh{});
      case cpu::Unary::gelu: return launch_map(n, px, py, Gelu{});
      case cpu::Unary::softplus: return launch_map(n, px, py, Softplus{});
      case cpu::Unary::silu: return launch_map(n, px, py, Silu{});
      case cpu::Unary::sin: return launch_map(n, px, py, Sin{});
      case cpu::Unary::cos: return launch_map(n, px, py, Cos{});
      case cpu::Unary::log1p: return launch_map(n, px, py, Log1p{});
      case cpu::Unary::expm1: return launch_map(n, px, py, Expm1{});
      case cpu::Unary::sign: return launch_map(n, px, py, Sign{});
      case cpu::Unary::floor: return launch_map(n, px, py, Floor{});
      case cpu::Unary::ceil: return launch_map(n, px, py, Ceil{});
      case cpu::Unary::round: return launch_map(n, px, py, Round{});
      case cpu::Unary::tan:
        return launch_map(n, px, py, Tan{});
      case cpu::Unary::asin:
        return launch_map(n, px, py, Asin{});
      case cpu::Unary::acos:
        return launch_map(n, px, py, Acos{});
      case cpu::Unary::atan:
        return launch_map(n, px, py, Atan{});
      case cpu::Unary::sinh:
        return launch_map(n, px, py, Sinh{});
      case cpu::Unary::cosh:
        return launch_map(n, px, py, Cosh{});
      case cpu::Unary::asinh:
        return launch_map(n, px, py, Asinh{});
      case cpu::Unary::acosh:
        return launch_map(n, px, py, Acosh{});
      case cpu::Unary::atanh:
        return launch_map(n, px, py, Atanh{});
      case cpu::Unary::erf:
        return launch_map(n, px, py, Erf{});
      case cpu::Unary::erfc:
        return launch_map(n, px, py, Erfc{});
      case cpu::Unary::erfinv:
        return launch_map(n, px, py, Erfinv{});
      case cpu::Unary::rsqrt:
        return launch_map(n, px, py, Rsqrt{});
      case cpu::Unary::reciprocal:
        return launch_map(n, px, py, Reciprocal{});
      case cpu::Unary::trunc:
        return launch_map(n, px, py, Trunc{});
      case cpu::Unary::exp2:
        return launch_map(n, px, py, Exp2{});
      case cpu::Unary::log2:
        return launch_map(n, px, py, Log2{});
      case cpu::Unary::log10:
        return launch_map(n, px, py, Log10{});
      case cpu::Unary::lgamma:
        return launch_map(n, px, py, Lgamma{});
      case cpu::Unary::digamma:
        return launch_map(n, px, py, Digamma{});
      case cpu::Unary::trigamma:
        return launch_map(n, px, py, Trigamma{});
      case cpu::Unary::i0:
        return launch_map(n, px, py, BesselI0{});
      case cpu::Unary::i0e:
        return launch_map(n, px, py, BesselI0e{});
      case cpu::Unary::i1:
        return launch_map(n, px, py, BesselI1{});
      case cpu::Unary::i1e:
        return launch_map(n, px, py, BesselI1e{});
      case cpu::Unary::signbit:
        return launch_map(n, px, py, SignBit{});
      case cpu::Unary::frexp_mantissa:
        return launch_map(n, px, py, FrexpMantissa{});
      case cpu::Unary::frexp_exponent:
        return launch_map(n, px, py, FrexpExponent{});
      case cpu::Unary::count: break;
    }
    KILN_ASSERT(!"unary: unknown op");
  });
}

void unary_grad(cpu::UnaryGrad op, Scalar t, std::int64_t n, const void* saved, const void* g, void* gx) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    const T* ps = static_cast<const T*>(saved);
    const T* pg = static_cast<const T*>(g);
    T* px = static_cast<T*>(gx);
    switch (op) {
      case cpu::UnaryGrad::relu: return launch_grad(n, ps, pg, px, ReluGrad{});
      case cpu::UnaryGrad::sigmoid: return launch_grad(n, ps, pg, px, SigmoidGrad{});
      case cpu::UnaryGrad::tanh: return launch_grad(n, ps, pg, px, TanhGrad{});
      case cpu::UnaryGrad::gelu: return launch_grad(n, ps, pg, px, GeluGrad{});
      case cpu::UnaryGrad::softplus: return launch_grad(n, ps, pg, px, SoftplusGrad{});
      case cpu::UnaryGrad::silu: return launch_grad(n, ps, pg, px, SiluGrad{});
      case cpu::UnaryGrad::count: break;
    }
    KILN_ASSERT(!"unary_grad: unknown op");
  });
}

void param_activation(ParamActivation op, Scalar t, std::int64_t n, const void* x, double param, void* y) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    const T p = static_cast<T>(param);
    switch (op) {
      case ParamActivation::leaky_relu: return launch_map(n, px, py, LeakyRelu<T>{p});
      case ParamActivation::elu: return launch_map(n, px, py, Elu<T>{p});
    }
    KILN_ASSERT(!"param_activation: unknown op");
  });
}

void param_activation_grad(ParamActivation op, Scalar t, std::int64_t n, const void* x, double param, const void* g,
                           void* gx) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    const T* pg = static_cast<const T*>(g);
    T* pgx = static_cast<T*>(gx);
    const T p = static_cast<T>(param);
    switch (op) {
      case ParamActivation::leaky_relu: return launch_grad(n, px, pg, pgx, LeakyReluGrad<T>{p});
      case ParamActivation::elu: return launch_grad(n, px, pg, pgx, EluGrad<T>{p});
    }
    KILN_ASSERT(!"param_activation_grad: unknown op");
  });
}

}  // namespace kiln::cuda_kernels
