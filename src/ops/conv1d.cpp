// 1-D convolution, transposed convolution and pooling over (N, C, L) tensors: the 2-D ops on the input viewed
// as an image of height 1, (N, C, 1, L), with a kernel of height 1. They share the 2-D
// kernels (and their GPU code) and autograd derives nothing new: the views' gradients
// reshape back. Shapes are checked here first, so errors speak of the 1-D shapes.
#include "kiln/ops/conv.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// The output length of a window of `kernel` taps `dilation` apart moved by `stride`
// over `length` values padded by `padding` at each end, or 0 where it does not fit.
std::int64_t output_length(std::int64_t length, std::int64_t kernel, std::int64_t stride,
                           std::int64_t padding, std::int64_t dilation) {
  const std::int64_t span = length + 2 * padding - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

void check_input(const char* op, const Tensor& x) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 3, op, ": input must be (N, C, L) but has shape ", fmt(x.shape()));
}

// The pooling window's settings, in 1-D terms; the stride, 0 meaning the kernel size.
std::int64_t check_pool(const char* op, const Tensor& x, std::int64_t kernel, std::int64_t stride,
                        std::int64_t padding) {
  check_input(op, x);
  if (stride == 0) stride = kernel;
  KILN_CHECK(kernel >= 1 && stride >= 1 && padding >= 0 && 2 * padding <= kernel, op, ": kernel ", kernel,
             ", stride ", stride, ", padding ", padding,
             " are invalid: kernel and stride >= 1, padding at most half the kernel");
  KILN_CHECK(output_length(x.size(2), kernel, stride, padding, 1) > 0, op, ": input of shape ",
             fmt(x.shape()), " is shorter than the window of ", kernel);
  return stride;
}

}  // namespace

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::int64_t stride,
              std::int64_t padding, std::int64_t dilation, std::int64_t groups) {
  detail::check_same_dtype_device("conv1d", {x, weight});
  check_input("conv1d", x);
  KILN_CHECK(weight.dim() == 3, "conv1d: weight must be (O, C/groups, k) but has shape ",
             fmt(weight.shape()));
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0 && weight.size(0) % groups == 0,
             "conv1d: groups = ", groups, " must divide both the input channels (", x.size(1),
             ") and the output channels (", weight.size(0), ")");
  KILN_CHECK(weight.size(1) * groups == x.size(1), "conv1d: input of shape ", fmt(x.shape()), " has ",
             x.size(1), " channels but weight of shape ", fmt(weight.shape()), " with groups = ", groups,
             " expects ", weight.size(1) * groups);
  KILN_CHECK(stride >= 1 && dilation >= 1 && padding >= 0,
             "conv1d: stride and dilation must be >= 1 and padding ", ">= 0, got stride ", stride,
             ", padding ", padding, ", dilation ", dilation);
  KILN_CHECK(output_length(x.size(2), weight.size(2), stride, padding, dilation) > 0,
             "conv1d: input of shape ", fmt(x.shape()), " is shorter than the dilated kernel of ",
             weight.size(2), " after padding; the output would be empty");
  return conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, {1, stride}, {0, padding}, {1, dilation}, groups)
      .squeeze(2);
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::int64_t stride,
                        std::int64_t padding, std::int64_t output_padding, std::int64_t groups,
                        std::int64_t dilation) {
  detail::check_same_dtype_device("conv_transpose1d", {x, weight});
  check_input("conv_transpose1d", x);
  KILN_CHECK(weight.dim() == 3, "conv_transpose1d: weight must be (C, O/groups, k) but has shape ",
             fmt(weight.shape()));
  KILN_CHECK(weight.size(0) == x.size(1), "conv_transpose1d: input of shape ", fmt(x.shape()), " has ",
             x.size(1), " channels but weight of shape ", fmt(weight.shape()), " expects ", weight.size(0));
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0, "conv_transpose1d: groups = ", groups,
             " must divide the input channels (", x.size(1), ")");
  KILN_CHECK(stride >= 1 && dilation >= 1 && padding >= 0 && output_padding >= 0 &&
                 (output_padding < stride || output_padding < dilation),
             "conv_transpose1d: stride ", stride, ", dilation ", dilation, ", padding ", padding,
             ", output_padding ", output_padding,
             " are invalid: stride and dilation >= 1, padding >= 0, output_padding below the stride or the "
             "dilation");
  const std::int64_t length =
      (x.size(2) - 1) * stride - 2 * padding + dilation * (weight.size(2) - 1) + output_padding + 1;
  KILN_CHECK(length > 0, "conv_transpose1d: input of shape ", fmt(x.shape()), " with a kernel of ",
             weight.size(2), " and padding ", padding, " gives an empty output (length ", length,
             "); reduce the padding");
  return conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, {1, stride}, {0, padding},
                          {0, output_padding}, groups, {1, dilation})
      .squeeze(2);
}

Tensor max_pool1d(const Tensor& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                  bool ceil_mode) {
  stride = check_pool("max_pool1d", x, kernel, stride, padding);
  return max_pool2d(x.unsqueeze(2), {1, kernel}, {1, stride}, {0, padding}, ceil_mode).squeeze(2);
}

ValuesIndices max_pool1d_with_indices(const Tensor& x, std::int64_t kernel, std::int64_t stride,
                                      std::int64_t padding, bool ceil_mode) {
  stride = check_pool("max_pool1d", x, kernel, stride, padding);
  // On a (1, L) plane the position y W + x is x.
  ValuesIndices r =
      max_pool2d_with_indices(x.unsqueeze(2), {1, kernel}, {1, stride}, {0, padding}, ceil_mode);
  return {r.values.squeeze(2), r.indices.squeeze(2)};
}

Tensor avg_pool1d(const Tensor& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                  bool ceil_mode, bool count_include_pad) {
  stride = check_pool("avg_pool1d", x, kernel, stride, padding);
  return avg_pool2d(x.unsqueeze(2), {1, kernel}, {1, stride}, {0, padding}, ceil_mode, count_include_pad)
      .squeeze(2);
}

}  // namespace kiln
