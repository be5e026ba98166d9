// Library version and build facts.
#pragma once

namespace kiln {

inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;

// One line describing this build: version, BLAS backend, CPU instruction set in use,
// and the CUDA backend: "not built", or the GPUs visible, by name.
const char* build_info();

}  // namespace kiln
