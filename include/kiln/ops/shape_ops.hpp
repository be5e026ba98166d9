// Shape and indexing ops as free functions (the view methods live on Tensor).
#pragma once

#include <optional>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

// Rows (or slices along `dim`) picked by a 1-D int64/int32 index tensor. Differentiable in x.
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
// x with source's slices added at the indices along `dim` (torch.index_add):
// out[.., index[j], ..] += source[.., j, ..], repeated indices adding up; source has
// x's shape except index.numel() along `dim`. A scatter-sum, e.g. messages summed into
// their target nodes. Differentiable in x and source. On a GPU the sums over a repeated
// index are atomic, so their order (and last bits) may vary from run to run.
Tensor index_add(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& source);
// out[i][j] = x[i][index[i][j]] for dim = 1 (torch.gather). Differentiable in x.
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);
// gather's adjoint (torch.scatter_add): a copy of x with src[i][j] added at
// [i][index[i][j]] for dim = 1 (index, src and x the same rank; index no larger than src,
// nor than x outside dim; repeats add up), e.g. messages summed into their nodes. Each
// index in [0, x.size(dim)). The index is read on the host (a GPU index once). One
// index_add over x's elements, so differentiable in x and src.
Tensor scatter_add(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& src);
// The same places written instead of added (torch.scatter): a copy of x with src[i][j]
// at [i][index[i][j]] for dim = 1; where the index repeats a place, the last entry in the
// index's row-major order wins (and only it gets a gradient; torch leaves the winner
// unspecified). Or the number `value` at each place. Differentiable in x and src.
Tensor scatter(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, std::int64_t dim, const Tensor& index, double value);
// torch.scatter_reduce: each place the index names gets the reduction of the src entries
// sent there, and of x's own value unless include_self is false; places no entry names
// keep x's value. sum and mean (mean divides by the entries counted) add with index_add;
// prod, amax and amin reduce each place's entries as a row of a matrix (rows of similar
// length together, padded to a power of two with the reduction's identity). Gradients as
// torch's: amax / amin split theirs evenly among the entries equal to the extreme; prod's
// is the product of the others (exact at zeros). Differentiable in x and src.
enum class ScatterReduce { sum, prod, mean, amax, amin };
const char* scatter_reduce_name(ScatterReduce reduce);  // "sum", "prod", ...
Tensor scatter_reduce(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& src,
                      ScatterReduce reduce, bool include_self = true);
