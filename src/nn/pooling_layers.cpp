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
std::string pool1d_description(const char* layer, const Pool1dOptions& o, bool average) {
  std::ostringstream os;
  os << layer << "(kernel_size=" << o.kernel_size()
     << ", stride=" << (o.stride() == 0 ? o.kernel_size() : o.stride()) << ", padding=" << o.padding()
     << pool_flags(o, average) << ")";
  return os.str();
}
}  // namespace

Tensor MaxPool1d::forward(const Tensor& x) {
  return max_pool1d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode());
}
std::string MaxPool1d::description() const { return pool1d_description("MaxPool1d", options, false); }
Tensor AvgPool1d::forward(const Tensor& x) {
  return avg_pool1d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode(),
                    options.count_include_pad());
}
std::string AvgPool1d::description() const { return pool1d_description("AvgPool1d", options, true); }

namespace {
std::string size_str(Triple t) { return triple_str(t); }
std::string size_str(Pair p) { return pair_str(p); }
std::string size_str(std::int64_t n) { return std::to_string(n); }
bool positive(Triple t) { return t[0] >= 1 && t[1] >= 1 && t[2] >= 1; }
bool positive(Pair p) { return p[0] >= 1 && p[1] >= 1; }
bool positive(std::int64_t n) { return n >= 1; }
}  // namespace

template <class Size>
AdaptivePooling<Size>::AdaptivePooling(const char* name, Op op, Size size)
    : output_size(size), name_(name), op_(op) {
  KILN_CHECK(positive(size), name, ": output size ", size_str(size), " must be >= 1");
}
template <class Size>
std::string AdaptivePooling<Size>::description() const {
  return std::string(name_) + "(output_size=" + size_str(output_size) + ")";
}
template class AdaptivePooling<Triple>;
template class AdaptivePooling<Pair>;
template class AdaptivePooling<std::int64_t>;

Tensor MaxPool3d::forward(const Tensor& x) {
  return max_pool3d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode());
}
std::string MaxPool3d::description() const {
  return "MaxPool3d(kernel_size=" + size_str(options.kernel_size()) + pool_flags(options, false) + ")";
}
Tensor MaxUnpool1d::forward(const Tensor&) {
  KILN_CHECK(false, "MaxUnpool1d: it takes the pooling's indices too; call layer(x, indices)");
  return Tensor();
}
Tensor MaxUnpool1d::forward(const Tensor& x, const Tensor& indices, std::optional<std::int64_t> output_size) {
  return max_unpool1d(x, indices, options.kernel_size(), options.stride(), options.padding(), output_size);
}
std::string MaxUnpool1d::description() const {
  const std::int64_t stride = options.stride() == 0 ? options.kernel_size() : options.stride();
  return "MaxUnpool1d(kernel_size=" + std::to_string(options.kernel_size()) +
         ", stride=" + std::to_string(stride) + ", padding=" + std::to_string(options.padding()) + ")";
}
Tensor MaxUnpool3d::forward(const Tensor&) {
  KILN_CHECK(false, "MaxUnpool3d: it takes the pooling's indices too; call layer(x, indices)");
  return Tensor();
}
Tensor MaxUnpool3d::forward(const Tensor& x, const Tensor& indices, std::optional<Triple> output_size) {
  return max_unpool3d(x, indices, options.kernel_size(), options.stride(), options.padding(), output_size);
}
std::string MaxUnpool3d::description() const {
  Triple stride = options.stride();
  for (int i = 0; i < 3; ++i)
    if (stride[i] == 0) stride[i] = options.kernel_size()[i];
  return "MaxUnpool3d(kernel_size=" + triple_str(options.kernel_size()) + ", stride=" + triple_str(stride) +
         ", padding=" + triple_str(options.padding()) + ")";
}

Tensor AvgPool3d::forward(const Tensor& x) {
  return avg_pool3d(x, options.kernel_size(), options.stride(), options.padding(), options.ceil_mode(),
                    options.count_include_pad());
}
std::string AvgPool3d::description() const {
  return "AvgPool3d(kernel_size=" + size_str(options.kernel_size()) + pool_flags(options, true) + ")";
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
