// 2-D convolution, transposed convolution, upsampling, sampling and pooling over
// (N, C, H, W) tensors; 1-D convolution and pooling over (N, C, L) sequences.
#pragma once

#include <array>
#include <optional>

#include "kiln/core/tensor.hpp"
#include "kiln/ops/reduce.hpp"  // ValuesIndices

namespace kiln {

using Pair = std::array<std::int64_t, 2>;  // (height, width)

// Cross-correlation as in torch.nn.functional.conv2d: weight (O, C / groups, kh, kw),
// bias (O) or undefined. Computed as im2col + one GEMM per group over the whole batch.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Pair stride = {1, 1},
              Pair padding = {0, 0}, Pair dilation = {1, 1}, std::int64_t groups = 1);

// The transpose (adjoint) of conv2d, as torch.nn.functional.conv_transpose2d: weight
// (C_in, C_out / groups, kh, kw), bias (C_out) or undefined. Each output side is
//   (H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1,
// so stride 2 with k = 2 doubles H and W (a decoder's upsampling). output_padding adds
// rows and columns at the far edge; it must be smaller than the stride or the dilation.
// conv_transpose2d(y, w) is the gradient of conv2d(x, w) with respect to x, given y.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        Pair stride = {1, 1}, Pair padding = {0, 0}, Pair output_padding = {0, 0},
                        std::int64_t groups = 1, Pair dilation = {1, 1});

// Nearest-neighbour upsampling by whole factors, as torch.nn.functional.interpolate(x,
// scale_factor=(sh, sw), mode="nearest"): each pixel becomes an sh x sw block, (N, C, H, W)
// -> (N, C, H*sh, W*sw). Its gradient sums each block.
Tensor upsample_nearest2d(const Tensor& x, Pair scale);
// torch.nn.functional.interpolate(x, size=(OH, OW), mode=..., align_corners=...) over
// (N, C, H, W):
//   nearest        output row i is input row floor(i * H / OH) (exactly, in integers), the
//                  same for columns; whole factors go through upsample_nearest2d
//   nearest_exact  torch's "nearest-exact": row floor((i + 0.5) * H / OH), the input pixel
//                  under the output pixel's centre (what image libraries call nearest)
//   bilinear       each output pixel blends its 2 x 2 nearest input pixels, the input read at
//                  (i + 0.5) H / OH - 0.5 (clamped at 0), or with align_corners at
//                  i (H - 1) / (OH - 1), so the corner pixels line up
//   bicubic        a 4 x 4 neighbourhood, cubic convolution with a = -0.75 (torch's), the
//                  same positions unclamped, the edge pixels repeated past the border;
//                  may overshoot the input's range, as torch's does
//   area           the mean of each output pixel's window: adaptive_avg_pool2d
// Up or down, either device (index_select and products). Differentiable in x.
// (linear and trilinear are the 1-D and 3-D forms' blends: interpolate1d, interpolate3d.)
enum class Interpolation { nearest, bilinear, bicubic, nearest_exact, area, linear, trilinear };
const char* interpolation_name(Interpolation mode);  // torch's: "nearest", ..., "nearest-exact", "area"
Tensor interpolate(const Tensor& x, Pair size, Interpolation mode = Interpolation::nearest,
                   bool align_corners = false);
// Spatial transformers (Jaderberg et al. 2015), as torch.nn.functional.affine_grid and
// grid_sample. affine_grid turns theta (N, 2, 3) into a sampling grid (N, H, W, 2) for an
// output of size (N, C, H, W): each output pixel's (x, y) in the input's normalised
// coordinates, -1 .. 1 from the left (top) edge to the right (bottom) one, pixel centres
// at -1 + (2 i + 1) / W, or corners at -1 and 1 with align_corners. grid_sample reads
// input (N, C, H_in, W_in) at grid (N, H, W, 2): bilinear (the four neighbours) or
// nearest (halves to even); where a point falls outside, zeros, the border (clamped), or
// the input reflected at its edges. Differentiable in theta, the input and the grid.
enum class GridPadding { zeros, border, reflection };
Tensor affine_grid(const Tensor& theta, const Shape& size, bool align_corners = false);
Tensor grid_sample(const Tensor& input, const Tensor& grid, Interpolation mode = Interpolation::bilinear,
                   GridPadding padding_mode = GridPadding::zeros, bool align_corners = false);

// torch.nn.functional.pixel_shuffle / pixel_unshuffle: (*, C r^2, H, W) <-> (*, C, H r, W r),
// each group of r^2 channels laid out as an r x r block of pixels (a sub-pixel convolution's
// upsampling). A copy; differentiable.
Tensor pixel_shuffle(const Tensor& x, std::int64_t upscale_factor);
Tensor pixel_unshuffle(const Tensor& x, std::int64_t downscale_factor);
// torch.nn.functional.channel_shuffle (ShuffleNet): the C channels of (N, C, *) as
// `groups` groups interleaved, channel g * (C / groups) + k moving to k * groups + g.
Tensor channel_shuffle(const Tensor& x, std::int64_t groups);

