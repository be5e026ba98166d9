// Fills the kernel table with the scalar reference kernels.
#include <type_traits>

#include "../kernel_table.hpp"
#include "ref_kernels.hpp"

namespace kiln::cpu {
namespace {

template <class T>
void fill(KernelTable<T>& t) {
  t.unary[int(Unary::neg)] = ref::neg<T>;
  t.unary[int(Unary::exp)] = ref::exp<T>;
  t.unary[int(Unary::log)] = ref::log<T>;
  t.unary[int(Unary::sqrt)] = ref::sqrt<T>;
  t.unary[int(Unary::abs)] = ref::abs<T>;
  t.unary[int(Unary::relu)] = ref::relu<T>;
  t.unary[int(Unary::sigmoid)] = ref::sigmoid<T>;
  t.unary[int(Unary::tanh)] = ref::tanh<T>;
  t.unary[int(Unary::gelu)] = ref::gelu<T>;
  t.unary[int(Unary::softplus)] = ref::softplus<T>;
  t.unary[int(Unary::silu)] = ref::silu<T>;
  t.unary[int(Unary::sin)] = ref::sin<T>;
  t.unary[int(Unary::cos)] = ref::cos<T>;
  t.unary[int(Unary::log1p)] = ref::log1p<T>;
  t.unary[int(Unary::expm1)] = ref::expm1<T>;
  t.unary[int(Unary::sign)] = ref::sign<T>;
  t.unary[int(Unary::floor)] = ref::floor<T>;
  t.unary[int(Unary::ceil)] = ref::ceil<T>;
  t.unary[int(Unary::round)] = ref::round<T>;
  t.unary[int(Unary::tan)] = ref::tan<T>;
  t.unary[int(Unary::asin)] = ref::asin<T>;
  t.unary[int(Unary::acos)] = ref::acos<T>;
  t.unary[int(Unary::atan)] = ref::atan<T>;
  t.unary[int(Unary::sinh)] = ref::sinh<T>;
  t.unary[int(Unary::cosh)] = ref::cosh<T>;
  t.unary[int(Unary::asinh)] = ref::asinh<T>;
  t.unary[int(Unary::acosh)] = ref::acosh<T>;
  t.unary[int(Unary::atanh)] = ref::atanh<T>;
  t.unary[int(Unary::erf)] = ref::erf<T>;
  t.unary[int(Unary::erfc)] = ref::erfc<T>;
  t.unary[int(Unary::erfinv)] = ref::erfinv<T>;
  t.unary[int(Unary::rsqrt)] = ref::rsqrt<T>;
  t.unary[int(Unary::reciprocal)] = ref::reciprocal<T>;
  t.unary[int(Unary::trunc)] = ref::trunc<T>;
  t.unary[int(Unary::exp2)] = ref::exp2<T>;
  t.unary[int(Unary::log2)] = ref::log2<T>;
  t.unary[int(Unary::log10)] = ref::log10<T>;
  t.unary[int(Unary::lgamma)] = ref::lgamma<T>;
  t.unary[int(Unary::digamma)] = ref::digamma<T>;
  t.unary[int(Unary::trigamma)] = ref::trigamma<T>;
  t.unary[int(Unary::i0)] = ref::i0<T>;
  t.unary[int(Unary::i0e)] = ref::i0e<T>;
  t.unary[int(Unary::i1)] = ref::i1<T>;
  t.unary[int(Unary::i1e)] = ref::i1e<T>;
  t.unary[int(Unary::signbit)] = ref::signbit<T>;
  t.unary[int(Unary::frexp_mantissa)] = ref::frexp_mantissa<T>;
  t.unary[int(Unary::frexp_exponent)] = ref::frexp_exponent<T>;
  t.binary[int(Binary::add)] = ref::add<T>;
  t.binary[int(Binary::sub)] = ref::sub<T>;
  t.binary[int(Binary::mul)] = ref::mul<T>;
  t.binary[int(Binary::div)] = ref::div<T>;
  t.binary[int(Binary::maximum)] = ref::maximum<T>;
  t.binary[int(Binary::minimum)] = ref::minimum<T>;
  t.binary[int(Binary::pow)] = ref::pow<T>;
  t.binary[int(Binary::atan2)] = ref::atan2<T>;
  t.binary[int(Binary::fmod)] = ref::fmod<T>;
  t.binary[int(Binary::remainder)] = ref::remainder<T>;
  t.binary[int(Binary::hypot)] = ref::hypot<T>;
  t.binary[int(Binary::logaddexp)] = ref::logaddexp<T>;
  t.binary[int(Binary::zeta)] = ref::zeta<T>;
  t.binary[int(Binary::nextafter)] = ref::nextafter<T>;
  t.binary[int(Binary::floor_divide)] = ref::floor_divide<T>;
  t.unary_grad[int(UnaryGrad::relu)] = ref::relu_grad<T>;
  t.unary_grad[int(UnaryGrad::sigmoid)] = ref::sigmoid_grad<T>;
  t.unary_grad[int(UnaryGrad::tanh)] = ref::tanh_grad<T>;
  t.unary_grad[int(UnaryGrad::gelu)] = ref::gelu_grad<T>;
  t.unary_grad[int(UnaryGrad::softplus)] = ref::softplus_grad<T>;
  t.unary_grad[int(UnaryGrad::silu)] = ref::silu_grad<T>;
  t.leaky_relu = ref::leaky_relu<T>;
  t.leaky_relu_grad = ref::leaky_relu_grad<T>;
  t.elu = ref::elu<T>;
  t.elu_grad = ref::elu_grad<T>;
  t.clamp = ref::clamp<T>;
  t.dropout = ref::dropout<T>;
  t.sum_rows = ref::sum_rows<T>;
  t.sumsq_rows = ref::sumsq_rows<T>;
  t.max_rows = ref::max_rows<T>;
  t.min_rows = ref::min_rows<T>;
  t.softmax_rows = ref::softmax_rows<T>;
  t.log_softmax_rows = ref::log_softmax_rows<T>;
  t.spmm = ref::spmm<T>;
  t.max_pool2x2 = ref::max_pool2x2<T>;
  if constexpr (std::is_same_v<T, float>) t.adam = ref::adam<float, AdamStep>;
  else t.adam = nullptr;
}

}  // namespace

void fill_scalar(KernelTable<float>& table) { fill(table); }
void fill_scalar(KernelTable<double>& table) { fill(table); }

}  // namespace kiln::cpu
