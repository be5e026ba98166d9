// The CUDA entry points of a build without the CUDA backend (KILN_CUDA=OFF or no
// toolkit found): nothing is visible, and asking for GPU memory says why.
#include "kernels/cuda/cuda_kernels.hpp"
#include "kiln/core/cuda.hpp"
#include "kiln/core/error.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln {

namespace {
[[noreturn]] void no_backend(const char* what) {
  throw Error(detail::concat(what, ": this build of kiln has no CUDA backend; rebuild with -DKILN_CUDA=ON on a "
                                   "machine with the CUDA toolkit, or keep tensors on Device::cpu()"));
}
}  // namespace

namespace cuda {
bool is_built() { return false; }
int device_count() { return 0; }
bool is_available() { return false; }
DeviceProperties device_properties(int) { no_backend("reading a GPU's properties"); }
CUstream_st* current_stream(int) { no_backend("asking for a GPU stream"); }
void synchronize() {}
MemoryStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
}  // namespace cuda

namespace detail {
void* cuda_allocate(std::size_t, int) { no_backend("allocating on a GPU"); }
void cuda_release(void*, std::size_t, int) {}
void cuda_copy(void*, Device, const void*, Device, std::size_t) { no_backend("copying to or from a GPU"); }
void cuda_set_device(int) { no_backend("selecting a GPU"); }
cuda_kernels::ReportSlot cuda_report_slot(int, ReportMessage) { no_backend("running a CUDA kernel"); }
void cuda_throw_reports(int) {}
std::string cublas_load_problem() { return "this build of kiln has no CUDA backend"; }
}  // namespace detail

namespace cuda_kernels {
const Table& table() { no_backend("running a CUDA kernel"); }
}  // namespace cuda_kernels

}  // namespace kiln
