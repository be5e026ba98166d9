// conv2d by im2col + GEMM, one image at a time, images spread over the threads
// (each thread's BLAS calls then run single-threaded, on cache-sized blocks):
//   col (K_all, L): K_all = C * kh * kw rows, L = OH * OW output positions
//   out_n,g (O/G, L) = W_g (O/G, K) @ col_g (K, L),   K = C/G * kh * kw
// Backward, per image: dW_g += g_n,g @ col_g^T;  dcol_g = W_g^T @ g_n,g, then col2im adds
// dcol back into dx_n. col is recomputed in the backward pass rather than stored.
// conv_transpose2d is the same three products in another order (see its section).
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "kiln/core/factories.hpp"

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cuda/index_math.hpp"  // pool_window_length
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/blas.hpp"
#include "src/ops/conv_cuda.hpp"
#include "src/ops/im2col.hpp"
#include "src/ops/window_max.hpp"

namespace kiln {

using detail::col2im;
using detail::ConvGeometry;
using detail::im2col;
using detail::pool_geometry;
using detail::PoolGeometry;
using detail::ptr;

namespace {

// Runs body(img, col, gw) for every image of g's batch, images spread over the threads.
// Each task has its own im2col buffer `col` (g.k_all() x g.l()) and, when `weight_grad`,
// its own zeroed gradient `gw` of `shape` to add into (else null); returns the sum of the
// tasks' gradients in the order of their first images, so that a run repeats bit for bit
// (undefined when !weight_grad).
template <class T, class Body>
Tensor images_in_parallel(const ConvGeometry& g, bool weight_grad, const Shape& shape, Body body) {
  return detail::sum_over_tasks<T>(g.n, weight_grad, shape, [&](std::int64_t b, std::int64_t e, T* gw) {
    std::vector<T> col(static_cast<std::size_t>(g.k_all() * detail::col_row_stride<T>(g.l())));
    for (std::int64_t img = b; img < e; ++img) body(img, col.data(), gw);
  });
}

}  // namespace

Grads detail::conv2d_recorded_grads(const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                                    const Tensor& grad, bool nx, bool nw, bool nb) {
  Grads grads(3);
  if (nx) {
    // The transpose's output size, (oh - 1) s - 2 p + d (k - 1) + 1, falls short of x's by
    // the rows the forward's stride skipped: output_padding adds them back.
    const Pair extra{g.h - ((g.oh - 1) * g.stride[0] - 2 * g.padding[0] + g.dilation[0] * (g.kh - 1) + 1),
                     g.w - ((g.ow - 1) * g.stride[1] - 2 * g.padding[1] + g.dilation[1] * (g.kw - 1) + 1)};
    grads[0] = conv_transpose2d(grad, weight, Tensor(), g.stride, g.padding, extra, g.groups, g.dilation);
  }
  if (nw)  // dW[o, c, i, j] = sum over n, y, z of grad[n, o, y, z] x_padded[n, c, y s + i d, z s + j d]
    grads[1] =
        correlated_weight_gradient(x, grad, g.groups, {g.kh, g.kw}, [&](const Tensor& a, const Tensor& b) {
          return conv2d(a, b, Tensor(), g.dilation, g.padding, g.stride);
        });
  if (nb) grads[2] = sum(grad, {0, 2, 3});
  return grads;
}

Grads detail::conv_transpose2d_recorded_grads(const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                                              const Tensor& grad, bool nx, bool nw, bool nb) {
  // conv_transpose2d is conv2d's input gradient in geometry g, x playing conv2d's output
  // gradient: its own input gradient is that conv2d, and its weight gradient conv2d's
  // weight gradient with grad as the input and x as the output's gradient.
  Grads grads(3);
  if (nx) grads[0] = conv2d(grad, weight, Tensor(), g.stride, g.padding, g.dilation, g.groups);
  if (nw) grads[1] = conv2d_recorded_grads(grad, weight, g, x, false, true, false)[1];
  if (nb) grads[2] = sum(grad, {0, 2, 3});
  return grads;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Pair stride, Pair padding,
              Pair dilation, std::int64_t groups) {
  detail::check_same_dtype_device("conv2d", {x, weight});
  detail::check_floating("conv2d", x);
  KILN_CHECK(x.dim() == 4, "conv2d: input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  KILN_CHECK(weight.dim() == 4, "conv2d: weight must be (O, C/groups, kh, kw) but has shape ",
             fmt(weight.shape()));
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0 && weight.size(0) % groups == 0,
             "conv2d: groups = ", groups, " must divide both the input channels (", x.size(1),
             ") and the output channels (", weight.size(0), ")");
  KILN_CHECK(weight.size(1) * groups == x.size(1), "conv2d: input of shape ", fmt(x.shape()), " has ",
             x.size(1), " channels but weight of shape ", fmt(weight.shape()), " with groups = ", groups,
             " expects ", weight.size(1) * groups);
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(stride[d] >= 1 && dilation[d] >= 1 && padding[d] >= 0,
               "conv2d: stride and dilation must be >= 1 "
               "and padding >= 0, got stride (",
               stride[0], ", ", stride[1], "), padding (", padding[0], ", ", padding[1], "), dilation (",
               dilation[0], ", ", dilation[1], ")");
  ConvGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3),
                 0,         0,         stride,    padding,   dilation,       groups};
  const std::int64_t span_h = g.h + 2 * padding[0] - dilation[0] * (g.kh - 1) - 1;
  const std::int64_t span_w = g.w + 2 * padding[1] - dilation[1] * (g.kw - 1) - 1;
  g.oh = span_h < 0 ? 0 : span_h / stride[0] + 1;  // (C++ division truncates negatives toward 0)
  g.ow = span_w < 0 ? 0 : span_w / stride[1] + 1;
  KILN_CHECK(g.oh > 0 && g.ow > 0, "conv2d: input of shape ", fmt(x.shape()), " is smaller than the dilated ",
             g.kh, "x", g.kw, " kernel after padding; the output would be empty");
  if (bias.defined()) {
    detail::check_same_dtype_device("conv2d", {x, bias});
    KILN_CHECK(bias.dim() == 1 && bias.size(0) == g.o, "conv2d: bias of shape ", fmt(bias.shape()),
               " does not match ", g.o, " output channels");
  }
  if (x.device().is_cuda()) return detail::conv2d_cuda(x, weight, bias, g);
  const Tensor xc = x.detach().contiguous();
  const Tensor w = weight.detach().contiguous();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  const std::int64_t K = g.k(), L = g.l(), OG = g.o / groups;
  Tensor out = Tensor::empty({g.n, g.o, g.oh, g.ow}, x.dtype());
  visit_floating(x.dtype(), "conv2d", [&]<class T>() {
    images_in_parallel<T>(g, false, {}, [&](std::int64_t img, T* col, T*) {
      const std::int64_t LD = detail::col_row_stride<T>(L);
      im2col(ptr<T>(xc) + img * g.c * g.h * g.w, g, col, LD);
      T* o = ptr<T>(out) + img * g.o * L;
      if (bc.defined())  // each channel starts at its bias and the product adds onto it (beta = 1)
        for (std::int64_t oc = 0; oc < g.o; ++oc) std::fill(o + oc * L, o + (oc + 1) * L, ptr<T>(bc)[oc]);
      for (std::int64_t gi = 0; gi < groups; ++gi)
        detail::gemm(false, false, OG, L, K, T(1), ptr<T>(w) + gi * OG * K, K, col + gi * K * LD, LD,
                     T(bc.defined() ? 1 : 0), o + gi * OG * L, L);
    });
  });
  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(out, "conv2d", {x, weight, bias},
                   [x, weight, g, nx, nw, nb](const Tensor& grad) {
                     if (is_grad_enabled())  // recording (create_graph)
                       return detail::conv2d_recorded_grads(x, weight, g, grad, nx, nw, nb);
                     const Tensor xc = x.detach().contiguous();
                     const Tensor w = weight.detach().contiguous();
                     const std::int64_t K2 = g.k(), L2 = g.l(), OG2 = g.o / g.groups;
                     const Tensor gc = grad.contiguous();
                     Grads grads(3);
                     Tensor gx = nx ? Tensor::empty({g.n, g.c, g.h, g.w}, gc.dtype()) : Tensor();
                     visit_floating(gc.dtype(), "conv2d backward", [&]<class T>() {
                       grads[1] =
                           images_in_parallel<T>(g, nw, w.shape(), [&](std::int64_t img, T* col, T* gw) {
                             const T* gn = ptr<T>(gc) + img * g.o * L2;
                             const std::int64_t LD = detail::col_row_stride<T>(L2);
                             if (nw) {  // dW_g += g_n,g @ col_g^T
                               im2col(ptr<T>(xc) + img * g.c * g.h * g.w, g, col, LD);
                               for (std::int64_t gi = 0; gi < g.groups; ++gi)
                                 detail::gemm(false, true, OG2, K2, L2, T(1), gn + gi * OG2 * L2, L2,
                                              col + gi * K2 * LD, LD, T(1), gw + gi * OG2 * K2, K2);
                             }
                             if (nx) {  // dcol_g = W_g^T @ g_n,g, then col2im into dx_n
                               for (std::int64_t gi = 0; gi < g.groups; ++gi)
                                 detail::gemm(true, false, K2, L2, OG2, T(1), ptr<T>(w) + gi * OG2 * K2, K2,
                                              gn + gi * OG2 * L2, L2, T(0), col + gi * K2 * LD, LD);
                               col2im(col, g, ptr<T>(gx) + img * g.c * g.h * g.w, LD);
                             }
                           });
                     });
                     grads[0] = gx;
                     if (nb) grads[2] = sum(gc, {0, 2, 3});
                     return grads;
                   },
                   {nw ? x : Tensor(), nx ? weight : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

// ---- Transposed convolution -----------------------------------------------------------
// conv_transpose2d runs conv2d's input gradient as its forward pass. In the geometry g of
// the conv2d it transposes, its output is g's input (g.c = C_out planes of g.h x g.w) and
// its input is g's output (g.o = C_in planes of g.oh x g.ow); the weight has conv2d's
// layout for g, (g.o, g.c / groups, kh, kw). Per image:
//   forward:   col_g = W_g^T @ x_n,g, then col2im into out_n (plus the bias)
//   backward:  col = im2col(grad_n);  dx_n,g = W_g @ col_g;  dW_g += x_n,g @ col_g^T

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Pair stride, Pair padding,
                        Pair output_padding, std::int64_t groups, Pair dilation) {
  const char* op = "conv_transpose2d";
  detail::check_same_dtype_device(op, {x, weight});
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 4, "conv_transpose2d: input must be (N, C_in, H, W) but has shape ", fmt(x.shape()));
  KILN_CHECK(weight.dim() == 4,
             "conv_transpose2d: weight must be (C_in, C_out/groups, kh, kw) but has shape ",
             fmt(weight.shape()));
  KILN_CHECK(weight.size(0) == x.size(1), "conv_transpose2d: input of shape ", fmt(x.shape()), " has ",
             x.size(1), " channels but weight of shape ", fmt(weight.shape()), " expects ", weight.size(0),
             " (its first dimension is C_in)");
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0, "conv_transpose2d: groups = ", groups,
             " must divide the input channels (", x.size(1), ")");
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(
        stride[d] >= 1 && dilation[d] >= 1 && padding[d] >= 0 && output_padding[d] >= 0 &&
            (output_padding[d] < stride[d] || output_padding[d] < dilation[d]),
        "conv_transpose2d: stride and dilation must be >= 1, padding >= 0, and output_padding >= 0 and "
        "smaller than the stride or the dilation; got stride (",
        stride[0], ", ", stride[1], "), padding (", padding[0], ", ", padding[1], "), output_padding (",
        output_padding[0], ", ", output_padding[1], "), dilation (", dilation[0], ", ", dilation[1], ")");
  const std::int64_t kh = weight.size(2), kw = weight.size(3);
  const std::int64_t out_h =
      (x.size(2) - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1;
  const std::int64_t out_w =
      (x.size(3) - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1;
  KILN_CHECK(out_h > 0 && out_w > 0, "conv_transpose2d: input of shape ", fmt(x.shape()), " with a ", kh, "x",
             kw, " kernel and padding (", padding[0], ", ", padding[1], ") gives an empty output (", out_h,
             " x ", out_w, "); reduce the padding");
  const ConvGeometry g{x.size(0), weight.size(1) * groups,
                       out_h,     out_w,
                       x.size(1), kh,
                       kw,        x.size(2),
                       x.size(3), stride,
                       padding,   dilation,
                       groups};
  if (bias.defined()) {
    detail::check_same_dtype_device(op, {x, bias});
    KILN_CHECK(bias.dim() == 1 && bias.size(0) == g.c, "conv_transpose2d: bias of shape ", fmt(bias.shape()),
               " does not match ", g.c, " output channels");
  }
  if (x.device().is_cuda()) return detail::conv_transpose2d_cuda(x, weight, bias, g);
  const Tensor xc = x.detach().contiguous();
  const Tensor w = weight.detach().contiguous();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  const std::int64_t K = g.k(), L = g.l(), OG = g.o / groups, plane = g.h * g.w;
  Tensor out = Tensor::empty({g.n, g.c, g.h, g.w}, x.dtype());
  visit_floating(x.dtype(), op, [&]<class T>() {
    images_in_parallel<T>(g, false, {}, [&](std::int64_t img, T* col, T*) {
      const std::int64_t LD = detail::col_row_stride<T>(L);
      for (std::int64_t gi = 0; gi < groups; ++gi)  // col_g = W_g^T @ x_n,g
        detail::gemm(true, false, K, L, OG, T(1), ptr<T>(w) + gi * OG * K, K,
                     ptr<T>(xc) + (img * g.o + gi * OG) * L, L, T(0), col + gi * K * LD, LD);
      T* o = ptr<T>(out) + img * g.c * plane;
      col2im(col, g, o, LD);
      if (bc.defined())
        for (std::int64_t oc = 0; oc < g.c; ++oc) {
          const T channel_bias = ptr<T>(bc)[oc];
          for (T *p = o + oc * plane, *end = p + plane; p < end; ++p) *p += channel_bias;
        }
    });
  });
  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(out, op, {x, weight, bias},
                   [x, weight, g, nx, nw, nb](const Tensor& grad) {
                     if (is_grad_enabled())  // recording (create_graph)
                       return detail::conv_transpose2d_recorded_grads(x, weight, g, grad, nx, nw, nb);
                     const Tensor xc = x.detach().contiguous();
                     const Tensor w = weight.detach().contiguous();
                     const std::int64_t K2 = g.k(), L2 = g.l(), OG2 = g.o / g.groups;
                     const Tensor gc = grad.contiguous();
                     Grads grads(3);
                     Tensor gx = nx ? Tensor::empty({g.n, g.o, g.oh, g.ow}, gc.dtype()) : Tensor();
                     visit_floating(gc.dtype(), "conv_transpose2d backward", [&]<class T>() {
                       grads[1] =
                           images_in_parallel<T>(g, nw, w.shape(), [&](std::int64_t img, T* col, T* gw) {
                             const std::int64_t LD = detail::col_row_stride<T>(L2);
                             im2col(ptr<T>(gc) + img * g.c * g.h * g.w, g, col, LD);
                             for (std::int64_t gi = 0; gi < g.groups; ++gi) {
                               const std::int64_t first = (img * g.o + gi * OG2) * L2;  // x_n,g and dx_n,g
                               if (nx)  // dx_n,g = W_g @ col_g
                                 detail::gemm(false, false, OG2, L2, K2, T(1), ptr<T>(w) + gi * OG2 * K2, K2,
                                              col + gi * K2 * LD, LD, T(0), ptr<T>(gx) + first, L2);
                               if (nw)  // dW_g += x_n,g @ col_g^T
                                 detail::gemm(false, true, OG2, K2, L2, T(1), ptr<T>(xc) + first, L2,
                                              col + gi * K2 * LD, LD, T(1), gw + gi * OG2 * K2, K2);
                             }
                           });
                     });
                     grads[0] = gx;
                     if (nb) grads[2] = sum(gc, {0, 2, 3});
                     return grads;
                   },
                   {nw ? x : Tensor(), nx ? weight : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

// ---- Pooling --------------------------------------------------------------------

namespace {

// The shared shape of both pooling backwards: dx starts at zero, and
// add_plane(src, dst) adds one (N, C) plane's output gradient src (oh * ow) into
// its input plane dst (h * w); planes run in parallel.
template <class AddPlane>
Tensor pool_backward(const Tensor& grad, const Shape& input_shape, const PoolGeometry& g, const char* name,
                     AddPlane add_plane) {
  const Tensor gc = grad.contiguous();
  Tensor gx = zeros(input_shape, gc.dtype());
  visit_floating(gc.dtype(), name, [&]<class T>() {
    T* dst = ptr<T>(gx);
    const T* src = ptr<T>(gc);
    parallel_for(0, g.planes, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t p = b; p < e; ++p) add_plane(p, src + p * g.oh * g.ow, dst + p * g.h * g.w);
    });
  });
  return gx;
}

}  // namespace

namespace {

// Each window's maximum and, where `indices` is given, its int64 position in the plane.
Tensor max_pool2d_with_geometry(const Tensor& x, const PoolGeometry& g, Tensor* indices) {
  if (x.device().is_cuda()) return detail::pool2d_cuda(x, g, /*max=*/true, indices);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.oh, g.ow}, x.dtype());
  const bool record = should_record({x});
  const bool two_by_two = g.windows_inside() && g.kernel == Pair{2, 2} && g.stride == Pair{2, 2};
  // For each output, the offset of its winner inside the input plane (the 2x2 path
  // skips it when neither a gradient nor the indices will be asked for).
  const bool keep = record || indices;
  auto argmax = std::make_shared<std::vector<std::int32_t>>(
      keep || !two_by_two ? static_cast<std::size_t>(out.numel()) : std::size_t{0});
  visit_floating(x.dtype(), "max_pool2d", [&]<class T>() {
    const T* in = ptr<T>(xc);
    T* o = ptr<T>(out);
    parallel_for(0, g.planes, 1, [&](std::int64_t b, std::int64_t e) {
      if (two_by_two) {  // the common case has its own SIMD kernel
        const auto pool = cpu::kernels<T>().max_pool2x2;
        for (std::int64_t p = b; p < e; ++p)
          pool(g.h, g.w, in + p * g.h * g.w, o + p * g.oh * g.ow,
               keep ? argmax->data() + p * g.oh * g.ow : nullptr);
        return;
      }
      // Each window clipped to the image (padding counts as -infinity), then scanned.
      for (std::int64_t p = b; p < e; ++p) {
        const T* plane = in + p * g.h * g.w;
        for (std::int64_t y = 0; y < g.oh; ++y) {
          const std::int64_t top = y * g.stride[0] - g.padding[0];
          const std::int64_t y0 = std::max<std::int64_t>(top, 0), y1 = std::min(top + g.kernel[0], g.h);
          for (std::int64_t xx = 0; xx < g.ow; ++xx) {
            const std::int64_t left = xx * g.stride[1] - g.padding[1];
            const std::int64_t x0 = std::max<std::int64_t>(left, 0), x1 = std::min(left + g.kernel[1], g.w);
            const detail::WindowMax<T> m = detail::window_max(plane, g.w, y0, y1, x0, x1);
            const std::int64_t k = (p * g.oh + y) * g.ow + xx;
            o[k] = m.value;
            (*argmax)[k] = static_cast<std::int32_t>(m.offset);
          }
        }
      }
    });
  });
  if (record) {
    // d/dx max(window) = 1 at the winner, 0 elsewhere
    attach_grad_fn(out, "max_pool2d", {x}, [argmax, g, xs = x.shape()](const Tensor& grad) {
      const std::int64_t per_plane = g.oh * g.ow;
      if (is_grad_enabled())  // recording (create_graph): an index_add at the winners
        return Grads{detail::max_pool2d_recorded_grad(
            grad,
            from_vector(std::vector<std::int64_t>(argmax->begin(), argmax->end())).reshape(grad.shape()),
            xs)};
      return Grads{
          pool_backward(grad, xs, g, "max_pool2d backward", [&](std::int64_t p, const auto* src, auto* dst) {
            for (std::int64_t k = 0; k < per_plane; ++k) dst[(*argmax)[p * per_plane + k]] += src[k];
          })};
    });
    mark_differentiable_backward(out);
  }
  if (indices) {
    *indices = Tensor::empty(out.shape(), kInt64);
    std::copy(argmax->begin(), argmax->end(), indices->data_ptr<std::int64_t>());
  }
  return out;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding, bool ceil_mode) {
  return max_pool2d_with_geometry(x, pool_geometry("max_pool2d", x, kernel, stride, padding, ceil_mode),
                                  nullptr);
}

ValuesIndices max_pool2d_with_indices(const Tensor& x, Pair kernel, Pair stride, Pair padding,
                                      bool ceil_mode) {
  ValuesIndices r;
  r.values = max_pool2d_with_geometry(x, pool_geometry("max_pool2d", x, kernel, stride, padding, ceil_mode),
                                      &r.indices);
  return r;
}

namespace {

// 1 / what window (y, x) divides by: kh kw, less what ceil_mode's windows pass the padded
// image by, less the padding too without count_include_pad (PyTorch's).
double inverse_window_area(const PoolGeometry& g, std::int64_t y, std::int64_t xx) {
  return 1.0 / static_cast<double>(cuda_kernels::pool_window_length(y, g.stride[0], g.padding[0], g.kernel[0],
                                                                    g.h, g.count_include_pad) *
                                   cuda_kernels::pool_window_length(xx, g.stride[1], g.padding[1],
                                                                    g.kernel[1], g.w, g.count_include_pad));
}

// Visits the offsets of window (y, x) inside the image: its rows and columns clipped once.
template <class Fn>
void for_window(const PoolGeometry& g, std::int64_t y, std::int64_t xx, Fn&& fn) {
  const std::int64_t top = y * g.stride[0] - g.padding[0], left = xx * g.stride[1] - g.padding[1];
  const std::int64_t y1 = std::min(top + g.kernel[0], g.h), x1 = std::min(left + g.kernel[1], g.w);
  for (std::int64_t iy = std::max<std::int64_t>(top, 0); iy < y1; ++iy)
    for (std::int64_t ix = std::max<std::int64_t>(left, 0); ix < x1; ++ix) fn(iy * g.w + ix);
}

}  // namespace

Tensor detail::max_pool2d_recorded_grad(const Tensor& grad, const Tensor& in_plane, const Shape& xs) {
  const std::int64_t planes = xs[0] * xs[1], plane = xs[2] * xs[3];
  std::vector<std::int64_t> starts(static_cast<std::size_t>(planes));
  for (std::int64_t p = 0; p < planes; ++p) starts[static_cast<std::size_t>(p)] = p * plane;
  const Tensor winners =  // offsets in the flattened input
      add(in_plane.to(kInt64), from_vector(starts).reshape({xs[0], xs[1], 1, 1}).to(grad.device()));
  return index_add(zeros({numel_of(xs)}, grad.dtype(), grad.device()), 0, winners.reshape({winners.numel()}),
                   grad.reshape({grad.numel()}))
      .reshape(xs);
}

Tensor detail::avg_pool2d_with_geometry(const Tensor& x, const PoolGeometry& g) {
  if (x.device().is_cuda()) return detail::pool2d_cuda(x, g, /*max=*/false);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.oh, g.ow}, x.dtype());
  visit_floating(x.dtype(), "avg_pool2d", [&]<class T>() {
    const T* in = ptr<T>(xc);
    T* o = ptr<T>(out);
    parallel_for(0, g.planes, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t p = b; p < e; ++p)
        for (std::int64_t y = 0; y < g.oh; ++y)
          for (std::int64_t xx = 0; xx < g.ow; ++xx) {
            double s = 0;
            for_window(g, y, xx, [&](std::int64_t off) { s += in[p * g.h * g.w + off]; });
            o[(p * g.oh + y) * g.ow + xx] = static_cast<T>(s * inverse_window_area(g, y, xx));
          }
    });
  });
  if (should_record({x})) {
    // d/dx mean(window) = 1 / (the window's divisor) for every element of the window
    attach_grad_fn(out, "avg_pool2d", {x}, [g, xs = x.shape()](const Tensor& grad) {
      return Grads{detail::avg_pool2d_adjoint(grad, g, xs)};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor detail::avg_pool2d_adjoint(const Tensor& grad, const PoolGeometry& g, const Shape& xs) {
  Tensor gx;
  {
    NoGradGuard plain;  // the kernel; recorded below as one node
    gx = grad.device().is_cuda()
             ? detail::avg_pool2d_backward_cuda(grad, g, xs)
             : pool_backward(
                   grad, xs, g, "avg_pool2d backward", [&](std::int64_t, const auto* src, auto* dst) {
                     using T = std::remove_reference_t<decltype(*dst)>;
                     for (std::int64_t y = 0; y < g.oh; ++y)
                       for (std::int64_t xx = 0; xx < g.ow; ++xx) {
                         const T v = static_cast<T>(src[y * g.ow + xx] * inverse_window_area(g, y, xx));
                         for_window(g, y, xx, [&](std::int64_t off) { dst[off] += v; });
                       }
                   });
  }
  if (should_record({grad})) {  // a recording walk: the spreading is linear, its adjoint the pooling
    attach_grad_fn(gx, "avg_pool2d backward", {grad},
                   [g](const Tensor& gg) { return Grads{detail::avg_pool2d_with_geometry(gg, g)}; });
    mark_differentiable_backward(gx);
  }
  return gx;
}

Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
                  bool count_include_pad) {
  PoolGeometry g = pool_geometry("avg_pool2d", x, kernel, stride, padding, ceil_mode);
  g.count_include_pad = count_include_pad;
  return detail::avg_pool2d_with_geometry(x, g);
}

}  // namespace kiln
