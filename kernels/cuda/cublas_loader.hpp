// cuBLAS and cuBLASLt, opened on first use instead of linked.
//
// The two libraries are large (cuBLASLt alone is about 500 MB): linking them
// makes every process map and relocate them at start-up, which costs ~150 MB of
// resident memory even in a program that never touches a GPU. Here they are
// opened with dlopen the first time a GPU matrix product runs, and the handful of
// entry points kiln calls are looked up into typed pointers.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

namespace kiln::cuda_kernels {

struct CublasApi {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasSgemm_v2) sgemm;
  decltype(&cublasDgemm_v2) dgemm;
  decltype(&cublasGetStatusName) status_name;
  decltype(&cublasGetStatusString) status_string;
};

struct CublasLtApi {
  decltype(&cublasLtCreate) create;
  decltype(&cublasLtMatmul) matmul;
  decltype(&cublasLtMatmulAlgoGetHeuristic) algo_get_heuristic;
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set_attribute;
  decltype(&cublasLtMatmulPreferenceCreate) preference_create;
  decltype(&cublasLtMatmulPreferenceDestroy) preference_destroy;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
};

// cuBLAS, loaded once; a kiln::Error saying what to install when it cannot be.
const CublasApi& cublas();
// cuBLASLt, loaded once; nullptr when it cannot be (callers have a fallback).
const CublasLtApi* cublas_lt();

}  // namespace kiln::cuda_kernels
