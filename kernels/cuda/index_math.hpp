// The index arithmetic of the GPU kernels, in plain C++ that nvcc and the host
// compiler both read: the kernels call it per element, and the CPU tests
// (tests/test_cuda_index_math.cpp) run it against definitions written as plain
// loops, so it is checked on machines without a GPU too.
//
// Strided loops: element i of a Loop (row-major over loop.shape) sits at offset
// sum_d idx_d * stride[o][d] in operand o.
//
// Whole-batch im2col: col has one row per (input channel ci, kernel tap i, j) and
// one column per output position (image, y, x), both row-major:
//   col[(ci * kh + i) * kw + j][(img * oh + y) * ow + x]
//     = image[img][ci][y * stride_h - pad_h + i * dil_h][x * stride_w - pad_w + j * dil_w]
// or 0 where that position falls in the padding.
//
// Also here: the binary search of searchsorted, the slices of batch norm's channel sums and of other long
// sums, pooling's positions and covering windows, and the chunks of long CSR rows. Kernels pick 32-bit
// indices, dividing with divider.hpp's multiply-shift dividers, when fits_int32 says the sizes allow.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

// Offsets of element i of `loop` in its first `Operands` operands.
template <int Operands>
KILN_HOST_DEVICE inline void loop_offsets(const Loop& loop, std::int64_t i, std::int64_t (&off)[Operands]) {
  if (loop.dense) {
    for (int o = 0; o < Operands; ++o) off[o] = i;
    return;
  }
  for (int o = 0; o < Operands; ++o) off[o] = 0;
  if (loop.narrow) {  // the same unravelling, in 32 bits with multiply-shift division
    auto j = static_cast<std::int32_t>(i);
    for (int d = loop.ndim - 1; d > 0; --d) {
      const std::int32_t q = loop.shape_div[d].div(j);
      const std::int64_t idx = j - q * loop.shape_div[d].divisor();
      j = q;
      for (int o = 0; o < Operands; ++o) off[o] += idx * loop.stride[o][d];
    }
    if (loop.ndim > 0)
      for (int o = 0; o < Operands; ++o) off[o] += static_cast<std::int64_t>(j) * loop.stride[o][0];
    return;
  }
  for (int d = loop.ndim - 1; d > 0; --d) {
    const std::int64_t idx = i % loop.shape[d];
    i /= loop.shape[d];
    for (int o = 0; o < Operands; ++o) off[o] += idx * loop.stride[o][d];
  }
  if (loop.ndim > 0)  // what is left of i indexes the outermost dimension
    for (int o = 0; o < Operands; ++o) off[o] += i * loop.stride[o][0];
}

// What one col row contributes to its source offsets; the same for every column,
// so a kernel works it out once per row. I is the index type (signed: a tap can
// reach into the padding above or left of the image).
template <class I>
struct ColRow {
  I channel_offset;  // ci * h * w
  I dy, dx;          // i * dil_h - pad_h, j * dil_w - pad_w
};

template <class I>
KILN_HOST_DEVICE inline ColRow<I> col_row(const ConvShape& s, I row) {
  const I kw = static_cast<I>(s.kw), taps = static_cast<I>(s.kh * s.kw);
  const I ci = row / taps, tap = row - ci * taps;
  const I i = tap / kw, j = tap - i * kw;
  return {ci * static_cast<I>(s.h * s.w), i * static_cast<I>(s.dil_h) - static_cast<I>(s.pad_h),
          j * static_cast<I>(s.dil_w) - static_cast<I>(s.pad_w)};
}

// The sizes im2col and col2im divide by, as dividers built once per launch.
template <class I>
struct ConvDividers {
  DividerFor<I> out_plane, out_width;     // oh * ow and ow: a column's image and output row
  DividerFor<I> width, height, channels;  // w, h, c: an image element's position
  DividerFor<I> stride_h, stride_w;       // col2im's taps at a stride
};
template <class I>
inline ConvDividers<I> conv_dividers(const ConvShape& s) {
  return {DividerFor<I>(s.oh * s.ow), DividerFor<I>(s.ow),       DividerFor<I>(s.w),
          DividerFor<I>(s.h),         DividerFor<I>(s.c),        DividerFor<I>(s.stride_h),
          DividerFor<I>(s.stride_w)};
}

