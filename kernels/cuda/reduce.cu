// Reduction kernels. Rows are reduced by one warp each (8 rows per block) when
// they are short, by a whole block when they are long; a reduction over a middle
// axis gives each output element its own thread, reading coalesced along `inner`.
// When there are too few outputs to fill the GPU, the summed axis is cut into
// slices (index_math.hpp's sum_split) and a second pass adds their partial sums in
// slice order, so results stay independent of thread timing.
// Floating sums accumulate in double, like the scalar reference; integer sums in int64,
// wrapping around beyond its range (wrapping.hpp) as the CPU's do. The final store
// divides by a divisor (1 for a sum), so a mean is one pass too.
// Running sums, products, extremes and log-sum-exps walk each line in order, a thread
// per line, or split into slices the same way (index_math.hpp's scan_split) when the
// lines are few (every scan_combine.hpp step is associative).
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/scan_combine.hpp"
#include "kernels/cuda/softmax_slices.cuh"
#include "kernels/cuda/wrapping.hpp"

namespace kiln::cuda_kernels {

namespace {

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>;

// out[row] = sum of a contiguous row of length r, one warp per row.
template <class T>
__global__ void sum_rows_warp(std::int64_t rows, std::int64_t r, const T* x, T* out, T divisor) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; row < rows;
       row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    Acc<T> s = 0;
    for (std::int64_t k = lane; k < r; k += 32) s = wrapping_add(s, static_cast<Acc<T>>(x[row * r + k]));
    s = warp_sum(s);
    if (lane == 0) out[row] = static_cast<T>(s) / divisor;
  }
}

// The sum of one value per thread of a kThreads block, valid in thread 0. A caller
// that calls it again must __syncthreads() first (the partials are reused).
template <class A>
__device__ A block_total(A s) {
  __shared__ A partial[kThreads / 32];
  s = warp_sum(s);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    s = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : A(0);
    s = warp_sum(s);
  }
  return s;
}

// out[row] = sum of a long contiguous row, one block of kThreads per row.
template <class T>
__global__ void sum_rows_block(std::int64_t rows, std::int64_t r, const T* x, T* out, T divisor) {
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    Acc<T> s = 0;
    for (std::int64_t k = threadIdx.x; k < r; k += blockDim.x)
      s = wrapping_add(s, static_cast<Acc<T>>(x[row * r + k]));
    s = block_total(s);
    if (threadIdx.x == 0) out[row] = static_cast<T>(s) / divisor;
    __syncthreads();
  }
}

// out[o, i] = sum_k x[o, k, i], one thread per output element.
template <class T>
__global__ void sum_middle(std::int64_t outer, std::int64_t r, std::int64_t inner, const T* x, T* out, T divisor) {
  for (std::int64_t e = global_index(); e < outer * inner; e += grid_stride()) {
    const std::int64_t o = e / inner, i = e % inner;
    const T* base = x + o * r * inner + i;
    Acc<T> s = 0;
    for (std::int64_t k = 0; k < r; ++k) s = wrapping_add(s, static_cast<Acc<T>>(base[k * inner]));
    out[e] = static_cast<T>(s) / divisor;
  }
}

// Pass 1 for rows cut into slices: block (row = blockIdx.x, slice = blockIdx.y) sums its slice.
template <class T>
__global__ void sum_row_slices(std::int64_t r, std::int64_t per_part, const T* x, Acc<T>* partial) {
  const std::int64_t row = blockIdx.x;
  std::int64_t begin, end;
  slice_bounds(r, per_part, blockIdx.y, begin, end);
  Acc<T> s = 0;
  for (std::int64_t k = begin + threadIdx.x; k < end; k += blockDim.x)
    s = wrapping_add(s, static_cast<Acc<T>>(x[row * r + k]));
  s = block_total(s);
  if (threadIdx.x == 0) partial[static_cast<std::int64_t>(blockIdx.y) * gridDim.x + row] = s;
}

