// Volumes, (N, C, D, H, W). On the CPU conv3d is im2col + GEMM per (image, output
// slice), the columns gathered straight from the volume's planes, and conv_transpose3d its
// adjoint on the same pieces (below). On a GPU conv3d is one conv2d over depth slices
// gathered as channels, and conv_transpose3d one conv_transpose2d over the slices added
// back along the depth. The 3-D poolings are two 2-D ones (the planes, then the depth).
// The GPU forms and the poolings are 2-D ops, index_selects or views, so both devices run
// them and autograd derives their backward passes.
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/blas.hpp"
#include "src/ops/im2col.hpp"

namespace kiln {

namespace {

std::string triple_str(const Triple& t) {
  std::ostringstream os;
  os << "(" << t[0] << ", " << t[1] << ", " << t[2] << ")";
  return os.str();
}

// x as (N, C, D, H, W), and whether it came unbatched (C, D, H, W).
Tensor batched(const char* op, const Tensor& x, bool& unbatched) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 5 || x.dim() == 4, op, ": input must be (N, C, D, H, W) or (C, D, H, W), got shape ",
             fmt(x.shape()));
  unbatched = x.dim() == 4;
  return unbatched ? x.unsqueeze(0) : x;
}

Tensor unbatch(const Tensor& y, bool unbatched) { return unbatched ? y.squeeze(0) : y; }

// ---- conv3d on the CPU --------------------------------------------------------------
// For image n and output slice z, col (K_all, L) holds one block of kh kw rows per
// (channel c, depth tap k), in the weight's (C, kd, kh, kw) order: the 2-D im2col of plane
// (c, z s - p + k dil), or zeros where that plane lies in the padding. Then
//   out[n, :, z] (O/G, L) = W_g (O/G, K) @ col_g (K, L),  K = C/G kd kh kw,
// written in place (row stride OD L). Backward: dW_g += g[n, :, z] @ col_g^T over every
// (n, z); dcol_g = W_g^T @ g[n, :, z], added back into dx_n plane by plane. The (image,
// slice) pairs spread over the threads (for dx, those whose planes do not overlap).
struct VolumeGeometry {
  detail::ConvGeometry plane;  // one channel's plane: c = 1, groups = 1
  std::int64_t n, c, d, o, kd, od, groups;
  std::int64_t stride, padding, dilation;              // along the depth
  std::int64_t taps() const { return plane.k_all(); }  // kh kw
  std::int64_t k() const { return c / groups * kd * taps(); }
  std::int64_t k_all() const { return c * kd * taps(); }
  std::int64_t l() const { return plane.l(); }
  template <class T>
  std::int64_t ld() const {
    return detail::col_row_stride<T>(plane.l());
  }
  std::int64_t volume() const { return d * plane.h * plane.w; }  // one channel of one image
  // The input slice that tap k of output slice z reads, or -1 in the padding.
  std::int64_t input_slice(std::int64_t z, std::int64_t k) const {
    const std::int64_t at = z * stride - padding + k * dilation;
    return at >= 0 && at < d ? at : -1;
  }
};

// The geometry of a conv3d of n volumes `in` (depth, height, width) with c channels into
// o channels of size `out`, through a kernel of size `kernel`.
VolumeGeometry volume_geometry(std::int64_t n, std::int64_t c, const Triple& in, std::int64_t o,
                               const Triple& kernel, const Triple& out, const Triple& stride,
                               const Triple& padding, const Triple& dilation, std::int64_t groups) {
  detail::ConvGeometry plane{};
  plane.n = plane.c = plane.groups = 1;
  plane.h = in[1];
  plane.w = in[2];
  plane.o = o;
  plane.kh = kernel[1];
  plane.kw = kernel[2];
  plane.oh = out[1];
  plane.ow = out[2];
  plane.stride = {stride[1], stride[2]};
  plane.padding = {padding[1], padding[2]};
  plane.dilation = {dilation[1], dilation[2]};
  return {plane, n, c, in[0], o, kernel[0], out[0], groups, stride[0], padding[0], dilation[0]};
}