// The image offset that col[row][column] copies, or -1 where it reads padding.
// Two divisions (by multiplication) per element: the column's image and its output row.
template <class I>
KILN_HOST_DEVICE inline I col_source(const ConvShape& s, const ConvDividers<I>& dv, const ColRow<I>& r, I column) {
  const I img = dv.out_plane.div(column), pos = column - img * dv.out_plane.divisor();
  const I y = dv.out_width.div(pos), x = pos - y * dv.out_width.divisor();
  const I iy = y * static_cast<I>(s.stride_h) + r.dy, ix = x * static_cast<I>(s.stride_w) + r.dx;
  if (iy < 0 || iy >= static_cast<I>(s.h) || ix < 0 || ix >= static_cast<I>(s.w)) return -1;
  return img * static_cast<I>(s.c * s.h * s.w) + r.channel_offset + iy * static_cast<I>(s.w) + ix;
}

// col2im, im2col's adjoint: calls fn(k) with the index k into col of every entry
// that copied image element e (e row-major over (n, c, h, w)), in tap order.
// Stride 1 (a uniform branch) needs no division per tap.
template <class I, class Fn>
KILN_HOST_DEVICE inline void col_targets(const ConvShape& s, const ConvDividers<I>& dv, I e, Fn&& fn) {
  const I w = static_cast<I>(s.w), h = static_cast<I>(s.h), c = static_cast<I>(s.c);
  const I oh = static_cast<I>(s.oh), ow = static_cast<I>(s.ow), kh = static_cast<I>(s.kh), kw = static_cast<I>(s.kw);
  const I sh = static_cast<I>(s.stride_h), sw = static_cast<I>(s.stride_w);
  const std::int64_t columns = s.n * s.oh * s.ow;
  I rest = dv.width.div(e);
  const I ix = e - rest * w;
  I next = dv.height.div(rest);
  const I iy = rest - next * h;
  const I img = dv.channels.div(next), ci = next - img * c;
  const I column0 = img * oh * ow;
  for (I i = 0; i < kh; ++i) {
    const I ty = iy + static_cast<I>(s.pad_h) - i * static_cast<I>(s.dil_h);
    if (ty < 0) continue;
    const I y = sh == 1 ? ty : dv.stride_h.div(ty);
    if ((sh != 1 && y * sh != ty) || y >= oh) continue;
    for (I j = 0; j < kw; ++j) {
      const I tx = ix + static_cast<I>(s.pad_w) - j * static_cast<I>(s.dil_w);
      if (tx < 0) continue;
      const I x = sw == 1 ? tx : dv.stride_w.div(tx);
      if ((sw != 1 && x * sw != tx) || x >= ow) continue;
      const std::int64_t row = (static_cast<std::int64_t>(ci) * kh + i) * kw + j;
      fn(row * columns + column0 + y * ow + x);
    }
  }
}

// True when 32-bit indices serve `elements` values: every offset, plus a grid
// stride (at most 2^26 threads), stays below 2^31.
inline bool fits_int32(std::int64_t elements) { return elements <= (std::int64_t(1) << 30); }

// True when 32-bit indices serve this convolution: every image offset, col column and row.
inline bool fits_int32(const ConvShape& s) {
  return fits_int32(s.n * s.c * s.h * s.w) && fits_int32(s.n * s.oh * s.ow) && fits_int32(s.c * s.kh * s.kw);
}

// Batch norm's tensors are contiguous (n, c, l): channel ch holds m = n * l values,
// value i = img * l + j of it at offset (img * c + ch) * l + j.
template <class I>
KILN_HOST_DEVICE inline I channel_value_offset(I i, const DividerFor<I>& l, I c, I ch) {
  const I img = l.div(i);
  return (img * c + ch) * l.divisor() + (i - img * l.divisor());
}

// The channel of element e of a contiguous (n, c, l) tensor: (e / l) mod c.
template <class I>
KILN_HOST_DEVICE inline I channel_of(I e, const DividerFor<I>& l, const DividerFor<I>& c) {
  const I q = l.div(e);
  return q - c.div(q) * c.divisor();
}

