// Pooling layers: max, average, adaptive and power-average pooling over sequences
// (N, C, L) and images (N, C, H, W), each a Module around its kiln:: op of the same name.
// kiln/nn/layers.hpp includes this header.
#pragma once

#include <optional>
#include <string>

#include "kiln/nn/module.hpp"
#include "kiln/nn/options.hpp"
#include "kiln/ops/conv.hpp"

namespace kiln::nn {

// What the pooling layers share: their options, built from a kernel size or given whole.
template <class Options>
class Pooling : public Module {
public:
  explicit Pooling(const Options& options) : options(options) {}
  explicit Pooling(std::int64_t kernel) : options(kernel) {}
  Options options;
};

struct Pool1dOptions {
  explicit Pool1dOptions(std::int64_t kernel) : kernel_size_(kernel) {}
  KILN_OPTION(std::int64_t, kernel_size)
  KILN_OPTION(std::int64_t, stride)  // 0: the kernel size
  KILN_OPTION(std::int64_t, padding)
  KILN_OPTION(bool, ceil_mode)          // round the output size up (a partial last window)
  KILN_OPTION(bool, count_include_pad)  // AvgPool1d: the padding counts in the divisor
private:
  std::int64_t kernel_size_, stride_ = 0, padding_ = 0;
  bool ceil_mode_ = false, count_include_pad_ = true;
};

class MaxPool1d : public Pooling<Pool1dOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};

class AvgPool1d : public Pooling<Pool1dOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};

struct PoolOptions {
  explicit PoolOptions(std::int64_t kernel) : kernel_size_({kernel, kernel}) {}
  KILN_OPTION(Pair, kernel_size)
  KILN_OPTION(Pair, stride)  // {0, 0}: the kernel size
  KILN_OPTION(Pair, padding)
  KILN_OPTION(bool, ceil_mode)          // round the output size up (a partial last window)
  KILN_OPTION(bool, count_include_pad)  // AvgPool2d: the padding counts in the divisor
  auto& stride(std::int64_t s) { return stride({s, s}); }
  auto& padding(std::int64_t p) { return padding({p, p}); }

private:
  Pair kernel_size_, stride_{0, 0}, padding_{0, 0};
  bool ceil_mode_ = false, count_include_pad_ = true;
};
using MaxPool2dOptions = PoolOptions;
using AvgPool2dOptions = PoolOptions;

class MaxPool2d : public Pooling<PoolOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};

class AvgPool2d : public Pooling<PoolOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};

struct Pool3dOptions {
  explicit Pool3dOptions(std::int64_t kernel) : kernel_size_({kernel, kernel, kernel}) {}
  KILN_OPTION(Triple, kernel_size)
  KILN_OPTION(Triple, stride)  // {0, 0, 0}: the kernel size
  KILN_OPTION(Triple, padding)
  KILN_OPTION(bool, ceil_mode)
  KILN_OPTION(bool, count_include_pad)  // AvgPool3d
  auto& stride(std::int64_t s) { return stride({s, s, s}); }
  auto& padding(std::int64_t p) { return padding({p, p, p}); }

private:
  Triple kernel_size_, stride_{0, 0, 0}, padding_{0, 0, 0};
  bool ceil_mode_ = false, count_include_pad_ = true;
};
// (N, C, D, H, W) -> (N, C, OD, OH, OW), as max_pool3d / avg_pool3d.
class MaxPool3d : public Pooling<Pool3dOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};
class AvgPool3d : public Pooling<Pool3dOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};

// Puts max_pool2d's maxima back at their positions in a zero image (kiln::max_unpool2d),
// e.g. a SegNet decoder: nn::MaxUnpool2d(2)(pooled, indices) with the indices of
// max_pool2d_with_indices(x, {2, 2}); an output size other than the default can be given.
class MaxUnpool2d : public Module {
public:
  explicit MaxUnpool2d(const PoolOptions& options);
  explicit MaxUnpool2d(std::int64_t kernel) : MaxUnpool2d(PoolOptions(kernel)) {}
  Tensor forward(const Tensor& x) override;  // refuses: it takes the indices too
  Tensor forward(const Tensor& x, const Tensor& indices, std::optional<Pair> output_size = std::nullopt);
  Tensor operator()(const Tensor& x, const Tensor& indices, std::optional<Pair> output_size = std::nullopt) {
    return call_with_hooks([&] { return forward(x, indices, output_size); });
  }
  using Module::operator();
  std::string description() const override;
  PoolOptions options;
};

