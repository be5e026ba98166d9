// Softmax statistics of few long rows, cut into slices as index_math.hpp's sum_split
// cuts a sum (softmax and log_softmax in reduce.cu, cross_entropy in loss.cu). For
// each row they give its maximum M, its sum S of exp(x - M) (in double) and the sum
// of its values, from which the outputs and the losses follow as a warp walking the
// whole row would write them. Scratch: kSoftmaxSlot doubles per (row, slice).
#pragma once

#include "kernels/cuda/common.cuh"

namespace kiln::cuda_kernels {

inline constexpr std::int64_t kSoftmaxSlot = 3;  // m, s, sum of x

namespace {

// Pass 1: block (row = blockIdx.x, slice = blockIdx.y) finds its slice's maximum m
// (NaN passed over, as the row's maximum passes it), the sum of exp(x - m) in double,
// a -inf entry adding 0 (it adds exp(-inf) = 0 to the row's sum wherever the row's
// maximum is finite, also when its slice holds nothing else), and the sum of x; they
// go to the slot at partial + kSoftmaxSlot * (slice * rows + row).
template <class T>
__global__ void softmax_row_slices(std::int64_t len, std::int64_t per_part, const T* x, double* partial) {
  const std::int64_t row = blockIdx.x;
  const T* in = x + row * len;
  std::int64_t begin, end;
  slice_bounds(len, per_part, blockIdx.y, begin, end);
  T m = -INFINITY;
  for (std::int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) m = in[j] > m ? in[j] : m;
  m = block_max(m);
  double s = 0, total = 0;
  for (std::int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    s += in[j] == static_cast<T>(-INFINITY) ? 0.0 : exp(static_cast<double>(in[j] - m));
    total += in[j];
  }
  s = block_sum(s);
  total = block_sum(total);
  if (threadIdx.x == 0) {
    double* slot = partial + kSoftmaxSlot * (static_cast<std::int64_t>(blockIdx.y) * gridDim.x + row);
    slot[0] = m;
    slot[1] = s;
    slot[2] = total;
  }
}

// Pass 2, a thread per row: the row's maximum M, its sum S = sum over slices of
// s_p exp(m_p - M) and the sum of its values, into its slice-0 slot. Where M is
// infinite, S is NaN, as the one-pass sum is: a slice with m_p = +inf has
// exp(inf - inf) in its s_p, and where M = -inf every slice's factor is
// exp(-inf - (-inf)).
__global__ void softmax_row_totals(std::int64_t rows, std::int64_t parts, double* partial) {
  for (std::int64_t row = global_index(); row < rows; row += grid_stride()) {
    double m = -INFINITY;
    for (std::int64_t p = 0; p < parts; ++p) m = fmax(m, partial[kSoftmaxSlot * (p * rows + row)]);
    double s = 0, total = 0;
    for (std::int64_t p = 0; p < parts; ++p) {
      const double* slot = partial + kSoftmaxSlot * (p * rows + row);
      s += slot[1] * exp(slot[0] - m);
      total += slot[2];
    }
    double* first = partial + kSoftmaxSlot * row;
    first[0] = m;
    first[1] = s;
    first[2] = total;
  }
}

// Pass 3, a thread per element: softmax or log_softmax, from the row's M and S.
template <class T>
__global__ void softmax_row_outputs(bool log, std::int64_t rows, std::int64_t len, const double* partial,
                                    const T* x, T* y) {
  for (std::int64_t e = global_index(); e < rows * len; e += grid_stride()) {
    const double* first = partial + kSoftmaxSlot * (e / len);
    const T m = static_cast<T>(first[0]);
    y[e] =
        log ? (x[e] - m) - static_cast<T>(::log(first[1])) : dexp(x[e] - m) * static_cast<T>(1.0 / first[1]);
  }
}

// Passes 1 and 2 over (rows, len), cut as `split` says.
template <class T>
void softmax_slices(std::int64_t rows, std::int64_t len, const ChannelSplit& split, const T* x,
                    double* partial) {
  launch(softmax_row_slices<T>, dim3(static_cast<unsigned>(rows), static_cast<unsigned>(split.parts)),
         kThreads, 0, len, split.per_part, x, partial);
  KILN_CUDA_CHECK_LAUNCH();
  launch_over(rows, softmax_row_totals, rows, split.parts, partial);
}

}  // namespace

}  // namespace kiln::cuda_kernels