// The channel reductions cut each channel's m values into `parts` slices of
// `per_part` consecutive values (the last may be shorter or empty), one block each,
// so that a few channels still fill the GPU; the slices' partial sums are then
// added in slice order, so results do not depend on thread timing.
struct ChannelSplit {
  std::int64_t parts, per_part;
};
inline ChannelSplit channel_split(std::int64_t c, std::int64_t m) {
  constexpr std::int64_t kMinPerPart = 4096, kTargetBlocks = 1024, kMaxParts = 256;
  std::int64_t parts = (kTargetBlocks + c - 1) / (c < 1 ? 1 : c);
  if (parts > (m + kMinPerPart - 1) / kMinPerPart) parts = (m + kMinPerPart - 1) / kMinPerPart;
  parts = parts < 1 ? 1 : (parts > kMaxParts ? kMaxParts : parts);
  return {parts, (m + parts - 1) / parts};
}

// Threads of a block that reduces one slice: `most` (a multiple of 32), or fewer
// whole warps when the slice is shorter, so many short channels (a BatchNorm1d over a
// small batch) do not launch idle threads.
inline int slice_threads(const ChannelSplit& split, int most) {
  const std::int64_t threads = (split.per_part + 31) / 32 * 32;
  return threads < 32 ? 32 : (threads > most ? most : static_cast<int>(threads));
}

// Slice `part`'s values of a channel: i in [begin, end).
KILN_HOST_DEVICE inline void slice_bounds(std::int64_t m, std::int64_t per_part, std::int64_t part,
                                          std::int64_t& begin, std::int64_t& end) {
  begin = part * per_part < m ? part * per_part : m;
  end = begin + per_part < m ? begin + per_part : m;
}

// Doubles of device scratch the batch norm kernels use for c channels of m values:
// two partial sums per slice, then two sums per channel.
inline std::int64_t batch_norm_scratch_doubles(std::int64_t c, std::int64_t m) {
  return 2 * c * channel_split(c, m).parts + 2 * c;
}

// `parts` slices of r values for `outputs` outputs: about `target` slices in all,
// each of at least `min_per_part` values, at most `max_parts` per output.
inline ChannelSplit slices_toward(std::int64_t outputs, std::int64_t r, std::int64_t min_per_part,
                                  std::int64_t target, std::int64_t max_parts) {
  std::int64_t parts = (target + outputs - 1) / outputs;
  const std::int64_t most = r / min_per_part;  // every slice keeps min_per_part values
  if (parts > most) parts = most;
  parts = parts < 1 ? 1 : (parts > max_parts ? max_parts : parts);
  return {parts, (r + parts - 1) / parts};
}

// Slices for a thread per (output, slice): at least 16 values and about sqrt(r), so
// a walk along a slice and a walk over an output's slices are both short, and about
// 64K threads in all.
inline ChannelSplit thread_slices(std::int64_t outputs, std::int64_t r) {
  std::int64_t root = 1;
  while (root * root < r) root *= 2;  // a power of two in [sqrt(r), 2 sqrt(r))
  return slices_toward(outputs, r, root < 16 ? 16 : root, 65536, 1024);
}

// Sums split the same way when their outputs alone would leave the GPU idle (a
// whole-tensor sum, a bias gradient summed over a batch). x is viewed as (outer, r,
// inner) and summed over r into outer * inner outputs; r is cut into `parts` slices
// whose partial sums go to scratch, slice p's for output e at p * outputs + e, and a
// second pass adds each output's partials in slice order. One part: a single pass.
// Rows (inner == 1) take a block per slice: slices of at least 4096 values, about
// 1024 blocks in all. Otherwise a thread per (output, slice), as thread_slices cuts them.
inline ChannelSplit sum_split(std::int64_t outer, std::int64_t r, std::int64_t inner) {
  const std::int64_t outputs = outer * inner;
  if (outputs < 1 || r < 1) return {1, r < 1 ? 1 : r};
  return inner > 1 ? thread_slices(outputs, r) : slices_toward(outputs, r, 4096, 1024, 256);
}

// 8-byte slots of device scratch a GPU sum over (outer, r, inner) needs (0: none).
inline std::int64_t sum_scratch_slots(std::int64_t outer, std::int64_t r, std::int64_t inner) {
  const ChannelSplit split = sum_split(outer, r, inner);
  return split.parts > 1 ? outer * inner * split.parts : 0;
}

