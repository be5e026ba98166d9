// conv2d by im2col + GEMM, over the whole batch at once:
//   col (G, K, N*L) with K = C/G * kh * kw rows, L = OH * OW output positions
//   out_g (O/G, N*L) = W_g (O/G, K) @ col_g
// Backward: dW_g = g_g @ col_g^T,  dcol_g = W_g^T @ g_g, then col2im adds dcol back into dx.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kiln/autograd/node.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/blas.hpp"

namespace kiln {

using detail::ptr;

namespace {

struct ConvGeometry {
  std::int64_t n, c, h, w;        // input
  std::int64_t o, kh, kw;         // filters
  std::int64_t oh, ow;            // output
  Pair stride, padding, dilation;
  std::int64_t groups;
  std::int64_t k() const { return c / groups * kh * kw; }  // rows of one group's col
  std::int64_t l() const { return oh * ow; }
};

// col[(ci*kh + i)*kw + j][img*L + y*OW + x] = input[img][ci][y*s - p + i*d][x*s - p + j*d] (0 outside).
// Rows are ordered by channel, so group g owns the row block [g*K, (g+1)*K).
template <class T>
void im2col(const T* in, const ConvGeometry& g, T* col) {
  const std::int64_t nl = g.n * g.l();
  parallel_for(0, g.c * g.kh * g.kw, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t row = b; row < e; ++row) {
      const std::int64_t ci = row / (g.kh * g.kw), i = row / g.kw % g.kh, j = row % g.kw;
      T* dst = col + row * nl;
      for (std::int64_t img = 0; img < g.n; ++img) {
        const T* plane = in + (img * g.c + ci) * g.h * g.w;
        for (std::int64_t y = 0; y < g.oh; ++y) {
          const std::int64_t iy = y * g.stride[0] - g.padding[0] + i * g.dilation[0];
          T* out = dst + img * g.l() + y * g.ow;
          if (iy < 0 || iy >= g.h) {
            std::fill(out, out + g.ow, T(0));
            continue;
          }
          for (std::int64_t x = 0; x < g.ow; ++x) {
            const std::int64_t ix = x * g.stride[1] - g.padding[1] + j * g.dilation[1];
            out[x] = (ix >= 0 && ix < g.w) ? plane[iy * g.w + ix] : T(0);
          }
        }
      }
    }
  });
}

// The adjoint of im2col: dx[...] += dcol[row][...]. Parallel over input channels
// (each channel's rows touch only that channel's planes).
template <class T>
void col2im(const T* col, const ConvGeometry& g, T* dx) {
  const std::int64_t nl = g.n * g.l();
  std::fill(dx, dx + g.n * g.c * g.h * g.w, T(0));
  parallel_for(0, g.c, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t ci = b; ci < e; ++ci)
      for (std::int64_t i = 0; i < g.kh; ++i)
        for (std::int64_t j = 0; j < g.kw; ++j) {
          const T* src = col + ((ci * g.kh + i) * g.kw + j) * nl;
          for (std::int64_t img = 0; img < g.n; ++img) {
            T* plane = dx + (img * g.c + ci) * g.h * g.w;
            for (std::int64_t y = 0; y < g.oh; ++y) {
              const std::int64_t iy = y * g.stride[0] - g.padding[0] + i * g.dilation[0];
              if (iy < 0 || iy >= g.h) continue;
              const T* s = src + img * g.l() + y * g.ow;
              for (std::int64_t x = 0; x < g.ow; ++x) {
                const std::int64_t ix = x * g.stride[1] - g.padding[1] + j * g.dilation[1];
                if (ix >= 0 && ix < g.w) plane[iy * g.w + ix] += s[x];
              }
            }
          }
        }
  });
}

// (O, N*L) -> (N, O, L), adding bias[o] when given.
template <class T>
void scatter_output(const T* tmp, const ConvGeometry& g, const T* bias, T* out) {
  parallel_for(0, g.n * g.o, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const std::int64_t img = r / g.o, oc = r % g.o;
      const T* src = tmp + oc * g.n * g.l() + img * g.l();
      T* dst = out + r * g.l();
      const T add = bias ? bias[oc] : T(0);
      for (std::int64_t k = 0; k < g.l(); ++k) dst[k] = src[k] + add;
    }
  });
}