// Pass 1 over a middle axis cut into slices: one thread per (output e, slice p),
// consecutive threads on consecutive outputs (coalesced reads along `inner`).
template <class T>
__global__ void sum_middle_slices(std::int64_t outer, std::int64_t r, std::int64_t inner, std::int64_t parts,
                                  std::int64_t per_part, const T* x, Acc<T>* partial) {
  const std::int64_t outputs = outer * inner;
  for (std::int64_t t = global_index(); t < outputs * parts; t += grid_stride()) {
    const std::int64_t e = t % outputs, p = t / outputs;
    const std::int64_t o = e / inner, i = e % inner;
    std::int64_t begin, end;
    slice_bounds(r, per_part, p, begin, end);
    const T* base = x + o * r * inner + i;
    Acc<T> s = 0;
    for (std::int64_t k = begin; k < end; ++k) s = wrapping_add(s, static_cast<Acc<T>>(base[k * inner]));
    partial[t] = s;  // t = p * outputs + e
  }
}

// Pass 2: each output adds its slices' partial sums in slice order.
template <class T>
__global__ void sum_partials(std::int64_t outputs, std::int64_t parts, const Acc<T>* partial, T* out, T divisor) {
  for (std::int64_t e = global_index(); e < outputs; e += grid_stride()) {
    Acc<T> s = 0;
    for (std::int64_t p = 0; p < parts; ++p) s = wrapping_add(s, partial[p * outputs + e]);
    out[e] = static_cast<T>(s) / divisor;
  }
}

unsigned row_blocks(std::int64_t rows) {
  const std::int64_t b = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 4 ? 65535 * 4 : b));
}

// The better of two (value, index) candidates: a NaN beats any number, then the
// larger (smaller) value, then the smaller index; so the first NaN, else the first extreme.
template <class T>
__device__ bool prefer(T v, std::int64_t i, T best, std::int64_t best_i, bool minimum) {
  const bool nv = is_nan(v), nb = is_nan(best);
  if (nv || nb) return nv && (!nb || i < best_i);
  if (v == best) return i < best_i;
  return minimum ? v < best : v > best;
}

// Every lane's (best, best_i) becomes the best of its warp's.
template <class T>
__device__ void warp_best(T& best, std::int64_t& best_i, bool minimum) {
  for (int s = 16; s > 0; s >>= 1) {
    using Wide = std::conditional_t<(sizeof(T) < 4), int, T>;  // shuffles move 32 or 64 bits
    const T v = static_cast<T>(__shfl_xor_sync(0xffffffffu, static_cast<Wide>(best), s));
    const std::int64_t i = __shfl_xor_sync(0xffffffffu, best_i, s);
    if (prefer(v, i, best, best_i, minimum)) best = v, best_i = i;
  }
}

template <class T>
__global__ void extreme_rows_warp(bool minimum, std::int64_t rows, std::int64_t len, const T* x, T* y,
                                  std::int64_t* index) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; row < rows;
       row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* in = x + row * len;
    T best = in[0];
    std::int64_t best_i = 0;
    for (std::int64_t j = lane; j < len; j += 32)
      if (prefer(in[j], j, best, best_i, minimum)) best = in[j], best_i = j;
    warp_best(best, best_i, minimum);
    if (lane == 0) {
      y[row] = best;
      if (index) index[row] = best_i;
    }
  }
}

