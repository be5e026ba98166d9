// Opens cuBLAS / cuBLASLt with dlopen on first use (see cublas_loader.hpp).
// KILN_CUBLAS_SONAME / KILN_CUBLASLT_SONAME name the libraries of the toolkit kiln
// was built with (e.g. libcublas.so.13), KILN_CUDA_LIBRARY_DIR the folder they
// were found in: the name is tried first (LD_LIBRARY_PATH, the loader's cache),
// then that folder.
#include "kernels/cuda/cublas_loader.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "kiln/core/error.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln::cuda_kernels {

namespace {

struct Library {
  void* handle = nullptr;
  std::string error;  // why it could not be opened, or which symbol was missing
};

Library open_library(const char* soname) {
  Library lib;
  for (const std::string& path : {std::string(soname), std::string(KILN_CUDA_LIBRARY_DIR) + "/" + soname}) {
    lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib.handle) {
      lib.error.clear();  // an earlier attempt's failure no longer matters
      return lib;
    }
    const char* why = dlerror();
    lib.error += (lib.error.empty() ? "" : "; ") + std::string(why ? why : path);
  }
  return lib;
}

// Looks `name` up into `fn`; records the first missing name in lib.error.
template <class Fn>
void bind(Library& lib, Fn& fn, const char* name) {
  fn = reinterpret_cast<Fn>(dlsym(lib.handle, name));
  if (!fn && lib.error.empty()) lib.error = std::string("the library has no symbol ") + name;
}

struct Loaded {
  Library blas, lt;
  CublasApi blas_api{};
  CublasLtApi lt_api{};
};

const Loaded& loaded() {
  static const Loaded* l = [] {
    auto* r = new Loaded;  // kept for the process, like the libraries themselves
    r->blas = open_library(KILN_CUBLAS_SONAME);
    if (r->blas.handle) {
      CublasApi& a = r->blas_api;
      bind(r->blas, a.create, "cublasCreate_v2");
      bind(r->blas, a.sgemm, "cublasSgemm_v2");
      bind(r->blas, a.dgemm, "cublasDgemm_v2");
      bind(r->blas, a.status_name, "cublasGetStatusName");
      bind(r->blas, a.status_string, "cublasGetStatusString");
    }
    r->lt = open_library(KILN_CUBLASLT_SONAME);
    if (r->lt.handle) {
      CublasLtApi& a = r->lt_api;
      bind(r->lt, a.create, "cublasLtCreate");
      bind(r->lt, a.matmul, "cublasLtMatmul");
      bind(r->lt, a.algo_get_heuristic, "cublasLtMatmulAlgoGetHeuristic");
      bind(r->lt, a.desc_create, "cublasLtMatmulDescCreate");
      bind(r->lt, a.desc_destroy, "cublasLtMatmulDescDestroy");
      bind(r->lt, a.desc_set_attribute, "cublasLtMatmulDescSetAttribute");
      bind(r->lt, a.preference_create, "cublasLtMatmulPreferenceCreate");
      bind(r->lt, a.preference_destroy, "cublasLtMatmulPreferenceDestroy");
      bind(r->lt, a.layout_create, "cublasLtMatrixLayoutCreate");
      bind(r->lt, a.layout_destroy, "cublasLtMatrixLayoutDestroy");
    }
    return r;
  }();
  return *l;
}

}  // namespace

const CublasApi& cublas() {
  const Loaded& l = loaded();
  KILN_CHECK(l.blas.handle && l.blas.error.empty(), "matmul on cuda: cannot load cuBLAS (", KILN_CUBLAS_SONAME,
             "): ", l.blas.error, "; install the CUDA toolkit's cuBLAS or add its folder to LD_LIBRARY_PATH");
  return l.blas_api;
}

const CublasLtApi* cublas_lt() {
  const Loaded& l = loaded();
  return l.lt.handle && l.lt.error.empty() ? &l.lt_api : nullptr;
}

}  // namespace kiln::cuda_kernels

namespace kiln::detail {

std::string cublas_load_problem() {
  const auto& l = cuda_kernels::loaded();
  std::string problem;
  if (!l.blas.handle || !l.blas.error.empty()) problem += std::string(KILN_CUBLAS_SONAME) + ": " + l.blas.error;
  if (!l.lt.handle || !l.lt.error.empty())
    problem += (problem.empty() ? "" : "; ") + std::string(KILN_CUBLASLT_SONAME) + ": " + l.lt.error;
  return problem;
}

}  // namespace kiln::detail