// (N, O, L) -> (O, N*L)
template <class T>
void gather_grad(const T* grad, const ConvGeometry& g, T* tmp) {
  parallel_for(0, g.n * g.o, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const std::int64_t img = r / g.o, oc = r % g.o;
      std::memcpy(tmp + oc * g.n * g.l() + img * g.l(), grad + r * g.l(), g.l() * sizeof(T));
    }
  });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Pair stride, Pair padding, Pair dilation,
              std::int64_t groups) {
  detail::check_same_dtype_device("conv2d", {x, weight});
  detail::check_floating("conv2d", x);
  KILN_CHECK(x.dim() == 4, "conv2d: input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  KILN_CHECK(weight.dim() == 4, "conv2d: weight must be (O, C/groups, kh, kw) but has shape ", fmt(weight.shape()));
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0 && weight.size(0) % groups == 0, "conv2d: groups = ", groups,
             " must divide both the input channels (", x.size(1), ") and the output channels (", weight.size(0), ")");
  KILN_CHECK(weight.size(1) * groups == x.size(1), "conv2d: input of shape ", fmt(x.shape()), " has ", x.size(1),
             " channels but weight of shape ", fmt(weight.shape()), " with groups = ", groups, " expects ",
             weight.size(1) * groups);
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(stride[d] >= 1 && dilation[d] >= 1 && padding[d] >= 0, "conv2d: stride and dilation must be >= 1 "
               "and padding >= 0, got stride (", stride[0], ", ", stride[1], "), padding (", padding[0], ", ",
               padding[1], "), dilation (", dilation[0], ", ", dilation[1], ")");
  ConvGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3),
                 0, 0, stride, padding, dilation, groups};
  g.oh = (g.h + 2 * padding[0] - dilation[0] * (g.kh - 1) - 1) / stride[0] + 1;
  g.ow = (g.w + 2 * padding[1] - dilation[1] * (g.kw - 1) - 1) / stride[1] + 1;
  KILN_CHECK(g.oh > 0 && g.ow > 0, "conv2d: input of shape ", fmt(x.shape()), " is smaller than the dilated ",
             g.kh, "x", g.kw, " kernel after padding; the output would be empty");
  if (bias.defined()) {
    detail::check_same_dtype_device("conv2d", {x, bias});
    KILN_CHECK(bias.dim() == 1 && bias.size(0) == g.o, "conv2d: bias of shape ", fmt(bias.shape()),
               " does not match ", g.o, " output channels");
  }
  const Tensor xc = x.detach().contiguous();
  const Tensor w = weight.detach().contiguous();
  const std::int64_t K = g.k(), NL = g.n * g.l(), OG = g.o / groups;
  Tensor col = Tensor::empty({g.c * g.kh * g.kw, NL}, x.dtype());
  Tensor out = Tensor::empty({g.n, g.o, g.oh, g.ow}, x.dtype());
  visit_floating(x.dtype(), "conv2d", [&]<class T>() {
    im2col(ptr<T>(xc), g, ptr<T>(col));
    Tensor tmp = Tensor::empty({g.o, NL}, x.dtype());
    for (std::int64_t gi = 0; gi < groups; ++gi)
      detail::gemm(false, false, OG, NL, K, T(1), ptr<T>(w) + gi * OG * K, K, ptr<T>(col) + gi * K * NL, NL, T(0),
                   ptr<T>(tmp) + gi * OG * NL, NL);
    const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
    scatter_output(ptr<T>(tmp), g, bc.defined() ? ptr<T>(bc) : nullptr, ptr<T>(out));
  });
  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(out, "conv2d", {x, weight, bias}, [col, w, g, nx, nw, nb](const Tensor& grad) {
      const std::int64_t K2 = g.k(), NL2 = g.n * g.l(), OG2 = g.o / g.groups;
      const Tensor gc = grad.contiguous();
      Tensor gt = Tensor::empty({g.o, NL2}, gc.dtype());
      Grads grads(3);
      visit_floating(gc.dtype(), "conv2d backward", [&]<class T>() {
        gather_grad(ptr<T>(gc), g, ptr<T>(gt));
        if (nw) {  // dW_g = g_g @ col_g^T
          Tensor gw = Tensor::empty(w.shape(), gc.dtype());
          for (std::int64_t gi = 0; gi < g.groups; ++gi)
            detail::gemm(false, true, OG2, K2, NL2, T(1), ptr<T>(gt) + gi * OG2 * NL2, NL2,
                         ptr<T>(col) + gi * K2 * NL2, NL2, T(0), ptr<T>(gw) + gi * OG2 * K2, K2);
          grads[1] = gw;
        }
        if (nx) {  // dcol_g = W_g^T @ g_g, then col2im
          Tensor dcol = Tensor::empty(col.shape(), gc.dtype());
          for (std::int64_t gi = 0; gi < g.groups; ++gi)
            detail::gemm(true, false, K2, NL2, OG2, T(1), ptr<T>(w) + gi * OG2 * K2, K2, ptr<T>(gt) + gi * OG2 * NL2,
                         NL2, T(0), ptr<T>(dcol) + gi * K2 * NL2, NL2);
          Tensor gx = Tensor::empty({g.n, g.c, g.h, g.w}, gc.dtype());
          col2im(ptr<T>(dcol), g, ptr<T>(gx));
          grads[0] = gx;
        }
      });
      if (nb) grads[2] = sum(gt, {1});
      return grads;
    });
  }
  return out;
}