// Pass 1 for rows cut into slices: block (row = blockIdx.x, slice = blockIdx.y) finds
// its slice's best position, stored at partial[slice * rows + row].
template <class T>
__global__ void extreme_row_slices(bool minimum, std::int64_t len, std::int64_t per_part, const T* x,
                                   std::int64_t* partial) {
  __shared__ std::int64_t warp_pick[kThreads / 32];
  const std::int64_t row = blockIdx.x;
  const T* in = x + row * len;
  std::int64_t begin, end;
  slice_bounds(len, per_part, blockIdx.y, begin, end);
  T best = in[begin];
  std::int64_t best_i = begin;
  for (std::int64_t j = begin + threadIdx.x; j < end; j += blockDim.x)
    if (prefer(in[j], j, best, best_i, minimum)) best = in[j], best_i = j;
  warp_best(best, best_i, minimum);
  if ((threadIdx.x & 31) == 0) warp_pick[threadIdx.x / 32] = best_i;
  __syncthreads();
  if (threadIdx.x < 32) {
    best_i = warp_pick[threadIdx.x < blockDim.x / 32 ? threadIdx.x : 0];
    best = in[best_i];
    warp_best(best, best_i, minimum);
    if (threadIdx.x == 0) partial[static_cast<std::int64_t>(blockIdx.y) * gridDim.x + row] = best_i;
  }
}

// Pass 2: a thread per row keeps the best of its slices' picks.
template <class T>
__global__ void extreme_partials(bool minimum, std::int64_t rows, std::int64_t len, std::int64_t parts,
                                 const std::int64_t* partial, const T* x, T* y, std::int64_t* index) {
  for (std::int64_t row = global_index(); row < rows; row += grid_stride()) {
    const T* in = x + row * len;
    std::int64_t best_i = partial[row];
    for (std::int64_t p = 1; p < parts; ++p) {
      const std::int64_t i = partial[p * rows + row];
      if (prefer(in[i], i, in[best_i], best_i, minimum)) best_i = i;
    }
    y[row] = in[best_i];
    if (index) index[row] = best_i;
  }
}

// softmax / log_softmax of each row, one warp per row (max, then the sum of
// exponentials in double, then the outputs), as the scalar reference computes them.
template <class T>
__global__ void softmax_rows_warp(bool log, std::int64_t rows, std::int64_t len, const T* x, T* y) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; row < rows;
       row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* in = x + row * len;
    T* out = y + row * len;
    T m;
    double s;
    row_max_sum_exp(in, len, lane, m, s);
    if (log) {
      const T log_sum = static_cast<T>(::log(s));  // (x - m) - log_sum, as the CPU
      for (std::int64_t j = lane; j < len; j += 32) out[j] = (in[j] - m) - log_sum;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (std::int64_t j = lane; j < len; j += 32) out[j] = dexp(in[j] - m) * inv;
    }
  }
}

// Whether (a, ia) ranks before (b, ib) in a top-k: NaN above every number, then the
// larger (smaller) value, then the lower position. The CPU's topk ranks the same way.
template <class T>
__device__ bool ranks_before(T a, std::int64_t ia, T b, std::int64_t ib, bool largest) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na || nb) {
    if (na && nb) return ia < ib;
    return largest ? na : nb;
  }
  if (a == b) return ia < ib;
  return largest ? a > b : a < b;
}

// A bitonic sort of a row's positions by ranks_before, padded to a power of two with
// -1 (ranked after every position). The order is total (ties go to the lower
// position), so the result is the CPU's stable sort whatever the thread schedule.
template <class T>
__device__ bool sorts_before(const T* row, std::int64_t a, std::int64_t b, bool largest) {
  if (a < 0) return false;
  if (b < 0) return true;
  return ranks_before(row[a], a, row[b], b, largest);
}

// One warp per row, k passes over it: in pass q each lane finds the best of its
// entries (j = lane, lane + 32, ...) that rank after pick q - 1, and the warp keeps the
// best of its lanes' candidates (-1, none, ranks after every position).
template <class T>
__global__ void topk_rows_warp(bool largest, std::int64_t rows, std::int64_t len, std::int64_t k, const T* x,
                               std::int64_t* index) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
       row < rows; row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* in = x + row * len;
    std::int64_t prev = -1;
    for (std::int64_t q = 0; q < k; ++q) {
      const T prev_value = prev >= 0 ? in[prev] : T(0);
      std::int64_t best = -1;
      for (std::int64_t j = lane; j < len; j += 32) {
        if (prev >= 0 && !ranks_before(prev_value, prev, in[j], j, largest)) continue;
        if (sorts_before(in, j, best, largest)) best = j;
      }
      for (int s = 16; s > 0; s >>= 1) {  // every lane ends with the warp's best
        const std::int64_t other = __shfl_xor_sync(0xffffffffu, best, s);
        if (sorts_before(in, other, best, largest)) best = other;
      }
      if (lane == 0) index[row * k + q] = best;
      prev = best;
    }
  }
}

