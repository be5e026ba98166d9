// Element types and the dispatch from a run-time dtype to a C++ type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "kiln/core/error.hpp"

namespace kiln {

enum class DType : std::uint8_t { float32, float64, int64, int32, uint8 };

inline constexpr DType kFloat32 = DType::float32;
inline constexpr DType kFloat64 = DType::float64;
inline constexpr DType kInt64 = DType::int64;
inline constexpr DType kInt32 = DType::int32;
inline constexpr DType kUInt8 = DType::uint8;

// The traits table: one row per dtype.
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t itemsize;
  bool is_floating;
};

inline constexpr DTypeInfo kDTypeTable[] = {
    {DType::float32, "float32", 4, true},
    {DType::float64, "float64", 8, true},
    {DType::int64, "int64", 8, false},
    {DType::int32, "int32", 4, false},
    {DType::uint8, "uint8", 1, false},
};

constexpr const DTypeInfo& dtype_info(DType t) { return kDTypeTable[static_cast<int>(t)]; }
constexpr std::size_t itemsize(DType t) { return dtype_info(t).itemsize; }
constexpr std::string_view dtype_name(DType t) { return dtype_info(t).name; }
constexpr bool is_floating(DType t) { return dtype_info(t).is_floating; }

inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

// The dtype that corresponds to a C++ type.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::float64; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::int64; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::int32; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::uint8; };
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
  }
  throw Error("internal: unknown dtype");
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
