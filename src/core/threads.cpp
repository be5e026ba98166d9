// One pool: kiln's loops run on OpenMP, and OpenBLAS is the OpenMP build, so
// both use the same worker threads and one setting governs them.
#include "kiln/core/threads.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "kiln/core/error.hpp"
#include "src/core/blas_threads.hpp"

namespace kiln {
namespace {

int initial_threads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    KILN_CHECK(end && *end == '\0' && n >= 1 && n <= 4096, "KILN_NUM_THREADS='", env,
               "' is not a thread count; set a whole number >= 1 or unset it");
    return static_cast<int>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int& thread_setting() {
  static int n = [] {
    const int t = initial_threads();
    omp_set_num_threads(t);
    detail::set_blas_threads(t);
    return t;
  }();
  return n;
}

}  // namespace

void set_num_threads(int n) {
  KILN_CHECK(n >= 1, "set_num_threads: got ", n, "; the thread count must be at least 1");
  thread_setting() = n;
  omp_set_num_threads(n);
  detail::set_blas_threads(n);
}

int get_num_threads() { return thread_setting(); }

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  const std::int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  const int threads = get_num_threads();
  if (threads == 1 || n <= grain || omp_in_parallel()) {
    fn(begin, end);
    return;
  }
  const std::int64_t tasks = std::min<std::int64_t>(threads, (n + grain - 1) / grain);
  const std::int64_t chunk = (n + tasks - 1) / tasks;
  // The first exception thrown by any chunk is rethrown here, after the region.
  std::exception_ptr error;
#pragma omp parallel for num_threads(static_cast<int>(tasks)) schedule(static, 1)
  for (std::int64_t t = 0; t < tasks; ++t) {
    const std::int64_t lo = begin + t * chunk;
    const std::int64_t hi = std::min(end, lo + chunk);
    if (lo >= hi) continue;
    try {
      fn(lo, hi);
    } catch (...) {
#pragma omp critical(kiln_parallel_for_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace kiln