// The network's steps: stage k (2, 4, ..., run) orders pairs (i, i ^ j) for j = k/2,
// ..., 1, ascending where bit k of i is clear and descending where it is set, so that
// each run of k positions comes out sorted. Positions i and l = i ^ j > i of one row:
template <class T>
__device__ void bitonic_order(const T* row, bool largest, std::int64_t i, std::int64_t k, std::int64_t& a,
                              std::int64_t& b) {
  if ((i & k) == 0 ? sorts_before(row, b, a, largest) : sorts_before(row, a, b, largest)) {
    const std::int64_t held = a;
    a = b;
    b = held;
  }
}

// Each block takes `span` consecutive positions of one row (span divides run, and is
// at most kSortSpan) into shared memory and runs, when k_top is 0, every stage up to
// k = span on them, starting from i < len ? i : -1; otherwise the steps j < span of
// stage k_top, starting from w. The result goes back to w or, when `index` is not
// null (span == run: whole rows), its first len positions to index.
template <class T>
__global__ void sort_span_kernel(bool largest, std::int64_t len, std::int64_t run, std::int64_t span,
                                 std::int64_t chunks, std::int64_t k_top, const T* x, std::int64_t* w,
                                 std::int64_t* index) {
  __shared__ std::int64_t held[kSortSpan];
  for (std::int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const std::int64_t start = c * span, r = start / run, base = start % run;
    const T* row = x + r * len;
    for (std::int64_t q = threadIdx.x; q < span; q += blockDim.x)
      held[q] = k_top != 0 ? w[start + q] : (base + q < len ? base + q : -1);
    __syncthreads();
    for (std::int64_t k = k_top != 0 ? k_top : 2; k <= (k_top != 0 ? k_top : span); k <<= 1) {
      for (std::int64_t j = (k_top != 0 ? span : k) >> 1; j > 0; j >>= 1) {
        for (std::int64_t q = threadIdx.x; q < span; q += blockDim.x)
          if ((q ^ j) > q) bitonic_order(row, largest, base + q, k, held[q], held[q ^ j]);
        __syncthreads();
      }
    }
    for (std::int64_t q = threadIdx.x; q < span; q += blockDim.x) {
      if (!index)
        w[start + q] = held[q];
      else if (q < len)
        index[r * len + q] = held[q];
    }
    __syncthreads();
  }
}

// Step (k, j >= span) over every row of w, a thread per pair: pair p of a row is the
// position i with a 0 put in at bit j, and i | j.
template <class T>
__global__ void sort_pairs_kernel(bool largest, std::int64_t len, std::int64_t run, std::int64_t k,
                                  std::int64_t j, std::int64_t pairs, const T* x, std::int64_t* w) {
  for (std::int64_t t = global_index(); t < pairs; t += grid_stride()) {
    const std::int64_t r = t / (run / 2), p = t % (run / 2);
    const std::int64_t i = ((p & ~(j - 1)) << 1) | (p & (j - 1));
    bitonic_order(x + r * len, largest, i, k, w[r * run + i], w[r * run + (i | j)]);
  }
}

__global__ void sort_copy_out(std::int64_t rows, std::int64_t len, std::int64_t run, const std::int64_t* w,
                              std::int64_t* index) {
  for (std::int64_t e = global_index(); e < rows * len; e += grid_stride())
    index[e] = w[(e / len) * run + e % len];
}

