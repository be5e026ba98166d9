// Half of the safetensors interchange test (the other half is safetensors_interop.py,
// which uses the reference Python implementation):
//   safetensors_interop_tool write PATH   writes the known tensors below
//   safetensors_interop_tool check PATH   checks that PATH holds exactly those tensors
#include <cstring>
#include <iostream>

#include "kiln/kiln.hpp"

namespace {

// The shared expectation, mirrored in safetensors_interop.py.
kiln::io::TensorMap expected() {
  using namespace kiln;
  return {{"a", (arange(0.0, 12.0, 1.0) * 0.5 - 1.0).reshape({3, 4})},
          {"b", tensor<double>({1.5, -2.25, 1e-300})},
          {"c", tensor<std::int64_t>({1, -1, std::int64_t(1) << 40})},
          {"d", tensor<std::int32_t>({{7, -8}, {9, 2147483647}})},
          {"e", tensor<std::uint8_t>({0, 128, 255})}};
}

bool same(const kiln::Tensor& a, const kiln::Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.contiguous().raw_data_ptr(), b.contiguous().raw_data_ptr(),
                     a.numel() * kiln::itemsize(a.dtype())) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: safetensors_interop_tool write|check PATH\n";
    return 2;
  }
  const std::string mode = argv[1], path = argv[2];
  try {
    if (mode == "write") {
      kiln::io::save(path, expected(), {{"source", "kiln"}});
      return 0;
    }
    const kiln::io::Loaded f = kiln::io::load(path);
    int failed = 0;
    for (const auto& [name, t] : expected()) {
      const bool ok = f.tensors.count(name) && same(f.tensors.at(name), t);
      if (!ok) std::cerr << "mismatch in tensor '" << name << "'\n";
      failed += !ok;
    }
    if (f.tensors.size() != expected().size()) ++failed;
    if (!f.metadata.count("source") || f.metadata.at("source") != "python") ++failed;
    return failed ? 1 : 0;
  } catch (const kiln::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