// ---- Pooling --------------------------------------------------------------------

namespace {

struct PoolGeometry {
  std::int64_t planes, h, w, oh, ow;
  Pair kernel, stride, padding;
};

PoolGeometry pool_geometry(const char* op, const Tensor& x, Pair kernel, Pair stride, Pair padding) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 4, op, ": input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(kernel[d] >= 1 && stride[d] >= 1 && padding[d] >= 0 && 2 * padding[d] <= kernel[d], op,
               ": kernel (", kernel[0], ", ", kernel[1], "), stride (", stride[0], ", ", stride[1], "), padding (",
               padding[0], ", ", padding[1], ") are invalid: kernel and stride >= 1, padding at most half the kernel");
  PoolGeometry g{x.size(0) * x.size(1), x.size(2), x.size(3), 0, 0, kernel, stride, padding};
  g.oh = (g.h + 2 * padding[0] - kernel[0]) / stride[0] + 1;
  g.ow = (g.w + 2 * padding[1] - kernel[1]) / stride[1] + 1;
  KILN_CHECK(g.oh > 0 && g.ow > 0, op, ": input of shape ", fmt(x.shape()), " is smaller than the ", kernel[0], "x",
             kernel[1], " window");
  return g;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding) {
  const PoolGeometry g = pool_geometry("max_pool2d", x, kernel, stride, padding);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.oh, g.ow}, x.dtype());
  // For each output, the offset of its winner inside the input plane.
  auto argmax = std::make_shared<std::vector<std::int32_t>>(static_cast<std::size_t>(out.numel()));
  visit_floating(x.dtype(), "max_pool2d", [&]<class T>() {
    const T* in = ptr<T>(xc);
    T* o = ptr<T>(out);
    parallel_for(0, g.planes, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t p = b; p < e; ++p)
        for (std::int64_t y = 0; y < g.oh; ++y)
          for (std::int64_t xx = 0; xx < g.ow; ++xx) {
            T best = -std::numeric_limits<T>::infinity();
            std::int32_t where = -1;
            for (std::int64_t i = 0; i < g.kernel[0]; ++i) {
              const std::int64_t iy = y * g.stride[0] - g.padding[0] + i;
              if (iy < 0 || iy >= g.h) continue;
              for (std::int64_t j = 0; j < g.kernel[1]; ++j) {
                const std::int64_t ix = xx * g.stride[1] - g.padding[1] + j;
                if (ix < 0 || ix >= g.w) continue;
                const T v = in[(p * g.h + iy) * g.w + ix];
                if (where < 0 || v > best || v != v) {  // first maximum; NaN wins
                  best = v;
                  where = static_cast<std::int32_t>(iy * g.w + ix);
                  if (v != v) break;
                }
              }
            }
            const std::int64_t k = (p * g.oh + y) * g.ow + xx;
            o[k] = best;
            (*argmax)[k] = where;
          }
    });
  });
  if (should_record({x})) {
    // d/dx max(window) = 1 at the winner, 0 elsewhere
    attach_grad_fn(out, "max_pool2d", {x}, [argmax, g, xs = x.shape()](const Tensor& grad) {
      const Tensor gc = grad.contiguous();
      Tensor gx = Tensor::empty(xs, gc.dtype());
      visit_floating(gc.dtype(), "max_pool2d backward", [&]<class T>() {
        T* dst = ptr<T>(gx);
        const T* src = ptr<T>(gc);
        std::fill(dst, dst + gx.numel(), T(0));
        const std::int64_t per_plane = g.oh * g.ow;
        parallel_for(0, g.planes, 1, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t p = b; p < e; ++p)
            for (std::int64_t k = 0; k < per_plane; ++k)
              dst[p * g.h * g.w + (*argmax)[p * per_plane + k]] += src[p * per_plane + k];
        });
      });
      return Grads{gx};
    });
  }
  return out;
}

Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding) {
  const PoolGeometry g = pool_geometry("avg_pool2d", x, kernel, stride, padding);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.oh, g.ow}, x.dtype());
  const double inv_area = 1.0 / static_cast<double>(g.kernel[0] * g.kernel[1]);
  // Visits each (output, input) pair of a window that lies inside the image.
  auto for_window = [g](std::int64_t y, std::int64_t xx, auto&& fn) {
    for (std::int64_t i = 0; i < g.kernel[0]; ++i) {
      const std::int64_t iy = y * g.stride[0] - g.padding[0] + i;
      if (iy < 0 || iy >= g.h) continue;
      for (std::int64_t j = 0; j < g.kernel[1]; ++j) {
        const std::int64_t ix = xx * g.stride[1] - g.padding[1] + j;
        if (ix >= 0 && ix < g.w) fn(iy * g.w + ix);
      }
    }
  };
  visit_floating(x.dtype(), "avg_pool2d", [&]<class T>() {
    const T* in = ptr<T>(xc);
    T* o = ptr<T>(out);
    parallel_for(0, g.planes, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t p = b; p < e; ++p)
        for (std::int64_t y = 0; y < g.oh; ++y)
          for (std::int64_t xx = 0; xx < g.ow; ++xx) {
            double s = 0;
            for_window(y, xx, [&](std::int64_t off) { s += in[p * g.h * g.w + off]; });
            o[(p * g.oh + y) * g.ow + xx] = static_cast<T>(s * inv_area);
          }
    });
  });
  if (should_record({x})) {
    // d/dx mean(window) = 1 / (kh kw) for every element of the window
    attach_grad_fn(out, "avg_pool2d", {x}, [g, xs = x.shape(), inv_area, for_window](const Tensor& grad) {
      const Tensor gc = grad.contiguous();
      Tensor gx = Tensor::empty(xs, gc.dtype());
      visit_floating(gc.dtype(), "avg_pool2d backward", [&]<class T>() {
        T* dst = ptr<T>(gx);
        const T* src = ptr<T>(gc);
        std::fill(dst, dst + gx.numel(), T(0));
        parallel_for(0, g.planes, 1, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t p = b; p < e; ++p)
            for (std::int64_t y = 0; y < g.oh; ++y)
              for (std::int64_t xx = 0; xx < g.ow; ++xx) {
                const T v = static_cast<T>(src[(p * g.oh + y) * g.ow + xx] * inv_area);
                for_window(y, xx, [&](std::int64_t off) { dst[p * g.h * g.w + off] += v; });
              }
        });
      });
      return Grads{gx};
    });
  }
  return out;
}

}  // namespace kiln