// The lines of a scan over a contiguous (outer, n, inner) tensor: line e is
// (o, i) = (e / inner, e % inner), and its step s (counted from the end when
// `reverse`) sits at start(e) + offset(s). Neighbouring lines are neighbouring
// values when inner > 1, so threads on neighbouring lines read coalesced.
struct ScanLines {
  cpu::Scan op;
  bool reverse;
  std::int64_t n, inner;

  __device__ std::int64_t start(std::int64_t line) const { return (line / inner) * n * inner + line % inner; }
  __device__ std::int64_t offset(std::int64_t step) const { return (reverse ? n - 1 - step : step) * inner; }
  template <class A>
  __device__ A identity() const {
    return scan_identity<A>(op);
  }
  template <class A>
  __device__ A combine(A s, A v) const {
    return scan_combine(op, s, v);
  }
};

// Combines steps [begin, end) of `line` onto s and returns the result. Where `out` is
// not null, each step's running value goes there (an exclusive product stores the
// value before the step).
template <class T>
__device__ Acc<T> scan_steps(const ScanLines& lines, std::int64_t line, std::int64_t begin, std::int64_t end,
                             Acc<T> s, const T* x, T* out) {
  const std::int64_t base = lines.start(line);
  for (std::int64_t step = begin; step < end; ++step) {
    const std::int64_t at = base + lines.offset(step);
    if (out && lines.op == cpu::Scan::exclusive_product) out[at] = static_cast<T>(s);
    s = lines.combine(s, static_cast<Acc<T>>(x[at]));
    if (out && lines.op != cpu::Scan::exclusive_product) out[at] = static_cast<T>(s);
  }
  return s;
}

// A thread per line, in order along it; `totals` (if not null) gets each line's result.
template <class T>
__global__ void scan_whole_lines(ScanLines lines, std::int64_t count, const T* x, T* out, T* totals) {
  for (std::int64_t line = global_index(); line < count; line += grid_stride()) {
    const Acc<T> s = scan_steps(lines, line, 0, lines.n, lines.identity<Acc<T>>(), x, out);
    if (totals) totals[line] = static_cast<T>(s);
  }
}

// Pass 1 of a split scan: thread t = p * count + e combines slice p of line e.
template <class T>
__global__ void scan_slice_totals(ScanLines lines, std::int64_t count, std::int64_t parts,
                                  std::int64_t per_part, const T* x, Acc<T>* partial) {
  for (std::int64_t t = global_index(); t < count * parts; t += grid_stride()) {
    std::int64_t begin, end;
    slice_bounds(lines.n, per_part, t / count, begin, end);
    partial[t] = scan_steps<T>(lines, t % count, begin, end, lines.identity<Acc<T>>(), x, nullptr);
  }
}

// Pass 2: each line replaces its slices' totals, in slice order, with the value
// before each slice; `totals` (if not null) gets the line's result.
template <class T>
__global__ void scan_slice_carries(ScanLines lines, std::int64_t count, std::int64_t parts, Acc<T>* partial,
                                   T* totals) {
  for (std::int64_t e = global_index(); e < count; e += grid_stride()) {
    Acc<T> s = lines.identity<Acc<T>>();
    for (std::int64_t p = 0; p < parts; ++p) {
      const Acc<T> v = partial[p * count + e];
      partial[p * count + e] = s;
      s = lines.combine(s, v);
    }
    if (totals) totals[e] = static_cast<T>(s);
  }
}

// Pass 3: each (line, slice) thread walks its slice again from the value before it.
template <class T>
__global__ void scan_slices(ScanLines lines, std::int64_t count, std::int64_t parts, std::int64_t per_part,
                            const Acc<T>* partial, const T* x, T* out) {
  for (std::int64_t t = global_index(); t < count * parts; t += grid_stride()) {
    std::int64_t begin, end;
    slice_bounds(lines.n, per_part, t / count, begin, end);
    scan_steps(lines, t % count, begin, end, partial[t], x, out);
  }
}