template <class T>
void vol2col(const T* image, const VolumeGeometry& v, std::int64_t z, T* col) {
  const std::int64_t ld = v.ld<T>();
  for (std::int64_t ci = 0; ci < v.c; ++ci)
    for (std::int64_t k = 0; k < v.kd; ++k) {
      T* rows = col + (ci * v.kd + k) * v.taps() * ld;
      const std::int64_t at = v.input_slice(z, k);
      if (at < 0)
        std::fill(rows, rows + v.taps() * ld, T(0));
      else
        detail::im2col(image + ci * v.volume() + at * v.plane.h * v.plane.w, v.plane, rows, ld);
    }
}

// The adjoint of vol2col: adds col into the image's planes (col is scratch).
template <class T>
void col2vol_add(T* col, const VolumeGeometry& v, std::int64_t z, T* image) {
  const std::int64_t ld = v.ld<T>();
  for (std::int64_t ci = 0; ci < v.c; ++ci)
    for (std::int64_t k = 0; k < v.kd; ++k) {
      const std::int64_t at = v.input_slice(z, k);
      if (at >= 0)
        detail::col2im_add(col + (ci * v.kd + k) * v.taps() * ld, v.plane,
                           image + ci * v.volume() + at * v.plane.h * v.plane.w, ld);
    }
}

template <class T>
void conv3d_forward(const VolumeGeometry& v, const T* x, const T* w, const T* bias, T* out) {
  const std::int64_t L = v.l(), K = v.k(), OG = v.o / v.groups, ldo = v.od * L, ld = v.ld<T>();
  parallel_for(0, v.n * v.od, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<T> col(static_cast<std::size_t>(v.k_all() * ld));
    for (std::int64_t item = b; item < e; ++item) {
      const std::int64_t n = item / v.od, z = item % v.od;
      vol2col(x + n * v.c * v.volume(), v, z, col.data());
      T* o = out + n * v.o * ldo + z * L;
      if (bias)  // each channel starts at its bias and the product adds onto it (beta = 1)
        for (std::int64_t oc = 0; oc < v.o; ++oc) std::fill(o + oc * ldo, o + oc * ldo + L, bias[oc]);
      for (std::int64_t gi = 0; gi < v.groups; ++gi)
        detail::gemm(false, false, OG, L, K, T(1), w + gi * OG * K, K, col.data() + gi * K * ld, ld,
                     T(bias ? 1 : 0), o + gi * OG * ldo, ldo);
    }
  });
}

// dW over every (image, output slice), summed in a fixed order (sum_over_tasks).
template <class T>
Tensor conv3d_weight_grad(const VolumeGeometry& v, const T* x, const T* g, const Shape& shape) {
  const std::int64_t L = v.l(), K = v.k(), OG = v.o / v.groups, ldo = v.od * L, ld = v.ld<T>();
  return detail::sum_over_tasks<T>(v.n * v.od, true, shape, [&](std::int64_t b, std::int64_t e, T* gw) {
    std::vector<T> col(static_cast<std::size_t>(v.k_all() * ld));
    for (std::int64_t item = b; item < e; ++item) {
      const std::int64_t n = item / v.od, z = item % v.od;
      vol2col(x + n * v.c * v.volume(), v, z, col.data());
      const T* gz = g + n * v.o * ldo + z * L;
      for (std::int64_t gi = 0; gi < v.groups; ++gi)
        detail::gemm(false, true, OG, K, L, T(1), gz + gi * OG * ldo, ldo, col.data() + gi * K * ld, ld, T(1),
                     gw + gi * OG * K, K);
    }
  });
}