// x with source's slices written at the indices along `dim` (torch.index_copy):
// out[.., index[j], ..] = source[.., j, ..]; a repeated index keeps its last slice.
// Differentiable in x and source.
Tensor index_copy(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& source);
// x with `value` in the slices along `dim` that the index names (torch.index_fill; a
// negative index counts from the end). Differentiable in x (0 in the filled slices).
Tensor index_fill(const Tensor& x, std::int64_t dim, const Tensor& index, double value);
// int64 tensor of shape indices.shape() + (num_classes): 1 at each class index, 0
// elsewhere (torch.nn.functional.one_hot). indices int64 or int32, each in
// [0, num_classes); num_classes -1 takes one more than the largest index (on a GPU that
// reads the largest back to the host; pass num_classes to keep everything there, and an
// index out of range is then reported at the next copy to the host).
Tensor one_hot(const Tensor& indices, std::int64_t num_classes = -1);
// The positions of x's nonzero entries (torch.nonzero): int64 of shape (count, x.dim()),
// in row-major order; NaN counts as nonzero. The count decides the shape, so on a GPU x
// is read back to the host and the positions are sent back to the GPU.
Tensor nonzero(const Tensor& x);
// x's entries where mask != 0, in row-major order, as a 1-D tensor (torch.masked_select,
// x[mask] in PyTorch). The uint8 mask (as comparisons return) broadcasts to x's shape.
// Differentiable in x (an index_select of the flattened x).
Tensor masked_select(const Tensor& x, const Tensor& mask);
// x reversed along each of `dims` (torch.flip): a copy, differentiable.
Tensor flip(const Tensor& x, const std::vector<std::int64_t>& dims);
// flip along dim 1 (left-right; at least 2 dims) or dim 0 (up-down; at least 1), as
// torch.fliplr / flipud.
Tensor fliplr(const Tensor& x);
Tensor flipud(const Tensor& x);
// The diagonal of x over dims dim1 and dim2 as a view (torch.diagonal): those two
// dimensions removed and one of the diagonal's length appended; offset > 0 above the main
// diagonal, < 0 below it (an empty diagonal where it falls outside). Differentiable.
Tensor diagonal(const Tensor& x, std::int64_t offset = 0, std::int64_t dim1 = 0, std::int64_t dim2 = 1);
// Views of consecutive parts along `dim` (torch.split / torch.chunk), sharing x's
// storage and differentiable like any view: parts of split_size (the last may be
// shorter), parts of the given sizes (which must add up to the dimension), or
// `chunks` parts of ceil(size / chunks) (fewer when the size runs out first).
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, std::int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim = 0);
// x tiled repeats[d] times along each dimension (torch.Tensor.repeat): a copy of shape
// (repeats[d] * x.size(d)); more counts than dimensions add leading ones. Differentiable
// (each tile's gradient adds up).
Tensor repeat(const Tensor& x, const std::vector<std::int64_t>& repeats);
// x with `value` added around it (torch.nn.functional.pad, constant mode): `pads` holds
// (before, after) pairs from the last dimension backwards, so {1, 1, 2, 0} adds a column
// on each side and two rows on top. Differentiable (the gradient of the inner block).
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value = 0.0);
// torch.nn.functional.pad's modes: the frame is made of x's own values.
//   reflect    mirrored about the edge, which is not repeated: [0 1 2 3] by 2 -> 2 1 0 1 2 3 2 1
//              (each pad smaller than its dimension)
//   replicate  the edge value repeated:                        -> 0 0 0 1 2 3 3 3
//   circular   wrapped around from the other end:              -> 2 3 0 1 2 3 0 1
//              (each pad at most its dimension)
//   constant   pad(x, pads, value) above
// Any number of trailing dimensions, on either device. Differentiable: an edge value's
// gradient sums over every copy of it.
enum class PadMode { constant, reflect, replicate, circular };
const char* pad_mode_name(PadMode mode);  // "constant", "reflect", "replicate", "circular"
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, PadMode mode, double value = 0.0);
// x's entries moved `shifts[i]` places along dims[i], those pushed off one end coming
// back at the other (torch.roll); with no dims, over the flattened x, shape kept. A
// copy (two block copies per dim), differentiable (its backward rolls g back).
Tensor roll(const Tensor& x, const std::vector<std::int64_t>& shifts,
            const std::vector<std::int64_t>& dims = {});
// The n-th forward difference along `dim` (torch.diff): out[i] = x[i + 1] - x[i], n times,
// so the dimension shrinks by n (to 0 at most). Differentiable.
Tensor diff(const Tensor& x, std::int64_t n = 1, std::int64_t dim = -1);
// Joins tensors along an existing / a new dimension. Differentiable.
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);

// ---- Out-of-place writes (src/ops/view_scatter.cpp): a copy of x with new values in
// part of it, differentiable in x (0 where it was overwritten) and in the values, so the
// PyTorch idiom `x[mask] = v` / `x[:, 2] = v` has a form autograd can record.

// x with src in the part x.slice(dim, start, end, step) (torch.slice_scatter; start and
// end as Python's slices, default the whole dimension); src has that part's shape.
Tensor slice_scatter(const Tensor& x, const Tensor& src, std::int64_t dim = 0,
                     std::optional<std::int64_t> start = std::nullopt,
                     std::optional<std::int64_t> end = std::nullopt, std::int64_t step = 1);
// x with src at position `index` of `dim` (torch.select_scatter; src lacks that dimension).
Tensor select_scatter(const Tensor& x, const Tensor& src, std::int64_t dim, std::int64_t index);
// x with src on diagonal(x, offset, dim1, dim2) (torch.diagonal_scatter).
Tensor diagonal_scatter(const Tensor& x, const Tensor& src, std::int64_t offset = 0, std::int64_t dim1 = 0,
                        std::int64_t dim2 = 1);
