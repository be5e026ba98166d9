// conv2d and pooling on the GPU. The whole batch is unfolded at once into
// col (C*kh*kw, N*OH*OW), so each group is one cuBLAS GEMM over every image:
//   out^T (O, N*L) = W (O, K) @ col (K, N*L),          then permuted to (N, O, OH, OW)
//   dW (O, K)      = g^T (O, N*L) @ col^T               (g permuted to (O, N*L) first)
//   dcol (K, N*L)  = W^T @ g^T,                         then col2im gathers dcol into dx
// When the weight needs a gradient, the forward's col is kept for dW (the GPU has
// the memory: 29 MB for the Fashion CNN's second convolution at batch 128), so
// each training step unfolds the batch once.
#include "src/ops/conv_cuda.hpp"

#include <memory>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/cuda/glue.hpp"

namespace kiln::detail {

namespace {

cuda_kernels::ConvShape conv_shape(const ConvGeometry& g) {
  return {g.n,  g.c,         g.h,         g.w,          g.kh,         g.kw,          g.oh,
          g.ow, g.stride[0], g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1]};
}

// Element `elements` of t's storage view, as an untyped device pointer.
void* at(const Tensor& t, std::int64_t elements) {
  return static_cast<char*>(t.device_data_ptr()) + elements * static_cast<std::int64_t>(itemsize(t.dtype()));
}

// (N, O, L) <-> (O, N*L): the layout the batched GEMM produces and consumes.
Tensor to_channels_major(const Tensor& t, std::int64_t n, std::int64_t o, std::int64_t l) {
  return t.reshape({n, o, l}).permute({1, 0, 2}).contiguous().reshape({o, n * l});
}

// dW_g (O/G, K) = a_g (O/G, N*L) @ col_g^T for each group: a is conv2d's output gradient
// or conv_transpose2d's input, channels-major. An empty batch has no products (and
// cuBLAS takes no empty inner dimension): zeros.
Tensor weight_gradient(const ConvGeometry& g, cuda_kernels::Scalar t, const Tensor& a, const Tensor& col,
                       const Tensor& w) {
  const std::int64_t K = g.k(), NL = g.n * g.l(), OG = g.o / g.groups;
  if (NL == 0) return zeros(w.shape(), w.dtype(), w.device());
  Tensor gw = Tensor::empty(w.shape(), w.dtype(), w.device());
  for (std::int64_t gi = 0; gi < g.groups; ++gi)
    cuda_for(w).gemm(t, false, true, OG, K, NL, at(a, gi * OG * NL), NL, at(col, gi * K * NL), NL, 0.0,
                     at(gw, gi * OG * K), K);
  return gw;
}

}  // namespace

Tensor conv2d_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g) {
  const char* op = "conv2d";
  const Tensor xc = x.detach().contiguous();
  const Tensor w = weight.detach().contiguous();
  const auto& k = cuda_for(x);
  const auto t = cuda_scalar(x.dtype(), op);
  const cuda_kernels::ConvShape s = conv_shape(g);
  const std::int64_t K = g.k(), L = g.l(), NL = g.n * L, OG = g.o / g.groups;

  Tensor col = Tensor::empty({g.k_all(), NL}, x.dtype(), x.device());
  k.im2col(t, s, dptr(xc), dptr(col));
  Tensor out_t = Tensor::empty({g.o, NL}, x.dtype(), x.device());
  for (std::int64_t gi = 0; gi < g.groups; ++gi)
    k.gemm(t, false, false, OG, NL, K, at(w, gi * OG * K), K, at(col, gi * K * NL), NL, 0.0,
           at(out_t, gi * OG * NL), NL);
  const bool record = should_record({x, weight, bias});
  const bool nx = x.requires_grad(), nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad();
  if (!(record && nw)) col = Tensor();  // not needed for dW: free the columns before the output copy
  // Permuted to (N, O, L) by the pass that adds the bias (one kernel either way).
  const Tensor permuted = out_t.reshape({g.o, g.n, L}).permute({1, 0, 2});
  Tensor out = (bias.defined() ? add(permuted, bias.detach().reshape({1, g.o, 1})) : permuted.contiguous())
                   .reshape({g.n, g.o, g.oh, g.ow});

  if (record) {
    attach_grad_fn(out, op, {x, weight, bias},
                   [x, weight, xc, w, col, g, s, t, nx, nw, nb](const Tensor& grad) {
                     if (is_grad_enabled())  // recording (create_graph)
                       return conv2d_recorded_grads(x, weight, g, grad, nx, nw, nb);
                     const auto& kk = cuda_for(xc);
                     const std::int64_t K2 = g.k(), NL2 = g.n * g.l(), OG2 = g.o / g.groups;
                     const Tensor gc = grad.contiguous();
                     const Tensor g_t = to_channels_major(gc, g.n, g.o, g.l());
                     Grads grads(3);
                     if (nw) grads[1] = weight_gradient(g, t, g_t, col, w);
                     if (nx) {
                       Tensor dcol = Tensor::empty({g.k_all(), NL2}, xc.dtype(), xc.device());
                       for (std::int64_t gi = 0; gi < g.groups; ++gi)
                         kk.gemm(t, true, false, K2, NL2, OG2, at(w, gi * OG2 * K2), K2,
                                 at(g_t, gi * OG2 * NL2), NL2, 0.0, at(dcol, gi * K2 * NL2), NL2);
                       Tensor gx = Tensor::empty(xc.shape(), xc.dtype(), xc.device());
                       kk.col2im(t, s, dptr(dcol), dptr(gx));
                       grads[0] = gx;
                     }
                     if (nb) grads[2] = sum(g_t, {1});  // (O, N*L) rows: one reduction, not two
                     return grads;
                   },
                   {nx ? w : Tensor()});  // dW reads the columns, made in the forward pass
    mark_differentiable_backward(out);
  }
  return out;
}

