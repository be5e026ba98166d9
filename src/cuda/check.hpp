// Internal: every CUDA runtime and cuBLAS call is checked; a failure is a
// kiln::Error naming the call, the error and where it happened.
#pragma once

#include <cuda_runtime.h>

#include "kiln/core/error.hpp"

#define KILN_CUDA_CHECK(call)                                                                        \
  do {                                                                                               \
    const cudaError_t kiln_status_ = (call);                                                         \
    KILN_CHECK(kiln_status_ == cudaSuccess, "CUDA error in ", #call, ": ",                           \
               cudaGetErrorName(kiln_status_), " (", cudaGetErrorString(kiln_status_), ") at ",      \
               __FILE__, ":", __LINE__);                                                             \
  } while (0)

// After a kernel launch: reports a bad launch configuration at once.
#define KILN_CUDA_CHECK_LAUNCH() KILN_CUDA_CHECK(cudaGetLastError())
