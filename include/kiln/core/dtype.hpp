// Element types and the dispatch from a run-time dtype to a C++ type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "kiln/core/error.hpp"

namespace kiln {

// q4_0 is a block format: each block of 32 consecutive elements of a row packs
// into one kiln::quant::BlockQ4_0 (a float scale + 16 bytes of 4-bit values).
// It has no per-element C++ type, so visit_dtype refuses it.
enum class DType : std::uint8_t { float32, float64, int64, int32, uint8, int8, q4_0 };

inline constexpr DType kFloat32 = DType::float32;
inline constexpr DType kFloat64 = DType::float64;
inline constexpr DType kInt64 = DType::int64;
inline constexpr DType kInt32 = DType::int32;
inline constexpr DType kUInt8 = DType::uint8;
inline constexpr DType kInt8 = DType::int8;
inline constexpr DType kQ4_0 = DType::q4_0;

// The traits table: one row per dtype.
// itemsize is the bytes of one block of block_elems elements (1 for plain types).
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t itemsize;
  bool is_floating;
  std::int64_t block_elems = 1;
};

inline constexpr DTypeInfo kDTypeTable[] = {
    {DType::float32, "float32", 4, true},
    {DType::float64, "float64", 8, true},
    {DType::int64, "int64", 8, false},
    {DType::int32, "int32", 4, false},
    {DType::uint8, "uint8", 1, false},
    {DType::int8, "int8", 1, false},
    {DType::q4_0, "q4_0", 20, false, 32},
};

constexpr const DTypeInfo& dtype_info(DType t) { return kDTypeTable[static_cast<int>(t)]; }
constexpr std::size_t itemsize(DType t) { return dtype_info(t).itemsize; }
constexpr std::string_view dtype_name(DType t) { return dtype_info(t).name; }
constexpr bool is_floating(DType t) { return dtype_info(t).is_floating; }
constexpr std::int64_t block_elems(DType t) { return dtype_info(t).block_elems; }
constexpr bool is_block_format(DType t) { return block_elems(t) > 1; }
// Bytes that numel elements occupy (numel is a whole number of blocks for block formats).
constexpr std::size_t storage_bytes(DType t, std::int64_t numel) {
  return static_cast<std::size_t>(numel / block_elems(t)) * itemsize(t);
}

inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

// The dtype that corresponds to a C++ type.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::float64; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::int64; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::int32; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::uint8; };
template <> struct dtype_of<std::int8_t> { static constexpr DType value = DType::int8; };
template <class T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

// Calls fn.template operator()<T>() with T the C++ type of `t`:
//   visit_dtype(x.dtype(), "sum", [&]<class T>() { ... });
template <class Fn>
decltype(auto) visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::float32: return fn.template operator()<float>();
    case DType::float64: return fn.template operator()<double>();
    case DType::int64: return fn.template operator()<std::int64_t>();
    case DType::int32: return fn.template operator()<std::int32_t>();
    case DType::uint8: return fn.template operator()<std::uint8_t>();
    case DType::int8: return fn.template operator()<std::int8_t>();
    case DType::q4_0: break;
  }
  throw Error(detail::concat("this operation needs elements of a plain type, but the tensor is ", t,
                             ", a packed quantized format; convert it with kiln::quant::dequantize first"));
}

// Same, for operations defined on floating types only.
template <class Fn>
decltype(auto) visit_floating(DType t, std::string_view op, Fn&& fn) {
  switch (t) {
    case DType::float32: return fn.template operator()<float>();
    case DType::float64: return fn.template operator()<double>();
    default:
      throw Error(detail::concat(op, ": expected a floating dtype (float32 or float64) but got ", t,
                                 "; convert with .to(kiln::kFloat32)"));
  }
}

}  // namespace kiln
