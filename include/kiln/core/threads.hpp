// One thread pool, one knob. kiln's parallel loops and the BLAS library share
// the same OpenMP worker threads, so they never oversubscribe the cores.
//
//   kiln::set_num_threads(2);      // or KILN_NUM_THREADS=2 in the environment
#pragma once

#include <cstdint>
#include <functional>

namespace kiln {

// Sets the number of threads for kiln's loops and for BLAS. n >= 1.
void set_num_threads(int n);
// The current setting (default: KILN_NUM_THREADS, else the machine's cores).
int get_num_threads();

// Splits [begin, end) into chunks of at least `grain` indices and runs
// fn(chunk_begin, chunk_end) on them in parallel. Runs serially when the range
// is small, when one thread is set, or when already inside a parallel region.
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& fn);

// Elements per task below which elementwise loops stay serial.
inline constexpr std::int64_t kElementwiseGrain = 32768;

}  // namespace kiln
