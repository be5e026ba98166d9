// Volumes, (N, C, D, H, W): conv3d as one conv2d over depth slices gathered as channels,
// conv_transpose3d as one conv_transpose2d over the slices added back along the depth,
// and the 3-D poolings as two 2-D ones (the planes, then the depth). Every step is a 2-D
// op, an index_select or a view, so both devices run them and autograd derives the
// backward passes.
#include <sstream>
#include <string>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

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