// torch.nn.functional.unfold / fold: the sliding kh x kw blocks of x (N, C, H, W) as
// columns, (N, C kh kw, L) with L the number of blocks (im2col: rows ordered (channel, i,
// j), blocks in row-major order), and fold, its adjoint, which adds columns (N, C kh kw,
// L) back into an (N, C, H, W) output of the given size, overlapping blocks summing.
// fold(unfold(x)) is x times the number of blocks covering each pixel. Exact copies and
// sums, on either device; differentiable.
Tensor unfold(const Tensor& x, Pair kernel_size, Pair dilation = {1, 1}, Pair padding = {0, 0},
              Pair stride = {1, 1});
Tensor fold(const Tensor& columns, Pair output_size, Pair kernel_size, Pair dilation = {1, 1},
            Pair padding = {0, 0}, Pair stride = {1, 1});

// Max over each window; the gradient goes to the first maximal element of the window.
// stride defaults to the kernel size (pass {0, 0}); padding counts as -infinity. With
// ceil_mode the output rounds up (torch's rule): a last, partial window is added where
// it would start inside the input or its left padding.
Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0},
                  bool ceil_mode = false);
// The same, with each maximum's int64 position y * W + x in its plane (torch's
// return_indices), what max_unpool2d takes.
ValuesIndices max_pool2d_with_indices(const Tensor& x, Pair kernel, Pair stride = {0, 0},
                                      Pair padding = {0, 0}, bool ceil_mode = false);
// Mean over each window; padded positions count as zeros (count_include_pad, as PyTorch),
// or are left out of the divisor with count_include_pad = false. ceil_mode as max_pool2d's;
// its partial windows divide by the part inside the padded image.
Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);
// max_pool2d's partial inverse (torch.nn.functional.max_unpool2d): each value of x (N, C,
// OH, OW) written at its position from max_pool2d_with_indices in a zero image of
// output_size, by default (OH - 1) stride - 2 padding + kernel per axis. Differentiable
// in x (the gradient read back at the positions).
Tensor max_unpool2d(const Tensor& x, const Tensor& indices, Pair kernel, Pair stride = {0, 0},
                    Pair padding = {0, 0}, std::optional<Pair> output_size = std::nullopt);
// Average pooling to a fixed output size (OH, OW), whatever the input's H and W, as
// torch.nn.functional.adaptive_avg_pool2d: output row i averages input rows
// floor(i * H / OH) .. ceil((i + 1) * H / OH) - 1, and the same for columns. (1, 1) is
// global average pooling, the usual head of a convolutional classifier.
Tensor adaptive_avg_pool2d(const Tensor& x, Pair output_size);
// Max over the same adaptive windows (torch.nn.functional.adaptive_max_pool2d): the values
// and, with _with_indices, each maximum's int64 position in its plane, y * W + x (the
// first maximum of the window in row-major order; the gradient goes to it).
Tensor adaptive_max_pool2d(const Tensor& x, Pair output_size);
ValuesIndices adaptive_max_pool2d_with_indices(const Tensor& x, Pair output_size);
// Power-average pooling (torch.nn.functional.lp_pool2d): (sum over the window of x^p)^(1/p),
// windows without padding; p = 1 is sum pooling, a large p nears max pooling. Stride
// {0, 0} means the kernel size.
Tensor lp_pool2d(const Tensor& x, double norm_type, Pair kernel, Pair stride = {0, 0});

// 1-D forms over (N, C, L), as torch.nn.functional.conv1d / max_pool1d / avg_pool1d:
// weight (O, C / groups, k), bias (O) or undefined; output length
//   (L + 2 * padding - dilation * (k - 1) - 1) / stride + 1.
// Each is the 2-D op on (N, C, 1, L), so it runs wherever that does. Pooling's stride 0
// means the kernel size.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), std::int64_t stride = 1,
              std::int64_t padding = 0, std::int64_t dilation = 1, std::int64_t groups = 1);
Tensor max_pool1d(const Tensor& x, std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0,
                  bool ceil_mode = false);
// The same, with each maximum's int64 position in L; max_unpool1d puts the maxima back
// there in zeros of output_size (default (OL - 1) stride - 2 padding + kernel).
ValuesIndices max_pool1d_with_indices(const Tensor& x, std::int64_t kernel, std::int64_t stride = 0,
                                      std::int64_t padding = 0, bool ceil_mode = false);
