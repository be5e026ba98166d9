# Finds kiln's dependencies and prints one line per optional part:
# found and used, or missing and disabled.

function(kiln_report part status)
  message(STATUS "kiln: ${part} ${status}")
endfunction()

# OpenMP: one thread pool, shared with OpenBLAS's OpenMP build.
find_package(OpenMP REQUIRED COMPONENTS CXX)
kiln_report("OpenMP .............." "found (${OpenMP_CXX_VERSION}), used for the thread pool")

# zlib (gzip IDX files) and nlohmann-json (safetensors headers) are required.
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 CONFIG REQUIRED)

# BLAS: OpenBLAS (the OpenMP build preferred), else Eigen.
set(KILN_BLAS_TARGET "")
set(KILN_BLAS_DEFINE "")
set(KILN_BLAS_USED "")
if(KILN_BLAS STREQUAL "OpenBLAS")
  find_path(KILN_OPENBLAS_INCLUDE cblas.h
    PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/openblas
    PATH_SUFFIXES openblas NO_DEFAULT_PATH)
  find_path(KILN_OPENBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas)
  find_library(KILN_OPENBLAS_LIBRARY NAMES openblas
    PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
  find_library(KILN_OPENBLAS_LIBRARY NAMES openblas)
  if(KILN_OPENBLAS_INCLUDE AND KILN_OPENBLAS_LIBRARY)
    add_library(kiln_openblas INTERFACE)
    target_include_directories(kiln_openblas INTERFACE ${KILN_OPENBLAS_INCLUDE})
    target_link_libraries(kiln_openblas INTERFACE ${KILN_OPENBLAS_LIBRARY})
    install(TARGETS kiln_openblas EXPORT kilnTargets)
    set(KILN_BLAS_TARGET kiln_openblas)
    set(KILN_BLAS_DEFINE KILN_USE_OPENBLAS)
    set(KILN_BLAS_USED "OpenBLAS")
    kiln_report("BLAS ................" "OpenBLAS found (${KILN_OPENBLAS_LIBRARY}), used for GEMM")
  else()
    kiln_report("BLAS ................" "OpenBLAS missing (apt-get install libopenblas-openmp-dev); trying Eigen")
  endif()
endif()
if(NOT KILN_BLAS_USED)
  find_package(Eigen3 3.3 CONFIG QUIET)
  if(NOT Eigen3_FOUND)
    message(FATAL_ERROR "kiln: neither OpenBLAS nor Eigen was found; run scripts/install-deps.sh "
                        "or apt-get install libopenblas-openmp-dev libeigen3-dev")
  endif()
  add_library(kiln_eigen INTERFACE)
  target_link_libraries(kiln_eigen INTERFACE Eigen3::Eigen)
  install(TARGETS kiln_eigen EXPORT kilnTargets)
  set(KILN_BLAS_TARGET kiln_eigen)
  set(KILN_BLAS_USED "Eigen")
  kiln_report("BLAS ................" "Eigen ${Eigen3_VERSION} found, used for GEMM")
endif()

# CUDA: AUTO builds the GPU backend when a CUDA compiler (nvcc) is found; ON insists.
# The default architectures cover Turing, Ampere and Hopper (sm_90 plus its PTX,
# which newer GPUs compile at load time). Override with -DCMAKE_CUDA_ARCHITECTURES=...
# or CMake's CUDAARCHS environment variable.
set(KILN_WITH_CUDA OFF)
if(KILN_CUDA STREQUAL "OFF")
  kiln_report("CUDA ................" "disabled (KILN_CUDA=OFF)")
else()
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
      set(CMAKE_CUDA_ARCHITECTURES "75-real;80-real;90")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(KILN_WITH_CUDA ON)
    kiln_report("CUDA ................" "toolkit ${CUDAToolkit_VERSION} found, backend built for ${CMAKE_CUDA_ARCHITECTURES}")
  elseif(KILN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "kiln: KILN_CUDA=ON but no CUDA compiler was found (is nvcc on PATH?)")
  else()
    kiln_report("CUDA ................" "no CUDA compiler found, backend disabled (CPU only)")
  endif()
endif()