// conv_transpose2d runs the same products in another order (g is the geometry of the
// conv2d it transposes; its input x is that conv2d's output, channels-major as x^T):
//   dcol (K, N*L) = W^T @ x^T, then col2im gathers dcol into out (N, C_out, OH, OW)
//   backward: col = im2col(grad);  dx^T (C_in, N*L) = W @ col;  dW = x^T @ col^T
Tensor conv_transpose2d_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const ConvGeometry& g) {
  const char* op = "conv_transpose2d";
  const Tensor w = weight.detach().contiguous();
  const auto& k = cuda_for(x);
  const auto t = cuda_scalar(x.dtype(), op);
  const cuda_kernels::ConvShape s = conv_shape(g);
  const std::int64_t K = g.k(), L = g.l(), NL = g.n * L, OG = g.o / g.groups;
  const Tensor x_t = to_channels_major(x.detach().contiguous(), g.n, g.o, L);
  Tensor dcol = Tensor::empty({g.k_all(), NL}, x.dtype(), x.device());
  for (std::int64_t gi = 0; gi < g.groups; ++gi)
    k.gemm(t, true, false, K, NL, OG, at(w, gi * OG * K), K, at(x_t, gi * OG * NL), NL, 0.0,
           at(dcol, gi * K * NL), NL);
  Tensor out = Tensor::empty({g.n, g.c, g.h, g.w}, x.dtype(), x.device());
  k.col2im(t, s, dptr(dcol), dptr(out));
  dcol = Tensor();
  if (bias.defined()) out = add(out, bias.detach().reshape({1, g.c, 1, 1}));

  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    const Tensor saved_x_t = nw ? x_t : Tensor();
    attach_grad_fn(
        out, op, {x, weight, bias},
        [x, weight, saved_x_t, w, g, s, t, nx, nw, nb](const Tensor& grad) {
          if (is_grad_enabled())  // recording (create_graph)
            return conv_transpose2d_recorded_grads(x, weight, g, grad, nx, nw, nb);
          const auto& kk = cuda_for(w);
          const std::int64_t K2 = g.k(), L2 = g.l(), NL2 = g.n * L2, OG2 = g.o / g.groups;
          const Tensor gc = grad.contiguous();
          Tensor col = Tensor::empty({g.k_all(), NL2}, gc.dtype(), gc.device());
          kk.im2col(t, s, dptr(gc), dptr(col));
          Grads grads(3);
          if (nx) {
            Tensor gx_t = Tensor::empty({g.o, NL2}, gc.dtype(), gc.device());
            for (std::int64_t gi = 0; gi < g.groups; ++gi)
              kk.gemm(t, false, false, OG2, NL2, K2, at(w, gi * OG2 * K2), K2, at(col, gi * K2 * NL2), NL2,
                      0.0, at(gx_t, gi * OG2 * NL2), NL2);
            grads[0] =
                gx_t.reshape({g.o, g.n, L2}).permute({1, 0, 2}).contiguous().reshape({g.n, g.o, g.oh, g.ow});
          }
          if (nw) grads[1] = weight_gradient(g, t, saved_x_t, col, w);
          if (nb) grads[2] = sum(gc, {0, 2, 3});
          return grads;
        },
        {nx ? w : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

namespace {
cuda_kernels::PoolShape pool_shape(const PoolGeometry& g) {
  return {g.planes,    g.h,         g.w,         g.oh,         g.ow,         g.kernel[0],
          g.kernel[1], g.stride[0], g.stride[1], g.padding[0], g.padding[1], g.count_include_pad};
}
}  // namespace

Tensor pool2d_cuda(const Tensor& x, const PoolGeometry& g, bool max, Tensor* indices) {
  const char* op = max ? "max_pool2d" : "avg_pool2d";
  const Tensor xc = x.detach().contiguous();
  const auto& k = cuda_for(x);
  const auto t = cuda_scalar(x.dtype(), op);
  const cuda_kernels::PoolShape s = pool_shape(g);
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.oh, g.ow}, x.dtype(), x.device());
  Tensor argmax;
  if (max) {
    argmax = Tensor::empty(out.shape(), kInt32, x.device());
    k.max_pool(t, s, dptr(xc), dptr(out), dptr<std::int32_t>(argmax));
    if (indices) *indices = argmax.to(kInt64);
  } else {
    k.avg_pool(t, s, dptr(xc), dptr(out));
  }
  if (should_record({x})) {
    // max: d/dx = 1 at each window's winner; avg: 1 / (kh kw) over each window
    attach_grad_fn(out, op, {x}, [g, s, t, max, argmax, xs = x.shape()](const Tensor& grad) {
      if (!max) return Grads{avg_pool2d_adjoint(grad, g, xs)};
      if (is_grad_enabled())  // recording (create_graph): an index_add at the winners
        return Grads{max_pool2d_recorded_grad(grad, argmax, xs)};
      const Tensor gc = grad.contiguous();
      Tensor gx = Tensor::empty(xs, gc.dtype(), gc.device());
      cuda_for(gc).max_pool_backward(t, s, dptr(gc), dptr<std::int32_t>(argmax), dptr(gx));
      return Grads{gx};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor avg_pool2d_backward_cuda(const Tensor& grad, const PoolGeometry& g, const Shape& xs) {
  const Tensor gc = grad.contiguous();
  Tensor gx = Tensor::empty(xs, gc.dtype(), gc.device());
  cuda_for(gc).avg_pool_backward(cuda_scalar(gc.dtype(), "avg_pool2d backward"), pool_shape(g), dptr(gc),
                                 dptr(gx));
  return gx;
}

}  // namespace kiln::detail