Tensor max_unpool1d(const Tensor& x, const Tensor& indices, std::int64_t kernel, std::int64_t stride = 0,
                    std::int64_t padding = 0, std::optional<std::int64_t> output_size = std::nullopt);
Tensor avg_pool1d(const Tensor& x, std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);
// 1-D forms of the transposed convolution (weight (C, O / groups, k); output length
// (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1) and of the
// adaptive and power-average pooling above; adaptive_max_pool1d's indices are positions in L.
Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t output_padding = 0,
                        std::int64_t groups = 1, std::int64_t dilation = 1);
Tensor adaptive_avg_pool1d(const Tensor& x, std::int64_t output_size);
Tensor adaptive_max_pool1d(const Tensor& x, std::int64_t output_size);
ValuesIndices adaptive_max_pool1d_with_indices(const Tensor& x, std::int64_t output_size);
Tensor lp_pool1d(const Tensor& x, double norm_type, std::int64_t kernel, std::int64_t stride = 0);

// ---- Volumes (N, C, D, H, W) (src/ops/conv3d.cpp) ------------------------------------
// Built on the 2-D ops, so they share their kernels on either device and autograd derives
// their backward passes. Unbatched (C, D, H, W) inputs too.
using Triple = std::array<std::int64_t, 3>;  // (depth, height, width)

// Cross-correlation as torch.nn.functional.conv3d: weight (O, C / groups, kd, kh, kw), bias
// (O) or undefined. The kd depth slices each output depth reads are gathered as the
// channels of one image per output depth (C kd channels), then one conv2d over them with
// the weight laid out to match, (O, C / groups kd, kh, kw): the 3-D im2col, in the 2-D one.
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Triple stride = {1, 1, 1},
              Triple padding = {0, 0, 0}, Triple dilation = {1, 1, 1}, std::int64_t groups = 1);
// The transpose (adjoint) of conv3d, as torch.nn.functional.conv_transpose3d: weight
// (C, O / groups, kd, kh, kw), a 3-D U-Net's or a video decoder's upsampling. One
// conv_transpose2d over every input depth slice, with the weight's kd slices as extra
// output channels, then each slice's kd results added at their output depths (index_add).
Tensor conv_transpose3d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        Triple stride = {1, 1, 1}, Triple padding = {0, 0, 0},
                        Triple output_padding = {0, 0, 0}, std::int64_t groups = 1,
                        Triple dilation = {1, 1, 1});
// Max and average pooling over boxes (torch's max_pool3d / avg_pool3d; stride {0, 0, 0}:
// the kernel), with ceil_mode and count_include_pad as the 2-D forms. A box's maximum (or
// mean, its divisor the product of the axes' counts) is that of the planes' windows, then
// along the depth: two 2-D poolings.
Tensor max_pool3d(const Tensor& x, Triple kernel, Triple stride = {0, 0, 0}, Triple padding = {0, 0, 0},
                  bool ceil_mode = false);
Tensor avg_pool3d(const Tensor& x, Triple kernel, Triple stride = {0, 0, 0}, Triple padding = {0, 0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);
// max_pool3d with each maximum's int64 position d H W + h W + w in its volume (the first
// in that order where several are equal, as PyTorch's); max_unpool3d puts the maxima back
// there in zeros of output_size (default (O - 1) stride - 2 padding + kernel per axis).
ValuesIndices max_pool3d_with_indices(const Tensor& x, Triple kernel, Triple stride = {0, 0, 0},
                                      Triple padding = {0, 0, 0}, bool ceil_mode = false);
Tensor max_unpool3d(const Tensor& x, const Tensor& indices, Triple kernel, Triple stride = {0, 0, 0},
                    Triple padding = {0, 0, 0}, std::optional<Triple> output_size = std::nullopt);
// Adaptive pooling to (OD, OH, OW) (torch's adaptive_avg_pool3d / adaptive_max_pool3d),
// each axis's windows as the 2-D forms', the planes first, then the depth.
Tensor adaptive_avg_pool3d(const Tensor& x, Triple output_size);
Tensor adaptive_max_pool3d(const Tensor& x, Triple output_size);
// interpolate for sequences (N, C, L) -> (N, C, size) and volumes (N, C, D, H, W) -> (N, C,
// OD, OH, OW): nearest, nearest_exact and area as interpolate's, and linear (1-D) or
// trilinear (3-D) blends, each axis as bilinear's (align_corners too). Separable: the 3-D
// form resamples each depth slice's plane, then along the depth.
Tensor interpolate1d(const Tensor& x, std::int64_t size, Interpolation mode = Interpolation::nearest,
                     bool align_corners = false);
Tensor interpolate3d(const Tensor& x, Triple size, Interpolation mode = Interpolation::nearest,
                     bool align_corners = false);

}  // namespace kiln