template <class T>
void conv3d_input_grad(const VolumeGeometry& v, const T* w, const T* g, T* gx) {
  const std::int64_t L = v.l(), K = v.k(), OG = v.o / v.groups, ldo = v.od * L, ld = v.ld<T>();
  std::fill(gx, gx + v.n * v.c * v.volume(), T(0));
  const std::int64_t span = v.dilation * (v.kd - 1) + 1, phases = (span + v.stride - 1) / v.stride;
  for (std::int64_t phase = 0; phase < std::min(phases, v.od); ++phase) {
    const std::int64_t per_image = (v.od - phase + phases - 1) / phases;  // z = phase + j phases
    parallel_for(0, v.n * per_image, 1, [&](std::int64_t b, std::int64_t e) {
      std::vector<T> col(static_cast<std::size_t>(v.k_all() * ld));
      for (std::int64_t item = b; item < e; ++item) {
        const std::int64_t n = item / per_image, z = phase + item % per_image * phases;
        const T* gz = g + n * v.o * ldo + z * L;
        for (std::int64_t gi = 0; gi < v.groups; ++gi)
          detail::gemm(true, false, K, L, OG, T(1), w + gi * OG * K, K, gz + gi * OG * ldo, ldo, T(0),
                       col.data() + gi * K * ld, ld);
        col2vol_add(col.data(), v, z, gx + n * v.c * v.volume());
      }
    });
  }
}

// ---- Recorded gradients (a backward pass with create_graph) ----------------------------
// In public ops, as conv2d's (conv.cpp): conv3d's input gradient is conv_transpose3d of the
// gradient, output_padding restoring what the stride skipped; its weight gradient a conv3d
// of the input's channels (as the batch) by the gradient's (as the filters), stride and
// dilation swapped, per group. conv_transpose3d's are those with the roles swapped.

Triple strides_of(const VolumeGeometry& v) { return {v.stride, v.plane.stride[0], v.plane.stride[1]}; }
Triple paddings_of(const VolumeGeometry& v) { return {v.padding, v.plane.padding[0], v.plane.padding[1]}; }
Triple dilations_of(const VolumeGeometry& v) {
  return {v.dilation, v.plane.dilation[0], v.plane.dilation[1]};
}

Tensor conv3d_recorded_weight_grad(const Tensor& x, const Tensor& grad, const VolumeGeometry& v) {
  return detail::correlated_weight_gradient(
      x, grad, v.groups, {v.kd, v.plane.kh, v.plane.kw}, [&](const Tensor& a, const Tensor& b) {
        return conv3d(a, b, Tensor(), dilations_of(v), paddings_of(v), strides_of(v));
      });
}

Grads conv3d_recorded_grads(const Tensor& x, const Tensor& weight, const VolumeGeometry& v,
                            const Tensor& grad, bool nx, bool nw, bool nb) {
  Grads grads(3);
  if (nx) {
    const Triple in{v.d, v.plane.h, v.plane.w}, out{v.od, v.plane.oh, v.plane.ow},
        kernel{v.kd, v.plane.kh, v.plane.kw};
    const Triple s = strides_of(v), p = paddings_of(v), dil = dilations_of(v);
    Triple extra{};
    for (int i = 0; i < 3; ++i)
      extra[i] = in[i] - ((out[i] - 1) * s[i] - 2 * p[i] + dil[i] * (kernel[i] - 1) + 1);
    grads[0] = conv_transpose3d(grad, weight, Tensor(), s, p, extra, v.groups, dil);
  }
  if (nw) grads[1] = conv3d_recorded_weight_grad(x, grad, v);
  if (nb) grads[2] = sum(grad, {0, 2, 3, 4});
  return grads;
}

