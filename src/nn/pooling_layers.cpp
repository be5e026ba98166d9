// The pooling layers: each checks its settings when built and calls its op, which checks
// the input.
#include "kiln/nn/pooling_layers.hpp"

#include <cmath>
#include <sstream>

#include "kiln/core/error.hpp"
#include "src/nn/describe.hpp"

namespace kiln::nn {

namespace {
// The settings other than their defaults, PyTorch's names.
template <class Options>
std::string pool_flags(const Options& o, bool average) {
  std::string flags;
  if (o.ceil_mode()) flags += ", ceil_mode=true";
  if (average && !o.count_include_pad()) flags += ", count_include_pad=false";
  return flags;
}
}  // namespace

Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode());
}
std::string MaxPool2d::description() const {
  return "MaxPool2d(kernel_size=" + pair_str(options.kernel_size()) + pool_flags(options, false) + ")";
}
Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode(),
                    options.count_include_pad());
}
std::string AvgPool2d::description() const {
  return "AvgPool2d(kernel_size=" + pair_str(options.kernel_size()) + pool_flags(options, true) + ")";
}

MaxUnpool2d::MaxUnpool2d(const PoolOptions& o) : options(o) {
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(o.kernel_size()[d] >= 1 && o.stride()[d] >= 0 && o.padding()[d] >= 0, "MaxUnpool2d: kernel ",
               pair_str(o.kernel_size()), ", stride ", pair_str(o.stride()), ", padding ",
               pair_str(o.padding()),
               " are invalid: kernel >= 1, stride and padding >= 0 (stride 0: the kernel size)");
}
Tensor MaxUnpool2d::forward(const Tensor&) {
  KILN_CHECK(false, "MaxUnpool2d: it takes the pooling's indices too; call layer(x, indices)");
  return Tensor();
}
Tensor MaxUnpool2d::forward(const Tensor& x, const Tensor& indices, std::optional<Pair> output_size) {
  return max_unpool2d(x, indices, options.kernel_size(), options.stride(), options.padding(), output_size);
}
std::string MaxUnpool2d::description() const {
  const Pair stride = options.stride() == Pair{0, 0} ? options.kernel_size() : options.stride();
  return "MaxUnpool2d(kernel_size=" + pair_str(options.kernel_size()) + ", stride=" + pair_str(stride) +
         ", padding=" + pair_str(options.padding()) + ")";
}

namespace {
std::string pool1d_description(const char* layer, const Pool1dOptions& o) {
  std::ostringstream os;
  os << layer << "(kernel_size=" << o.kernel_size()
     << ", stride=" << (o.stride() == 0 ? o.kernel_size() : o.stride()) << ", padding=" << o.padding()
     << pool_flags(o, std::string(layer) == "AvgPool1d") << ")";
  return os.str();
}
}  // namespace

Tensor MaxPool1d::forward(const Tensor& x) {
  return max_pool1d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode());
}
std::string MaxPool1d::description() const { return pool1d_description("MaxPool1d", options); }
Tensor AvgPool1d::forward(const Tensor& x) {
  return avg_pool1d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode(),
                    options.count_include_pad());
}
std::string AvgPool1d::description() const { return pool1d_description("AvgPool1d", options); }

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Pair size) : output_size(size) {
  KILN_CHECK(size[0] >= 1 && size[1] >= 1, "AdaptiveAvgPool2d: output size ", pair_str(size),
             " must be >= 1");
}
Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size); }
std::string AdaptiveAvgPool2d::description() const {
  return "AdaptiveAvgPool2d(output_size=" + pair_str(output_size) + ")";
}

AdaptiveMaxPool2d::AdaptiveMaxPool2d(Pair size) : output_size(size) {
  KILN_CHECK(size[0] >= 1 && size[1] >= 1, "AdaptiveMaxPool2d: output size ", pair_str(size),
             " must be >= 1");
}
Tensor AdaptiveMaxPool2d::forward(const Tensor& x) { return adaptive_max_pool2d(x, output_size); }
std::string AdaptiveMaxPool2d::description() const {
  return "AdaptiveMaxPool2d(output_size=" + pair_str(output_size) + ")";
}

AdaptiveAvgPool1d::AdaptiveAvgPool1d(std::int64_t size) : output_size(size) {
  KILN_CHECK(size >= 1, "AdaptiveAvgPool1d: output size ", size, " must be >= 1");
}
Tensor AdaptiveAvgPool1d::forward(const Tensor& x) { return adaptive_avg_pool1d(x, output_size); }
std::string AdaptiveAvgPool1d::description() const {
  return "AdaptiveAvgPool1d(output_size=" + std::to_string(output_size) + ")";
}

AdaptiveMaxPool1d::AdaptiveMaxPool1d(std::int64_t size) : output_size(size) {
  KILN_CHECK(size >= 1, "AdaptiveMaxPool1d: output size ", size, " must be >= 1");
}
Tensor AdaptiveMaxPool1d::forward(const Tensor& x) { return adaptive_max_pool1d(x, output_size); }
std::string AdaptiveMaxPool1d::description() const {
  return "AdaptiveMaxPool1d(output_size=" + std::to_string(output_size) + ")";
}

namespace {
void check_lp_layer(const char* layer, double norm_type, std::int64_t kernel, std::int64_t stride) {
  KILN_CHECK(std::isfinite(norm_type) && norm_type > 0, layer,
             ": norm_type must be a finite number > 0, got ", norm_type);
  KILN_CHECK(kernel >= 1 && stride >= 0, layer, ": kernel size ", kernel, " must be >= 1 and stride ", stride,
             " >= 0 (0: the kernel size)");
}
}  // namespace

LPPool2d::LPPool2d(double p, Pair kernel, Pair s) : norm_type(p), kernel_size(kernel), stride(s) {
  for (int d = 0; d < 2; ++d) check_lp_layer("LPPool2d", p, kernel[d], s[d]);
}
Tensor LPPool2d::forward(const Tensor& x) { return lp_pool2d(x, norm_type, kernel_size, stride); }
std::string LPPool2d::description() const {
  std::ostringstream os;
  os << "LPPool2d(norm_type=" << norm_type << ", kernel_size=" << pair_str(kernel_size)
     << ", stride=" << pair_str(stride == Pair{0, 0} ? kernel_size : stride) << ")";
  return os.str();
}

LPPool1d::LPPool1d(double p, std::int64_t kernel, std::int64_t s)
    : norm_type(p), kernel_size(kernel), stride(s) {
  check_lp_layer("LPPool1d", p, kernel, s);
}
Tensor LPPool1d::forward(const Tensor& x) { return lp_pool1d(x, norm_type, kernel_size, stride); }
std::string LPPool1d::description() const {
  std::ostringstream os;
  os << "LPPool1d(norm_type=" << norm_type << ", kernel_size=" << kernel_size
     << ", stride=" << (stride == 0 ? kernel_size : stride) << ")";
  return os.str();
}

}  // namespace kiln::nn