// x with source's first values, in row-major order, at the places the uint8 mask marks
// (torch.masked_scatter; the mask broadcasts to x's shape, source holds at least as many
// values as the mask marks). On a GPU the mask is read back once.
Tensor masked_scatter(const Tensor& x, const Tensor& mask, const Tensor& source);
// torch.index_put: x with `values` at x[indices[0], indices[1], ...], the int64 / int32
// index tensors (one per leading dimension, negative counting from the end) broadcast
// together, values broadcast to their shape followed by x's remaining dimensions; or one
// uint8 mask over x's leading dimensions (x[mask] = values). accumulate adds instead of
// writing, repeated positions adding up; without it a repeated position keeps the last
// value. The indices are read on the host.
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate = false);
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, double value, bool accumulate = false);

// ---- Splitting and stacking as NumPy does (src/ops/split_stack.cpp): views and cat.

// x cut along `dim` into `sections` parts whose sizes differ by at most one, the longer
// first (torch.tensor_split), or at the given indices: x[:i0], x[i0:i1], ..., x[ik:] along
// dim as Python slices (negative indices count from the end; a part may be empty). Views.
std::vector<Tensor> tensor_split(const Tensor& x, std::int64_t sections, std::int64_t dim = 0);
std::vector<Tensor> tensor_split(const Tensor& x, const std::vector<std::int64_t>& indices,
                                 std::int64_t dim = 0);
// Equal parts along dim 1 (dim 0 of a 1-D x), 0 and 2 (torch.hsplit / vsplit / dsplit):
// the dimension must divide by `sections`.
std::vector<Tensor> hsplit(const Tensor& x, std::int64_t sections);
std::vector<Tensor> vsplit(const Tensor& x, std::int64_t sections);
std::vector<Tensor> dsplit(const Tensor& x, std::int64_t sections);
// x viewed with at least 1, 2 or 3 dimensions (torch.atleast_1d / 2d / 3d): a number
// becomes (1), (1, 1), (1, 1, 1); a vector (n) becomes (1, n) and (1, n, 1); a matrix (m, n)
// becomes (m, n, 1).
Tensor atleast_1d(const Tensor& x);
Tensor atleast_2d(const Tensor& x);
Tensor atleast_3d(const Tensor& x);
// torch.hstack (cat along dim 1, or 0 for vectors), vstack (rows: vectors become (1, n)),
// dstack (along dim 2 after atleast_3d) and column_stack (vectors and numbers as columns).
Tensor hstack(const std::vector<Tensor>& tensors);
Tensor vstack(const std::vector<Tensor>& tensors);
Tensor dstack(const std::vector<Tensor>& tensors);
Tensor column_stack(const std::vector<Tensor>& tensors);
// Dimension `dim` viewed as several (torch.unflatten): sizes multiply to it, one may be -1.
Tensor unflatten(const Tensor& x, std::int64_t dim, const std::vector<std::int64_t>& sizes);
// Two dimensions swapped: x.transpose under NumPy's names (torch.swapaxes / swapdims). Views.
Tensor swapaxes(const Tensor& x, std::int64_t axis0, std::int64_t axis1);
Tensor swapdims(const Tensor& x, std::int64_t dim0, std::int64_t dim1);

// ---- Arranging (src/ops/arrange.cpp): views, or composites of views, pad and gather, so
// every one is differentiable and runs on either device.

// x with dims source[i] moved to destination[i], the others keeping their order
// (torch.movedim / moveaxis). A view.
Tensor movedim(const Tensor& x, const std::vector<std::int64_t>& source,
               const std::vector<std::int64_t>& destination);