Tensor conv3d_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias, const VolumeGeometry& v) {
  const Tensor xc = x.detach().contiguous();
  const Tensor w = weight.detach().contiguous();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor out = Tensor::empty({v.n, v.o, v.od, v.plane.oh, v.plane.ow}, x.dtype());
  visit_floating(x.dtype(), "conv3d", [&]<class T>() {
    conv3d_forward<T>(v, detail::ptr<T>(xc), detail::ptr<T>(w), bc.defined() ? detail::ptr<T>(bc) : nullptr,
                      detail::ptr<T>(out));
  });
  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(
        out, "conv3d", {x, weight, bias},
        [x, weight, v, nx, nw, nb](const Tensor& grad) {
          if (is_grad_enabled()) return conv3d_recorded_grads(x, weight, v, grad, nx, nw, nb);
          const Tensor xc = x.detach().contiguous(), w = weight.detach().contiguous();
          const Tensor gc = grad.contiguous();
          Grads grads(3);
          visit_floating(gc.dtype(), "conv3d backward", [&]<class T>() {
            if (nw) grads[1] = conv3d_weight_grad<T>(v, detail::ptr<T>(xc), detail::ptr<T>(gc), w.shape());
            if (nx) {
              grads[0] = Tensor::empty(xc.shape(), gc.dtype());
              conv3d_input_grad<T>(v, detail::ptr<T>(w), detail::ptr<T>(gc), detail::ptr<T>(grads[0]));
            }
          });
          if (nb) grads[2] = sum(gc, {0, 2, 3, 4});
          return grads;
        },
        {nw ? x : Tensor(), nx ? weight : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

// conv_transpose3d on the CPU, the adjoint of the conv3d of geometry v (whose input is the
// transpose's output): its forward is that conv3d's input gradient, its input gradient
// that conv3d, and its weight gradient that conv3d's with the roles of x and g swapped.
Tensor conv_transpose3d_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const VolumeGeometry& v) {
  const Tensor xc = x.detach().contiguous();
  const Tensor w = weight.detach().contiguous();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor out = Tensor::empty({v.n, v.c, v.d, v.plane.h, v.plane.w}, x.dtype());
  visit_floating(x.dtype(), "conv_transpose3d", [&]<class T>() {
    T* o = detail::ptr<T>(out);
    conv3d_input_grad<T>(v, detail::ptr<T>(w), detail::ptr<T>(xc), o);
    if (bc.defined()) {
      const T* b = detail::ptr<T>(bc);
      for (std::int64_t i = 0; i < v.n * v.c; ++i) {
        const T channel_bias = b[i % v.c];
        for (T *p = o + i * v.volume(), *end = p + v.volume(); p < end; ++p) *p += channel_bias;
      }
    }
  });
  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(
        out, "conv_transpose3d", {x, weight, bias},
        [x, weight, v, nx, nw, nb](const Tensor& grad) {
          if (is_grad_enabled()) {  // recording: conv3d of the gradient, and its weight gradient swapped
            return Grads{
                nx ? conv3d(grad, weight, Tensor(), strides_of(v), paddings_of(v), dilations_of(v), v.groups)
                   : Tensor(),
                nw ? conv3d_recorded_weight_grad(grad, x, v) : Tensor(),
                nb ? sum(grad, {0, 2, 3, 4}) : Tensor()};
          }
          const Tensor xc = x.detach().contiguous(), w = weight.detach().contiguous();
          const Tensor gc = grad.contiguous();
          Grads grads(3);
          visit_floating(gc.dtype(), "conv_transpose3d backward", [&]<class T>() {
            if (nx) {
              grads[0] = Tensor::empty(xc.shape(), gc.dtype());
              conv3d_forward<T>(v, detail::ptr<T>(gc), detail::ptr<T>(w), nullptr, detail::ptr<T>(grads[0]));
            }
            if (nw) grads[1] = conv3d_weight_grad<T>(v, detail::ptr<T>(gc), detail::ptr<T>(xc), w.shape());
          });
          if (nb) grads[2] = sum(gc, {0, 2, 3, 4});
          return grads;
        },
        {nw ? x : Tensor(), nx ? weight : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

}  // namespace

Tensor conv3d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Triple stride, Triple padding,
              Triple dilation, std::int64_t groups) {
  constexpr const char* op = "conv3d";
  detail::check_same_dtype_device(op, {x_in, weight});
  bool unbatched = false;
  const Tensor x = batched(op, x_in, unbatched);
  KILN_CHECK(weight.dim() == 5, op, ": weight must be (O, C/groups, kd, kh, kw), got shape ",
             fmt(weight.shape()));
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0 && weight.size(0) % groups == 0, op,
             ": groups = ", groups, " must divide both the input channels (", x.size(1),
             ") and the output channels (", weight.size(0), ")");
  KILN_CHECK(weight.size(1) * groups == x.size(1), op, ": input of shape ", fmt(x_in.shape()), " has ",
             x.size(1), " channels but weight of shape ", fmt(weight.shape()), " with groups = ", groups,
             " expects ", weight.size(1) * groups);
  for (int i = 0; i < 3; ++i)
    KILN_CHECK(stride[i] >= 1 && dilation[i] >= 1 && padding[i] >= 0, op,
               ": stride and dilation must be >= 1 and padding >= 0, got stride ", triple_str(stride),
               ", padding ", triple_str(padding), ", dilation ", triple_str(dilation));
  const std::int64_t n = x.size(0), c = x.size(1), kd = weight.size(2);
  const std::int64_t depth = x.size(2) + 2 * padding[0], span = dilation[0] * (kd - 1) + 1;
  KILN_CHECK(depth >= span, op, ": input of shape ", fmt(x_in.shape()),
             " is shallower than the dilated kernel's ", span,
             " slices after padding; the output would be empty");
  const std::int64_t od = (depth - span) / stride[0] + 1;
  if (!x.device().is_cuda()) {
    Triple out{od, 0, 0};
    for (int i = 1; i < 3; ++i) {
      const std::int64_t span_i = x.size(2 + i) + 2 * padding[i] - dilation[i] * (weight.size(2 + i) - 1) - 1;
      KILN_CHECK(span_i >= 0, op, ": input of shape ", fmt(x_in.shape()),
                 " has planes smaller than the dilated ", weight.size(3), "x", weight.size(4),
                 " kernel after padding; the output would be empty");
      out[i] = span_i / stride[i] + 1;
    }
    if (bias.defined()) {
      detail::check_same_dtype_device(op, {x, bias});
      KILN_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, ": bias of shape ", fmt(bias.shape()),
                 " does not match ", weight.size(0), " output channels");
    }
    const VolumeGeometry v =
        volume_geometry(n, c, {x.size(2), x.size(3), x.size(4)}, weight.size(0),
                        {kd, weight.size(3), weight.size(4)}, out, stride, padding, dilation, groups);
    return unbatch(conv3d_cpu(x, weight, bias, v), unbatched);
  }
  // Output depth o reads padded slices o s + k dil, k < kd: gathered in that order, they
  // become the channels of a batch of N OD images. Without groups the slices go first
  // (channel k C + c): x with its depth moved before the channels once, then one
  // index_select lands in place, and the (small) weight is reordered to match. With groups
  // each group's channels must stay together (channel c kd + k): gathered, then permuted.
  const Tensor padded = padding[0] > 0 ? pad(x, {0, 0, 0, 0, padding[0], padding[0]}) : x;
  std::vector<std::int64_t> slices;
  for (std::int64_t o = 0; o < od; ++o)
    for (std::int64_t k = 0; k < kd; ++k) slices.push_back(o * stride[0] + k * dilation[0]);
  const Tensor at = from_vector(slices).to(x.device());
  const std::int64_t h = x.size(3), w = x.size(4), o_ch = weight.size(0);
  Tensor images, planar;
  if (groups == 1) {
    images =
        index_select(padded.permute({0, 2, 1, 3, 4}).contiguous(), 1, at).reshape({n * od, kd * c, h, w});
    planar = weight.permute({0, 2, 1, 3, 4}).reshape({o_ch, kd * c, weight.size(3), weight.size(4)});
  } else {
    images = index_select(padded, 2, at)  // (N, C, OD kd, H, W)
                 .reshape({n, c, od, kd, h, w})
                 .permute({0, 2, 1, 3, 4, 5})
                 .reshape({n * od, c * kd, h, w});
    planar = weight.reshape({o_ch, weight.size(1) * kd, weight.size(3), weight.size(4)});
  }
  const Tensor y = conv2d(images, planar, bias, {stride[1], stride[2]}, {padding[1], padding[2]},
                          {dilation[1], dilation[2]}, groups);  // (N OD, O, OH, OW)
  const Tensor out =
      y.reshape({n, od, y.size(1), y.size(2), y.size(3)}).permute({0, 2, 1, 3, 4}).contiguous();
  return unbatch(out, unbatched);
}

Tensor conv_transpose3d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Triple stride,
                        Triple padding, Triple output_padding, std::int64_t groups, Triple dilation) {
  constexpr const char* op = "conv_transpose3d";
  detail::check_same_dtype_device(op, {x_in, weight});
  bool unbatched = false;
  const Tensor x = batched(op, x_in, unbatched);
  KILN_CHECK(weight.dim() == 5, op, ": weight must be (C, O/groups, kd, kh, kw), got shape ",
             fmt(weight.shape()));
  KILN_CHECK(weight.size(0) == x.size(1), op, ": input of shape ", fmt(x_in.shape()), " has ", x.size(1),
             " channels but weight of shape ", fmt(weight.shape()), " expects ", weight.size(0));
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0, op, ": groups = ", groups,
             " must divide the input channels (", x.size(1), ")");
  for (int i = 0; i < 3; ++i)
    KILN_CHECK(stride[i] >= 1 && dilation[i] >= 1 && padding[i] >= 0 && output_padding[i] >= 0 &&
                   (output_padding[i] < stride[i] || output_padding[i] < dilation[i]),
               op, ": stride ", triple_str(stride), ", dilation ", triple_str(dilation), ", padding ",
               triple_str(padding), ", output_padding ", triple_str(output_padding),
               " are invalid: stride and dilation >= 1, padding >= 0, output_padding below the stride or the "
               "dilation");
  const std::int64_t n = x.size(0), c = x.size(1), d = x.size(2), kd = weight.size(2);
  const std::int64_t out_ch = weight.size(1) * groups;
  const std::int64_t full = (d - 1) * stride[0] + dilation[0] * (kd - 1) + 1 + output_padding[0];
  const std::int64_t od = full - 2 * padding[0];
  KILN_CHECK(od >= 1, op, ": input of shape ", fmt(x_in.shape()), " gives an output depth of ", od,
             "; lower the padding");
  if (!x.device().is_cuda()) {
    Triple out{od, 0, 0};
    for (int i = 1; i < 3; ++i)
      out[i] = (x.size(2 + i) - 1) * stride[i] - 2 * padding[i] + dilation[i] * (weight.size(2 + i) - 1) +
               output_padding[i] + 1;
    KILN_CHECK(out[1] >= 1 && out[2] >= 1, op, ": input of shape ", fmt(x_in.shape()),
               " gives an output of size ", triple_str(out), "; lower the padding");
    if (bias.defined()) {
      detail::check_same_dtype_device(op, {x, bias});
      KILN_CHECK(bias.dim() == 1 && bias.size(0) == out_ch, op, ": bias of shape ", fmt(bias.shape()),
                 " does not match ", out_ch, " output channels");
    }
    const VolumeGeometry v = volume_geometry(n, out_ch, out, c, {kd, weight.size(3), weight.size(4)},
                                             {d, x.size(3), x.size(4)}, stride, padding, dilation, groups);
    return unbatch(conv_transpose3d_cpu(x, weight, bias, v), unbatched);
  }
  // Every input slice through the plane's transposed convolution, the kd kernel slices as
  // output channels o kd + k (groups stay together).
  const Tensor slices = x.permute({0, 2, 1, 3, 4}).reshape({n * d, c, x.size(3), x.size(4)});
  const Tensor planar = weight.reshape({c, weight.size(1) * kd, weight.size(3), weight.size(4)});
  const Tensor y =
      conv_transpose2d(slices, planar, Tensor(), {stride[1], stride[2]}, {padding[1], padding[2]},
                       {output_padding[1], output_padding[2]}, groups, {dilation[1], dilation[2]});
  const std::int64_t oh = y.size(2), ow = y.size(3);
  // Input slice i's k-th result lands at depth i s + k dil of the uncropped output.
  const Tensor parts =
      y.reshape({n, d, out_ch, kd, oh, ow}).permute({0, 2, 1, 3, 4, 5}).reshape({n, out_ch, d * kd, oh, ow});
  std::vector<std::int64_t> depth_of;
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t k = 0; k < kd; ++k) depth_of.push_back(i * stride[0] + k * dilation[0]);
  Tensor out = index_add(zeros({n, out_ch, full, oh, ow}, x.dtype(), x.device()), 2,
                         from_vector(depth_of).to(x.device()), parts)
                   .narrow(2, padding[0], od);
  if (bias.defined()) out = out + bias.reshape({out_ch, 1, 1, 1});
  return unbatch(out.contiguous(), unbatched);
}

