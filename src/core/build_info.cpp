#include <string>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/core/cuda.hpp"
#include "kiln/core/error.hpp"
#include "kiln/version.hpp"
#include "src/ops/blas.hpp"

namespace kiln {

namespace {

// "not built", "0 GPU(s) visible", or "1 GPU(s) visible: NVIDIA H200".
std::string cuda_summary() {
  if (!cuda::is_built()) return "not built";
  const int n = cuda::device_count();
  std::string out = std::to_string(n) + " GPU(s) visible";
  for (int d = 0; d < n; ++d) {
    out += d == 0 ? ": " : ", ";
    try {
      out += cuda::device_properties(d).name;
    } catch (const Error&) {  // a line of facts must not fail; the GPU's own use will report the problem
      out += "cuda:" + std::to_string(d) + " (properties unreadable)";
    }
  }
  return out;
}

}  // namespace

const char* build_info() {
  static const std::string info = "kiln " + std::to_string(kVersionMajor) + "." + std::to_string(kVersionMinor) +
                                  "." + std::to_string(kVersionPatch) + " (BLAS: " + detail::blas_backend() +
                                  ", CPU kernels: " + cpu::isa_name(cpu::active_isa()) +
                                  ", CUDA: " + cuda_summary() + ")";
  return info.c_str();
}

}  // namespace kiln