Tensor movedim(const Tensor& x, std::int64_t source, std::int64_t destination);
// x turned k quarter-turns in the plane of dims, from the first towards the second
// (torch.rot90; k may be negative). A copy.
Tensor rot90(const Tensor& x, std::int64_t k = 1, const std::vector<std::int64_t>& dims = {0, 1});
// Matrices with x's last dimension on a diagonal (torch.diag_embed): out has one more
// dimension, its dims dim1 and dim2 (of the output) of size n + |offset| holding x[..., i]
// at (i, i + offset) (offset > 0 above the main diagonal), zeros elsewhere.
Tensor diag_embed(const Tensor& x, std::int64_t offset = 0, std::int64_t dim1 = -2, std::int64_t dim2 = -1);
// The block-diagonal matrix of the tensors (torch.block_diag): each a matrix, a row (1-D)
// or a 1 x 1 (0-D), placed corner to corner, zeros elsewhere. One dtype for all.
Tensor block_diag(const std::vector<Tensor>& tensors);
// Coordinate grids from 1-D tensors (torch.meshgrid): k tensors of sizes n_1 .. n_k give k
// tensors of shape (n_1, .., n_k), the i-th varying along dim i (MeshIndexing::ij), or with
// the first two dims swapped, (n_2, n_1, ..), for Cartesian x-y grids (xy). Expanded views.
enum class MeshIndexing { ij, xy };
std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors, MeshIndexing indexing = MeshIndexing::ij);
// Every combination of one entry of each 1-D tensor, as rows (torch.cartesian_prod):
// (n_1 .. n_k, k), the last tensor varying fastest; one tensor comes back as it is.
Tensor cartesian_prod(const std::vector<Tensor>& tensors);
// torch.take_along_dim: along `dim`, x's entries at `indices` (int64), the other
// dimensions broadcast between the two (same number of dimensions); without dim, the
// flattened x at the flattened indices. Differentiable in x.
Tensor take_along_dim(const Tensor& x, const Tensor& indices, std::optional<std::int64_t> dim = std::nullopt);
// Flat positions into x as if it were 1-D, row-major (torch.take / Tensor.put), int64 or
// int32, negative ones counting from the end; the index is checked on the host (read back
// once from a GPU), so one out of range is an Error. take gives x's entries at `index`, in
// index's shape; put gives x with source's entries (as many as the index has, in
// row-major order) written at them, or with accumulate added to them, repeated positions
// adding up (without it a repeated position keeps the last). Differentiable in x and source.
Tensor take(const Tensor& x, const Tensor& index);
Tensor put(const Tensor& x, const Tensor& index, const Tensor& source, bool accumulate = false);
// Flat row-major positions into a tensor of `shape` turned into coordinates, one int64
// tensor per dimension in index's shape (torch.unravel_index): the inverse of
// sum_d coords[d] stride[d]. Positions must lie in [0, numel(shape)), else an Error
// (checked on the host).
std::vector<Tensor> unravel_index(const Tensor& index, const Shape& shape);
// The (row, column) positions on and above (triu) / on and below (tril) the offset-th
// diagonal of a rows x cols matrix, row by row: int64 (2, count) (torch.triu_indices).
Tensor triu_indices(std::int64_t rows, std::int64_t cols, std::int64_t offset = 0);
Tensor tril_indices(std::int64_t rows, std::int64_t cols, std::int64_t offset = 0);
// Each slice of x along `dim` repeated in place (torch.repeat_interleave): [a b] by 2 is
// [a a b b]; with a 1-D int64 tensor of counts (one per slice, or one for all), slice i
// `repeats[i]` times. Without dim, x is flattened first. A copy, differentiable (each
// slice's gradient is the sum over its copies). A counts tensor on a GPU is read back.
Tensor repeat_interleave(const Tensor& x, std::int64_t repeats,
                         std::optional<std::int64_t> dim = std::nullopt);
Tensor repeat_interleave(const Tensor& x, const Tensor& repeats,
                         std::optional<std::int64_t> dim = std::nullopt);
// 0 .. n-1, each i `counts[i]` times, int64 on counts' device (torch.repeat_interleave of
// counts alone): [2 0 3] gives [0 0 2 2 2], e.g. the graph each node of a batch belongs to.
Tensor repeat_interleave(const Tensor& counts);
// torch.tile: repeat(x, reps) with reps padded by leading 1s when it is shorter than x's
// dimensions ({2} tiles the last dimension only).
Tensor tile(const Tensor& x, std::vector<std::int64_t> reps);

}  // namespace kiln
