// Where a tensor's bytes live: Device::cpu() or Device::cuda(i). Ops need their
// inputs on one device (mixing is a clear error, never a silent copy);
// t.to(device) copies. kiln/core/cuda.hpp says whether a GPU is there.
#pragma once

#include <charconv>
#include <ostream>
#include <string_view>

#include "kiln/core/error.hpp"

namespace kiln {

enum class DeviceType { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  // "cpu", "cuda" (GPU 0) or "cuda:N", as command lines spell it.
  static Device parse(std::string_view text) {
    if (text == "cpu") return cpu();
    if (text == "cuda") return cuda(0);
    int i = -1;
    if (text.substr(0, 5) == "cuda:") {
      const auto* end = text.data() + text.size();
      const auto [p, ec] = std::from_chars(text.data() + 5, end, i);
      if (ec == std::errc() && p == end && i >= 0) return cuda(i);
    }
    throw Error(detail::concat("device '", text, "' is not one of cpu, cuda, cuda:N"));
  }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  friend bool operator==(const Device&, const Device&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) {
  if (d.is_cpu()) return os << "cpu";
  return os << "cuda:" << d.index;
}

}  // namespace kiln
