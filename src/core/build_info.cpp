#include <string>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/core/cuda.hpp"
#include "kiln/version.hpp"
#include "src/ops/blas.hpp"

namespace kiln {

const char* build_info() {
  static const std::string info = "kiln " + std::to_string(kVersionMajor) + "." + std::to_string(kVersionMinor) +
                                  "." + std::to_string(kVersionPatch) + " (BLAS: " + detail::blas_backend() +
                                  ", CPU kernels: " + cpu::isa_name(cpu::active_isa()) + ", CUDA: " +
                                  (cuda::is_built() ? std::to_string(cuda::device_count()) + " GPU(s) visible"
                                                    : std::string("not built")) +
                                  ")";
  return info.c_str();
}

}  // namespace kiln