// The same over sequences and volumes (kiln::max_unpool1d / max_unpool3d), with the
// indices of max_pool1d_with_indices / max_pool3d_with_indices.
class MaxUnpool1d : public Pooling<Pool1dOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;  // refuses: it takes the indices too
  Tensor forward(const Tensor& x, const Tensor& indices,
                 std::optional<std::int64_t> output_size = std::nullopt);
  Tensor operator()(const Tensor& x, const Tensor& indices,
                    std::optional<std::int64_t> output_size = std::nullopt) {
    return call_with_hooks([&] { return forward(x, indices, output_size); });
  }
  using Module::operator();
  std::string description() const override;
};
class MaxUnpool3d : public Pooling<Pool3dOptions> {
public:
  using Pooling::Pooling;
  Tensor forward(const Tensor& x) override;  // refuses: it takes the indices too
  Tensor forward(const Tensor& x, const Tensor& indices, std::optional<Triple> output_size = std::nullopt);
  Tensor operator()(const Tensor& x, const Tensor& indices,
                    std::optional<Triple> output_size = std::nullopt) {
    return call_with_hooks([&] { return forward(x, indices, output_size); });
  }
  using Module::operator();
  std::string description() const override;
};

// Pooling to a fixed output size, whatever the input's size (kiln::adaptive_avg_pool2d,
// adaptive_max_pool2d and their 1-D forms): nn::AdaptiveAvgPool2d(1) is global average
// pooling, (N, C, H, W) -> (N, C, 1, 1); the 1-D layers map (N, C, L) -> (N, C, size).
// The four differ only in the op they call and the size's type.
template <class Size>
class AdaptivePooling : public Module {
public:
  Tensor forward(const Tensor& x) override { return op_(x, output_size); }
  std::string description() const override;
  Size output_size;

protected:
  using Op = Tensor (*)(const Tensor&, Size);
  AdaptivePooling(const char* name, Op op, Size output_size);

private:
  const char* name_;
  Op op_;
};
extern template class AdaptivePooling<Triple>;
extern template class AdaptivePooling<Pair>;
extern template class AdaptivePooling<std::int64_t>;

class AdaptiveAvgPool2d : public AdaptivePooling<Pair> {
public:
  explicit AdaptiveAvgPool2d(std::int64_t size) : AdaptiveAvgPool2d(Pair{size, size}) {}
  explicit AdaptiveAvgPool2d(Pair size) : AdaptivePooling("AdaptiveAvgPool2d", adaptive_avg_pool2d, size) {}
};
class AdaptiveMaxPool2d : public AdaptivePooling<Pair> {
public:
  explicit AdaptiveMaxPool2d(std::int64_t size) : AdaptiveMaxPool2d(Pair{size, size}) {}
  explicit AdaptiveMaxPool2d(Pair size) : AdaptivePooling("AdaptiveMaxPool2d", adaptive_max_pool2d, size) {}
};
class AdaptiveAvgPool3d : public AdaptivePooling<Triple> {
public:
  explicit AdaptiveAvgPool3d(std::int64_t size) : AdaptiveAvgPool3d(Triple{size, size, size}) {}
  explicit AdaptiveAvgPool3d(Triple size) : AdaptivePooling("AdaptiveAvgPool3d", adaptive_avg_pool3d, size) {}
};
class AdaptiveMaxPool3d : public AdaptivePooling<Triple> {
public:
  explicit AdaptiveMaxPool3d(std::int64_t size) : AdaptiveMaxPool3d(Triple{size, size, size}) {}
  explicit AdaptiveMaxPool3d(Triple size) : AdaptivePooling("AdaptiveMaxPool3d", adaptive_max_pool3d, size) {}
};
class AdaptiveAvgPool1d : public AdaptivePooling<std::int64_t> {
public:
  explicit AdaptiveAvgPool1d(std::int64_t size)
      : AdaptivePooling("AdaptiveAvgPool1d", adaptive_avg_pool1d, size) {}
};
class AdaptiveMaxPool1d : public AdaptivePooling<std::int64_t> {
public:
  explicit AdaptiveMaxPool1d(std::int64_t size)
      : AdaptivePooling("AdaptiveMaxPool1d", adaptive_max_pool1d, size) {}
};

// Power-average pooling (kiln::lp_pool2d / lp_pool1d): (sum over the window of x^p)^(1/p).
// A stride of 0 means the kernel size.
class LPPool2d : public Module {
public:
  LPPool2d(double norm_type, Pair kernel_size, Pair stride = {0, 0});
  LPPool2d(double norm_type, std::int64_t kernel_size)
      : LPPool2d(norm_type, Pair{kernel_size, kernel_size}) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  double norm_type;
  Pair kernel_size, stride;
};

class LPPool1d : public Module {
public:
  LPPool1d(double norm_type, std::int64_t kernel_size, std::int64_t stride = 0);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  double norm_type;
  std::int64_t kernel_size, stride;
};

}  // namespace kiln::nn