// Running sums and products (and products of whole lines) over the n steps of each
// of the outer * inner lines of an (outer, n, inner) tensor, split when the lines
// alone would leave the GPU idle (one long row): a thread per (line, slice) combines
// its slice into scratch (slot p * lines + e for line e, slice p); a thread per line
// turns its slices' totals, in slice order, into the value that comes before each
// slice (a product of the whole line stops there); a thread per (line, slice) then
// walks its slice again from that value. Slices as thread_slices cuts them.
inline ChannelSplit scan_split(std::int64_t outer, std::int64_t n, std::int64_t inner) {
  const std::int64_t lines = outer * inner;
  if (lines < 1 || n < 1) return {1, n < 1 ? 1 : n};
  return thread_slices(lines, n);
}

// 8-byte slots of device scratch a GPU scan over (outer, n, inner) needs (0: none).
inline std::int64_t scan_scratch_slots(std::int64_t outer, std::int64_t n, std::int64_t inner) {
  const ChannelSplit split = scan_split(outer, n, inner);
  return split.parts > 1 ? outer * inner * split.parts : 0;
}

// A GPU sort of rows of `len` values sorts a power-of-two run of positions at least
// `len` long per row. Runs of up to kSortSpan positions are sorted whole, a block per
// row in shared memory; longer runs go through scratch, up to kSortBlocks rows at a time.
inline constexpr std::int64_t kSortBlocks = 1024, kSortSpan = 2048;
inline std::int64_t sort_run_length(std::int64_t len) {
  std::int64_t p = 1;
  while (p < len) p <<= 1;
  return p;
}
// 8-byte slots of device scratch a GPU sort of (rows, len) needs (0: none).
inline std::int64_t sort_scratch_slots(std::int64_t rows, std::int64_t len) {
  const std::int64_t run = sort_run_length(len);
  return run <= kSortSpan ? 0 : (rows < kSortBlocks ? rows : kSortBlocks) * run;
}

// CSR rows longer than kCsrChunk entries are split on the GPU (a hub of a power-law
// graph would otherwise keep one thread busy long after the rest have finished):
// the entries are cut into chunks of kCsrChunk, and each chunk holds the part it
// covers of at most two long rows: the one that begins in it (no long row fits in
// one chunk, so it runs past the chunk's end and no other row can begin after it
// there) and the one that began before it and goes on through its first entry. A
// thread per (chunk, column) combines those parts into two slots per chunk; a
// thread per (chunk, column) of each chunk where a long row begins then combines
// the row's slots in chunk order. Rows of up to kCsrChunk entries are walked whole.
inline constexpr std::int64_t kCsrChunk = 1024;

KILN_HOST_DEVICE inline std::int64_t csr_chunks(std::int64_t nnz) {
  return (nnz + kCsrChunk - 1) / kCsrChunk;
}