namespace {

// A 3-D pooling as two 2-D ones: `planes` over each depth slice's (H, W), then `depth` over
// (D, OH OW) viewed as an image, pooling along D only.
template <class Planes, class Depth>
Tensor pool3d(const char* op, const Tensor& x_in, Planes planes, Depth depth) {
  bool unbatched = false;
  const Tensor x = batched(op, x_in, unbatched);
  const std::int64_t n = x.size(0), c = x.size(1), d = x.size(2);
  const Tensor flat = planes(x.reshape({n, c * d, x.size(3), x.size(4)}));  // (N, C D, OH, OW)
  const std::int64_t oh = flat.size(2), ow = flat.size(3);
  const Tensor pooled = depth(flat.reshape({n, c, d, oh * ow}));  // (N, C, OD, OH OW)
  return unbatch(pooled.reshape({n, c, pooled.size(2), oh, ow}), unbatched);
}

// The stride (0: the kernel), after checking the window against the input, so that errors
// speak of the 3-D shapes rather than the 2-D views: PyTorch's output size along each axis
// (rounded up with ceil_mode, the last window starting inside the input or its left padding)
// must be at least 1; average pooling also refuses an input smaller than the kernel, as
// PyTorch's avg_pool3d does.
Triple checked_stride(const char* op, const Tensor& x, const Triple& kernel, Triple stride,
                      const Triple& padding, bool ceil_mode, bool average) {
  for (int i = 0; i < 3; ++i) {
    if (stride[i] == 0) stride[i] = kernel[i];
    KILN_CHECK(kernel[i] >= 1 && stride[i] >= 1 && padding[i] >= 0 && 2 * padding[i] <= kernel[i], op,
               ": kernel ", triple_str(kernel), ", stride ", triple_str(stride), ", padding ",
               triple_str(padding), " are invalid: kernel and stride >= 1, padding at most half the kernel");
    if (x.dim() < 4) continue;  // batched() names the shape's fault
    const std::int64_t size = x.size(x.dim() - 3 + i);
    const std::int64_t span = size + 2 * padding[i] - kernel[i] + (ceil_mode ? stride[i] - 1 : 0);
    std::int64_t out = (span >= 0 ? span / stride[i] : -((-span + stride[i] - 1) / stride[i])) + 1;
    if (ceil_mode && out >= 1 && (out - 1) * stride[i] >= size + padding[i]) --out;
    KILN_CHECK(out >= 1 && (!average || size >= kernel[i]), op, ": input of shape ", fmt(x.shape()),
               " is smaller than the window ", triple_str(kernel), average ? "" : " after padding",
               "; the output would be empty");
  }
  return stride;
}

}  // namespace