// The scan's running values into `out`, or only each line's result into `totals`.
template <class T>
void scan_lines(const ScanLines& lines, std::int64_t outer, const T* x, T* out, T* totals, void* scratch) {
  const std::int64_t count = outer * lines.inner;
  const ChannelSplit split = scan_split(outer, lines.n, lines.inner);
  if (split.parts == 1) {
    launch_over(count, scan_whole_lines<T>, lines, count, x, out, totals);
    return;
  }
  KILN_ASSERT(scratch != nullptr);
  auto* partial = static_cast<Acc<T>*>(scratch);
  launch_over(count * split.parts, scan_slice_totals<T>, lines, count, split.parts, split.per_part, x,
              partial);
  launch_over(count, scan_slice_carries<T>, lines, count, split.parts, partial, totals);
  if (out)
    launch_over(count * split.parts, scan_slices<T>, lines, count, split.parts, split.per_part,
                static_cast<const Acc<T>*>(partial), x, out);
}

}  // namespace

void sum(Scalar t, std::int64_t outer, std::int64_t r, std::int64_t inner, const void* x, void* out, void* scratch,
         double divisor) {
  if (outer * inner == 0) return;
  const ChannelSplit split = sum_split(outer, r, inner);
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    T* po = static_cast<T*>(out);
    const T d = static_cast<T>(divisor);
    if (split.parts > 1) {
      KILN_ASSERT(scratch != nullptr);
      auto* partial = static_cast<Acc<T>*>(scratch);
      if (inner == 1) {
        launch(sum_row_slices<T>, dim3(static_cast<unsigned>(outer), static_cast<unsigned>(split.parts)),
               kThreads, 0, r, split.per_part, px, partial);
        KILN_CUDA_CHECK_LAUNCH();
      } else {
        launch_over(outer * inner * split.parts, sum_middle_slices<T>, outer, r, inner, split.parts, split.per_part,
                    px, partial);
      }
      launch_over(outer * inner, sum_partials<T>, outer * inner, split.parts, partial, po, d);
      return;
    }
    if (inner == 1 && r > 1024 && outer < 4096) {
      launch(sum_rows_block<T>, static_cast<unsigned>(outer < 65535 ? outer : 65535), kThreads, 0, outer, r,
             px, po, d);
    } else if (inner == 1) {
      launch(sum_rows_warp<T>, row_blocks(outer), kRowsPerBlock * 32, 0, outer, r, px, po, d);
    } else {
      launch(sum_middle<T>, blocks_for(outer * inner), kThreads, 0, outer, r, inner, px, po, d);
    }
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void extreme_rows(Scalar t, bool minimum, std::int64_t rows, std::int64_t len, const void* x, void* y,
                  std::int64_t* index, std::int64_t* scratch) {
  if (rows == 0) return;
  KILN_ASSERT(len >= 1);
  const ChannelSplit split = sum_split(rows, len, 1);
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    if (split.parts > 1) {
      KILN_ASSERT(scratch != nullptr);
      launch(extreme_row_slices<T>, dim3(static_cast<unsigned>(rows), static_cast<unsigned>(split.parts)),
             kThreads, 0, minimum, len, split.per_part, px, scratch);
      KILN_CUDA_CHECK_LAUNCH();
      launch_over(rows, extreme_partials<T>, minimum, rows, len, split.parts,
                  static_cast<const std::int64_t*>(scratch), px, static_cast<T*>(y), index);
      return;
    }
    launch(extreme_rows_warp<T>, row_blocks(rows), kRowsPerBlock * 32, 0, minimum, rows, len, px,
           static_cast<T*>(y), index);
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void softmax_rows(Scalar t, bool log, std::int64_t rows, std::int64_t len, const void* x, void* y,
                  double* scratch) {
  if (rows == 0 || len == 0) return;
  const ChannelSplit split = sum_split(rows, len, 1);
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    if (split.parts > 1) {
      KILN_ASSERT(scratch != nullptr);
      softmax_slices(rows, len, split, static_cast<const T*>(x), scratch);
      launch_over(rows * len, softmax_row_outputs<T>, log, rows, len, scratch, static_cast<const T*>(x),
                  static_cast<T*>(y));
      return;
    }
    launch(softmax_rows_warp<T>, row_blocks(rows), kRowsPerBlock * 32, 0, log, rows, len,
           static_cast<const T*>(x), static_cast<T*>(y));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void topk_rows(Scalar t, bool largest, std::int64_t rows, std::int64_t len, std::int64_t k, const void* x,
               std::int64_t* index) {
  if (rows == 0 || k == 0) return;
  KILN_ASSERT(k <= len);
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    launch(topk_rows_warp<T>, row_blocks(rows), kRowsPerBlock * 32, 0, largest, rows, len, k,
           static_cast<const T*>(x), index);
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void sort_rows(Scalar t, bool largest, std::int64_t rows, std::int64_t len, const void* x, std::int64_t* index,
               std::int64_t* scratch) {
  if (rows == 0 || len == 0) return;
  const std::int64_t run = sort_run_length(len), span = run < kSortSpan ? run : kSortSpan;
  const int threads = static_cast<int>(span / 2 < 32 ? 32 : (span / 2 > kThreads ? kThreads : span / 2));
  const auto grid = [](std::int64_t chunks) {
    return static_cast<unsigned>(chunks < 65535 ? chunks : 65535);
  };
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    if (run == span) {  // whole rows in shared memory, straight into index
      launch(sort_span_kernel<T>, grid(rows), threads, 0, largest, len, run, span, rows, std::int64_t(0), px,
             scratch, index);
      KILN_CUDA_CHECK_LAUNCH();
      return;
    }
    // Longer rows, kSortBlocks at a time through scratch: spans in shared memory, the
    // steps that pair positions a span or more apart one launch each.
    for (std::int64_t r0 = 0; r0 < rows; r0 += kSortBlocks) {
      const std::int64_t g = rows - r0 < kSortBlocks ? rows - r0 : kSortBlocks, chunks = g * run / span;
      const T* gx = px + r0 * len;
      launch(sort_span_kernel<T>, grid(chunks), threads, 0, largest, len, run, span, chunks, std::int64_t(0),
             gx, scratch, static_cast<std::int64_t*>(nullptr));
      KILN_CUDA_CHECK_LAUNCH();
      for (std::int64_t k = 2 * span; k <= run; k <<= 1) {
        for (std::int64_t j = k >> 1; j >= span; j >>= 1)
          launch_over(g * run / 2, sort_pairs_kernel<T>, largest, len, run, k, j, g * run / 2, gx, scratch);
        launch(sort_span_kernel<T>, grid(chunks), threads, 0, largest, len, run, span, chunks, k, gx, scratch,
               static_cast<std::int64_t*>(nullptr));
        KILN_CUDA_CHECK_LAUNCH();
      }
      launch_over(g * len, sort_copy_out, g, len, run, static_cast<const std::int64_t*>(scratch),
                  index + r0 * len);
    }
  });
}

void scan(Scalar t, cpu::Scan op, bool reverse, std::int64_t outer, std::int64_t n, std::int64_t inner,
          const void* x, void* out, void* scratch) {
  if (outer * n * inner == 0) return;
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    scan_lines<T>({op, reverse, n, inner}, outer, static_cast<const T*>(x), static_cast<T*>(out), nullptr,
                  scratch);
  });
}

void product(Scalar t, std::int64_t outer, std::int64_t r, std::int64_t inner, const void* x, void* out,
             void* scratch) {
  if (outer * inner == 0) return;
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    scan_lines<T>({cpu::Scan::product, false, r, inner}, outer, static_cast<const T*>(x), nullptr,
                  static_cast<T*>(out), scratch);
  });
}

}  // namespace kiln::cuda_kernels