// The row that holds entry k (0 <= k < nnz) of a CSR matrix with `rows` rows: the
// last r with row_ptr[r] <= k, so empty rows before it are passed over.
KILN_HOST_DEVICE inline std::int64_t csr_row_of(const std::int64_t* row_ptr, std::int64_t rows,
                                                std::int64_t k) {
  std::int64_t lo = 0, hi = rows;  // row_ptr[lo] <= k < row_ptr[hi]
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (row_ptr[mid] <= k) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// The long rows chunk c holds part of (-1: none), and the part: `begins` starts in
// the chunk and runs to its end; `continues` began before it and covers entries
// [c * kCsrChunk, continues_end) of it.
struct CsrChunkRows {
  std::int64_t begins = -1, continues = -1;
  std::int64_t continues_end = 0;
};

KILN_HOST_DEVICE inline CsrChunkRows csr_chunk_rows(const std::int64_t* row_ptr, std::int64_t rows,
                                                    std::int64_t nnz, std::int64_t c) {
  CsrChunkRows out;
  const std::int64_t start = c * kCsrChunk, stop = start + kCsrChunk < nnz ? start + kCsrChunk : nnz;
  const std::int64_t first = csr_row_of(row_ptr, rows, start);
  const std::int64_t first_end = row_ptr[first + 1];
  if (row_ptr[first] < start && first_end - row_ptr[first] > kCsrChunk) {
    out.continues = first;
    out.continues_end = first_end < stop ? first_end : stop;
  }
  const std::int64_t last = csr_row_of(row_ptr, rows, stop - 1);
  if (row_ptr[last] >= start && row_ptr[last + 1] - row_ptr[last] > kCsrChunk) out.begins = last;
  return out;
}

// Slots of device scratch (of the element type) a GPU pass over the long rows of a
// CSR matrix with nnz entries needs, for `values` numbers per entry and column.
inline std::int64_t csr_chunk_scratch_slots(std::int64_t nnz, std::int64_t columns, std::int64_t values = 1) {
  return csr_chunks(nnz) * 2 * columns * values;
}

// Pooling runs over planes of (h, w) values into planes of (oh, ow), windows of
// (kh, kw) at a stride, with padding. Element e of a contiguous stack of planes of
// `plane_size` values, rows of `width`: its plane, row and column.
template <class I>
struct PlanePosition {
  I plane, y, x;
};
template <class I>
KILN_HOST_DEVICE inline PlanePosition<I> plane_position(I e, const DividerFor<I>& plane_size,
                                                        const DividerFor<I>& width) {
  const I plane = plane_size.div(e), at = e - plane * plane_size.divisor();
  const I y = width.div(at);
  return {plane, y, at - y * width.divisor()};
}

// The windows along one axis (window o spans o * stride - pad .. o * stride - pad + k - 1)
// that cover input coordinate `in`: o in [lo, hi), clipped to [0, out_size).
template <class I>
KILN_HOST_DEVICE inline void covering_windows(I in, I pad, I k, const DividerFor<I>& stride, I out_size, I& lo,
                                              I& hi) {
  const I last = in + pad;         // windows starting at or before `in`
  const I first = last - (k - 1);  // ... and ending at or after it
  lo = first <= 0 ? 0 : stride.div(first + stride.divisor() - 1);
  hi = last < 0 ? 0 : stride.div(last) + 1;
  if (hi > out_size) hi = out_size;
}

// The count avg_pool divides window o of one axis by, as PyTorch's: the window clipped to
// the padded input (windows ceil_mode adds can pass its end), or, without
// count_include_pad, to the input itself. The product over both axes divides the sum.
KILN_HOST_DEVICE inline std::int64_t pool_window_length(std::int64_t o, std::int64_t stride, std::int64_t pad,
                                                        std::int64_t k, std::int64_t in, bool include_pad) {
  const std::int64_t start = o * stride - pad;
  const std::int64_t end = start + k < in + pad ? start + k : in + pad;
  if (include_pad) return end - start;
  return (end < in ? end : in) - (start > 0 ? start : 0);
}

// The sizes pooling divides by, as dividers built once per launch.
template <class I>
struct PoolDividers {
  DividerFor<I> out_plane, out_width;  // oh * ow and ow: an output element's position
  DividerFor<I> in_plane, in_width;    // h * w and w: an input element's position
  DividerFor<I> stride_h, stride_w;    // the windows covering an input element
};
template <class I>
inline PoolDividers<I> pool_dividers(const PoolShape& s) {
  return {DividerFor<I>(s.oh * s.ow), DividerFor<I>(s.ow),       DividerFor<I>(s.h * s.w),
          DividerFor<I>(s.w),         DividerFor<I>(s.stride_h), DividerFor<I>(s.stride_w)};
}

// True when 32-bit indices serve this pooling: input and output offsets, plus a grid
// stride, stay below 2^31.
inline bool fits_int32(const PoolShape& s) {
  return fits_int32(s.planes * s.h * s.w) && fits_int32(s.planes * s.oh * s.ow);
}

// searchsorted's order: a NaN ranks above every number (and equal to another NaN).
template <class T>
KILN_HOST_DEVICE inline bool ranks_before(T a, T b) {
  return !(a != a) && (b != b || a < b);
}

// The number of entries of the sorted seq[0 .. m) that rank before v (right: that do not
// rank after it), by binary search: where v goes to keep seq sorted, left (right) of equals.
template <class T>
KILN_HOST_DEVICE inline std::int64_t sorted_position(const T* seq, std::int64_t m, T v, bool right) {
  std::int64_t lo = 0, hi = m;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (right ? !ranks_before(v, seq[mid]) : ranks_before(seq[mid], v))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

}  // namespace kiln::cuda_kernels