Tensor max_pool3d(const Tensor& x, Triple kernel, Triple stride, Triple padding, bool ceil_mode) {
  const Triple s = checked_stride("max_pool3d", x, kernel, stride, padding, ceil_mode, false);
  return pool3d(
      "max_pool3d", x,
      [&](const Tensor& p) {
        return max_pool2d(p, {kernel[1], kernel[2]}, {s[1], s[2]}, {padding[1], padding[2]}, ceil_mode);
      },
      [&](const Tensor& p) {
        return max_pool2d(p, {kernel[0], 1}, {s[0], 1}, {padding[0], 0}, ceil_mode);
      });
}

// The planes' maxima with their positions h W + w, then the depth's with theirs: the depth
// d chosen for an output reads the plane position its own pooling chose at that depth, and
// the volume's position is d H W + h W + w. Each stage takes the first of equal values, so
// the volume's is the first in (d, h, w) order.
ValuesIndices max_pool3d_with_indices(const Tensor& x_in, Triple kernel, Triple stride, Triple padding,
                                      bool ceil_mode) {
  const Triple s = checked_stride("max_pool3d", x_in, kernel, stride, padding, ceil_mode, false);
  bool unbatched = false;
  const Tensor x = batched("max_pool3d", x_in, unbatched);
  const std::int64_t n = x.size(0), c = x.size(1), d = x.size(2), h = x.size(3), w = x.size(4);
  const ValuesIndices planes = max_pool2d_with_indices(x.reshape({n, c * d, h, w}), {kernel[1], kernel[2]},
                                                       {s[1], s[2]}, {padding[1], padding[2]}, ceil_mode);
  const std::int64_t oh = planes.values.size(2), ow = planes.values.size(3);
  const ValuesIndices depth = max_pool2d_with_indices(planes.values.reshape({n, c, d, oh * ow}),
                                                      {kernel[0], 1}, {s[0], 1}, {padding[0], 0}, ceil_mode);
  const std::int64_t od = depth.values.size(2);
  Tensor position;
  {
    NoGradGuard no_grad;
    // depth.indices = d' (OH OW) + q, q the output's own column: d' = floor(index / (OH OW)).
    const Tensor chosen = floor(depth.indices.to(kFloat64) / static_cast<double>(oh * ow)).to(kInt64);
    const Tensor in_plane = gather(planes.indices.reshape({n, c, d, oh * ow}), 2, chosen);
    position = (chosen.to(kFloat64) * static_cast<double>(h * w) + in_plane.to(kFloat64)).to(kInt64);
  }
  return {unbatch(depth.values.reshape({n, c, od, oh, ow}), unbatched),
          unbatch(position.reshape({n, c, od, oh, ow}), unbatched)};
}

Tensor avg_pool3d(const Tensor& x, Triple kernel, Triple stride, Triple padding, bool ceil_mode,
                  bool count_include_pad) {
  const Triple s = checked_stride("avg_pool3d", x, kernel, stride, padding, ceil_mode, true);
  return pool3d(
      "avg_pool3d", x,
      [&](const Tensor& p) {
        return avg_pool2d(p, {kernel[1], kernel[2]}, {s[1], s[2]}, {padding[1], padding[2]}, ceil_mode,
                          count_include_pad);
      },
      [&](const Tensor& p) {
        return avg_pool2d(p, {kernel[0], 1}, {s[0], 1}, {padding[0], 0}, ceil_mode, count_include_pad);
      });
}

namespace {
// An adaptive 3-D pool from its 2-D form: the planes to (OH, OW), then the depth to OD.
Tensor adaptive_pool3d(const char* op, const Tensor& x, Triple output_size,
                       Tensor (*pool2d)(const Tensor&, Pair)) {
  KILN_CHECK(output_size[0] >= 1 && output_size[1] >= 1 && output_size[2] >= 1, op, ": output size ",
             triple_str(output_size), " must be >= 1");
  return pool3d(
      op, x,
      [&](const Tensor& p) {
        return pool2d(p, {output_size[1], output_size[2]});
      },
      [&](const Tensor& p) {
        return pool2d(p, {output_size[0], p.size(3)});
      });
}
}  // namespace

Tensor adaptive_avg_pool3d(const Tensor& x, Triple output_size) {
  return adaptive_pool3d("adaptive_avg_pool3d", x, output_size, adaptive_avg_pool2d);
}
Tensor adaptive_max_pool3d(const Tensor& x, Triple output_size) {
  return adaptive_pool3d("adaptive_max_pool3d", x, output_size, adaptive_max_pool2d);
}

}  // namespace kiln
