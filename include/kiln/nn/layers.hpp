// Layers: options structs with chained setters, as in libtorch:
//   auto conv = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 32, 3).padding(1));
// Weights are initialised as PyTorch does (Kaiming-uniform with a = sqrt(5) for
// Linear, Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d, so weights and biases are U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)), fan_in counted from the weight's second dimension as PyTorch does).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/autograd/checkpoint.hpp"
#include "kiln/nn/activation_layers.hpp"
#include "kiln/nn/module.hpp"
#include "kiln/nn/options.hpp"
#include "kiln/nn/pooling_layers.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::nn {

struct LinearOptions {
  LinearOptions(std::int64_t in, std::int64_t out) : in_features_(in), out_features_(out) {}
  KILN_OPTION(std::int64_t, in_features)
  KILN_OPTION(std::int64_t, out_features)
  KILN_OPTION(bool, bias)
private:
  std::int64_t in_features_, out_features_;
  bool bias_ = true;
};

class Linear : public Module {
public:
  explicit Linear(const LinearOptions& options);
  Linear(std::int64_t in, std::int64_t out) : Linear(LinearOptions(in, out)) {}
  Tensor forward(const Tensor& x) override;  // (..., in) -> (..., out)
  std::string description() const override;
  void reset_parameters();
  LinearOptions options;
  Tensor weight;  // (out, in)
  Tensor bias;    // (out), or undefined
};

// y = x1 W x2^T + b for each pair of rows (kiln::bilinear), as torch.nn.Bilinear:
// W (out, in1, in2) and b start U(-1/sqrt(in1), 1/sqrt(in1)).
class Bilinear : public Module {
public:
  Bilinear(std::int64_t in1_features, std::int64_t in2_features, std::int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;  // refuses: it takes two inputs
  Tensor forward(const Tensor& x1, const Tensor& x2);
  Tensor operator()(const Tensor& x1, const Tensor& x2) {
    return call_with_hooks([&] { return forward(x1, x2); });
  }
  using Module::operator();
  std::string description() const override;
  void reset_parameters();
  Tensor weight;  // (out, in1, in2)
  Tensor bias;    // (out), or undefined
};

struct Conv2dOptions {
  Conv2dOptions(std::int64_t in, std::int64_t out, std::int64_t kernel)
      : in_channels_(in), out_channels_(out), kernel_size_({kernel, kernel}) {}
  KILN_OPTION(std::int64_t, in_channels)
  KILN_OPTION(std::int64_t, out_channels)
  KILN_OPTION(Pair, kernel_size)
  KILN_OPTION(Pair, stride)
  KILN_OPTION(Pair, padding)
  KILN_OPTION(Pair, dilation)
  KILN_OPTION(std::int64_t, groups)
  KILN_OPTION(bool, bias)
  // How the padding is filled (PyTorch's padding_mode): zeros (PadMode::constant), or the
  // image's own edges, reflected, replicated or wrapped around (kiln::pad's modes).
  KILN_OPTION(PadMode, padding_mode)
  auto& stride(std::int64_t s) { return stride({s, s}); }
  auto& padding(std::int64_t p) { return padding({p, p}); }
  auto& dilation(std::int64_t d) { return dilation({d, d}); }

private:
  std::int64_t in_channels_, out_channels_;
  Pair kernel_size_, stride_{1, 1}, padding_{0, 0}, dilation_{1, 1};
  std::int64_t groups_ = 1;
  bool bias_ = true;
  PadMode padding_mode_ = PadMode::constant;
};

class Conv2d : public Module {
public:
  explicit Conv2d(const Conv2dOptions& options);
  Tensor forward(const Tensor& x) override;  // (N, C, H, W) -> (N, O, OH, OW)
  std::string description() const override;
  void reset_parameters();
  Conv2dOptions options;
  Tensor weight;  // (O, C / groups, kh, kw)
  Tensor bias;    // (O), or undefined
};

struct ConvTranspose2dOptions {
  ConvTranspose2dOptions(std::int64_t in, std::int64_t out, std::int64_t kernel)
      : in_channels_(in), out_channels_(out), kernel_size_({kernel, kernel}) {}
  KILN_OPTION(std::int64_t, in_channels)
  KILN_OPTION(std::int64_t, out_channels)
  KILN_OPTION(Pair, kernel_size)
  KILN_OPTION(Pair, stride)
  KILN_OPTION(Pair, padding)
  KILN_OPTION(Pair, output_padding)
  KILN_OPTION(Pair, dilation)
  KILN_OPTION(std::int64_t, groups)
  KILN_OPTION(bool, bias)
  auto& stride(std::int64_t s) { return stride({s, s}); }
  auto& padding(std::int64_t p) { return padding({p, p}); }
  auto& output_padding(std::int64_t p) { return output_padding({p, p}); }
  auto& dilation(std::int64_t d) { return dilation({d, d}); }

private:
  std::int64_t in_channels_, out_channels_;
  Pair kernel_size_, stride_{1, 1}, padding_{0, 0}, output_padding_{0, 0}, dilation_{1, 1};
  std::int64_t groups_ = 1;
  bool bias_ = true;
};

// Upsampling by a transposed convolution (kiln::conv_transpose2d), e.g. a decoder's
//   nn::ConvTranspose2d(nn::ConvTranspose2dOptions(32, 16, 2).stride(2))   // H, W doubled
class ConvTranspose2d : public Module {
public:
  explicit ConvTranspose2d(const ConvTranspose2dOptions& options);
  Tensor forward(const Tensor& x) override;  // (N, C_in, H, W) -> (N, C_out, OH, OW)
  std::string description() const override;
  void reset_parameters();
  ConvTranspose2dOptions options;
  Tensor weight;  // (C_in, C_out / groups, kh, kw)
  Tensor bias;    // (C_out), or undefined
};

struct ConvTranspose1dOptions {
  ConvTranspose1dOptions(std::int64_t in, std::int64_t out, std::int64_t kernel)
      : in_channels_(in), out_channels_(out), kernel_size_(kernel) {}
  KILN_OPTION(std::int64_t, in_channels)
  KILN_OPTION(std::int64_t, out_channels)
  KILN_OPTION(std::int64_t, kernel_size)
  KILN_OPTION(std::int64_t, stride)
  KILN_OPTION(std::int64_t, padding)
  KILN_OPTION(std::int64_t, output_padding)
  KILN_OPTION(std::int64_t, dilation)
  KILN_OPTION(std::int64_t, groups)
  KILN_OPTION(bool, bias)
private:
  std::int64_t in_channels_, out_channels_, kernel_size_, stride_ = 1, padding_ = 0, output_padding_ = 0,
                                                          dilation_ = 1, groups_ = 1;
  bool bias_ = true;
};

// Upsampling of sequences by a transposed convolution (kiln::conv_transpose1d):
// nn::ConvTranspose1d(nn::ConvTranspose1dOptions(16, 8, 2).stride(2)) doubles L.
class ConvTranspose1d : public Module {
public:
  explicit ConvTranspose1d(const ConvTranspose1dOptions& options);
  Tensor forward(const Tensor& x) override;  // (N, C_in, L) -> (N, C_out, OL)
  std::string description() const override;
  void reset_parameters();
  ConvTranspose1dOptions options;
  Tensor weight;  // (C_in, C_out / groups, k)
  Tensor bias;    // (C_out), or undefined
};

struct Conv1dOptions {
  Conv1dOptions(std::int64_t in, std::int64_t out, std::int64_t kernel)
      : in_channels_(in), out_channels_(out), kernel_size_(kernel) {}
  KILN_OPTION(std::int64_t, in_channels)
  KILN_OPTION(std::int64_t, out_channels)
  KILN_OPTION(std::int64_t, kernel_size)
  KILN_OPTION(std::int64_t, stride)
  KILN_OPTION(std::int64_t, padding)
  KILN_OPTION(std::int64_t, dilation)
  KILN_OPTION(std::int64_t, groups)
  KILN_OPTION(bool, bias)
  KILN_OPTION(PadMode, padding_mode)  // as Conv2dOptions'
private:
  std::int64_t in_channels_, out_channels_, kernel_size_, stride_ = 1, padding_ = 0, dilation_ = 1,
                                                          groups_ = 1;
  bool bias_ = true;
  PadMode padding_mode_ = PadMode::constant;
};

struct Conv3dOptions {
  Conv3dOptions(std::int64_t in, std::int64_t out, std::int64_t kernel)
      : in_channels_(in), out_channels_(out), kernel_size_({kernel, kernel, kernel}) {}
  KILN_OPTION(std::int64_t, in_channels)
  KILN_OPTION(std::int64_t, out_channels)
  KILN_OPTION(Triple, kernel_size)
  KILN_OPTION(Triple, stride)
  KILN_OPTION(Triple, padding)
  KILN_OPTION(Triple, dilation)
  KILN_OPTION(std::int64_t, groups)
  KILN_OPTION(bool, bias)
  auto& stride(std::int64_t s) { return stride({s, s, s}); }
  auto& padding(std::int64_t p) { return padding({p, p, p}); }
  auto& dilation(std::int64_t d) { return dilation({d, d, d}); }

private:
  std::int64_t in_channels_, out_channels_;
  Triple kernel_size_, stride_{1, 1, 1}, padding_{0, 0, 0}, dilation_{1, 1, 1};
  std::int64_t groups_ = 1;
  bool bias_ = true;
};

// Convolution over volumes (kiln::conv3d: video clips, scans), e.g.
// nn::Conv3d(nn::Conv3dOptions(1, 8, 3).padding(1)) keeps (N, 1, D, H, W)'s size, 8 channels.
class Conv3d : public Module {
public:
  explicit Conv3d(const Conv3dOptions& options);
  Tensor forward(const Tensor& x) override;  // (N, C, D, H, W) -> (N, O, OD, OH, OW)
  std::string description() const override;
  void reset_parameters();
  Conv3dOptions options;
  Tensor weight;  // (O, C / groups, kd, kh, kw)
  Tensor bias;    // (O), or undefined
};

struct ConvTranspose3dOptions {
  ConvTranspose3dOptions(std::int64_t in, std::int64_t out, std::int64_t kernel)
      : in_channels_(in), out_channels_(out), kernel_size_({kernel, kernel, kernel}) {}
  KILN_OPTION(std::int64_t, in_channels)
  KILN_OPTION(std::int64_t, out_channels)
  KILN_OPTION(Triple, kernel_size)
  KILN_OPTION(Triple, stride)
  KILN_OPTION(Triple, padding)
  KILN_OPTION(Triple, output_padding)
  KILN_OPTION(Triple, dilation)
  KILN_OPTION(std::int64_t, groups)
  KILN_OPTION(bool, bias)
  auto& stride(std::int64_t s) { return stride({s, s, s}); }
  auto& padding(std::int64_t p) { return padding({p, p, p}); }
  auto& output_padding(std::int64_t p) { return output_padding({p, p, p}); }

private:
  std::int64_t in_channels_, out_channels_;
  Triple kernel_size_, stride_{1, 1, 1}, padding_{0, 0, 0}, output_padding_{0, 0, 0}, dilation_{1, 1, 1};
  std::int64_t groups_ = 1;
  bool bias_ = true;
};

// The transposed 3-D convolution (kiln::conv_transpose3d), e.g. a 3-D U-Net's upsampling:
// nn::ConvTranspose3d(nn::ConvTranspose3dOptions(16, 8, 2).stride(2)) doubles D, H and W.
class ConvTranspose3d : public Module {
public:
  explicit ConvTranspose3d(const ConvTranspose3dOptions& options);
  Tensor forward(const Tensor& x) override;  // (N, C, D, H, W) -> (N, O, OD, OH, OW)
  std::string description() const override;
  void reset_parameters();
  ConvTranspose3dOptions options;
  Tensor weight;  // (C, O / groups, kd, kh, kw)
  Tensor bias;    // (O), or undefined
};

// Convolution over sequences (kiln::conv1d), e.g. nn::Conv1d(nn::Conv1dOptions(4, 16, 5).padding(2))
// keeps the length of (N, 4, L) signals and gives 16 channels.
class Conv1d : public Module {
public:
  explicit Conv1d(const Conv1dOptions& options);
  Tensor forward(const Tensor& x) override;  // (N, C, L) -> (N, O, OL)
  std::string description() const override;
  void reset_parameters();
  Conv1dOptions options;
  Tensor weight;  // (O, C / groups, k)
  Tensor bias;    // (O), or undefined
};

struct BatchNormOptions {
  explicit BatchNormOptions(std::int64_t features) : num_features_(features) {}
  KILN_OPTION(std::int64_t, num_features)
  KILN_OPTION(double, eps)
  KILN_OPTION(double, momentum)
  KILN_OPTION(bool, affine)
  KILN_OPTION(bool, track_running_stats)
private:
  std::int64_t num_features_;
  double eps_ = 1e-5, momentum_ = 0.1;
  bool affine_ = true, track_running_stats_ = true;
};

// Normalises each channel by batch statistics in training, running statistics in eval.
// BatchNorm1d takes (N, C) or (N, C, L); BatchNorm2d takes (N, C, H, W); BatchNorm3d
// takes (N, C, D, H, W).
class BatchNorm : public Module {
public:
  BatchNorm(const BatchNormOptions& options, int spatial_dims);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  BatchNormOptions options;
  Tensor weight, bias;                                    // (C), when affine
  Tensor running_mean, running_var, num_batches_tracked;  // buffers, when tracking
protected:
  int spatial_dims_;
};
class BatchNorm1d : public BatchNorm {
public:
  explicit BatchNorm1d(const BatchNormOptions& o) : BatchNorm(o, 1) {}
  explicit BatchNorm1d(std::int64_t c) : BatchNorm(BatchNormOptions(c), 1) {}
};
class BatchNorm2d : public BatchNorm {
public:
  explicit BatchNorm2d(const BatchNormOptions& o) : BatchNorm(o, 2) {}
  explicit BatchNorm2d(std::int64_t c) : BatchNorm(BatchNormOptions(c), 2) {}
};
class BatchNorm3d : public BatchNorm {
public:
  explicit BatchNorm3d(const BatchNormOptions& o) : BatchNorm(o, 3) {}
  explicit BatchNorm3d(std::int64_t c) : BatchNorm(BatchNormOptions(c), 3) {}
};

// Instance normalisation (kiln::instance_norm): each sample's channels normalised on their
// own, as in style transfer and small-batch generators. PyTorch's defaults, in
// InstanceNormOptions: no affine weights and no running statistics; with
// track_running_stats, evaluation normalises by them. Parameter and buffer names as
// BatchNorm's. InstanceNorm1d takes (N, C, L) or unbatched (C, L); InstanceNorm2d takes
// (N, C, H, W) or (C, H, W); InstanceNorm3d takes (N, C, D, H, W) or (C, D, H, W).
struct InstanceNormOptions : BatchNormOptions {
  explicit InstanceNormOptions(std::int64_t features) : BatchNormOptions(features) {
    affine(false);
    track_running_stats(false);
  }
};
class InstanceNorm : public BatchNorm {
public:
  InstanceNorm(const BatchNormOptions& options, int spatial_dims) : BatchNorm(options, spatial_dims) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};
class InstanceNorm1d : public InstanceNorm {
public:
  explicit InstanceNorm1d(const BatchNormOptions& o) : InstanceNorm(o, 1) {}
  explicit InstanceNorm1d(std::int64_t c) : InstanceNorm(InstanceNormOptions(c), 1) {}
};
class InstanceNorm2d : public InstanceNorm {
public:
  explicit InstanceNorm2d(const BatchNormOptions& o) : InstanceNorm(o, 2) {}
  explicit InstanceNorm2d(std::int64_t c) : InstanceNorm(InstanceNormOptions(c), 2) {}
};
class InstanceNorm3d : public InstanceNorm {
public:
  explicit InstanceNorm3d(const BatchNormOptions& o) : InstanceNorm(o, 3) {}
  explicit InstanceNorm3d(std::int64_t c) : InstanceNorm(InstanceNormOptions(c), 3) {}
};

struct LayerNormOptions {
  explicit LayerNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  KILN_OPTION(Shape, normalized_shape)
  KILN_OPTION(double, eps)
  KILN_OPTION(bool, elementwise_affine)
private:
  Shape normalized_shape_;
  double eps_ = 1e-5;
  bool elementwise_affine_ = true;
};

// Normalises each sample over its trailing normalized_shape dimensions (layer_norm),
// the same way in training and evaluation; weight (ones) and bias (zeros) of that
// shape, when elementwise_affine. LayerNorm(64) normalises (..., 64) feature vectors.
class LayerNorm : public Module {
public:
  explicit LayerNorm(const LayerNormOptions& options);
  explicit LayerNorm(std::int64_t features) : LayerNorm(LayerNormOptions({features})) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  LayerNormOptions options;
  Tensor weight, bias;  // normalized_shape, when elementwise_affine
};

struct RMSNormOptions {
  explicit RMSNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  KILN_OPTION(Shape, normalized_shape)
  KILN_OPTION(std::optional<double>, eps)  // none: the dtype's machine epsilon
  KILN_OPTION(bool, elementwise_affine)
private:
  Shape normalized_shape_;
  std::optional<double> eps_;
  bool elementwise_affine_ = true;
};

// Divides each sample's trailing normalized_shape values by their root mean square
// (kiln::rms_norm), then times weight (ones at the start), when elementwise_affine.
class RMSNorm : public Module {
public:
  explicit RMSNorm(const RMSNormOptions& options);
  explicit RMSNorm(std::int64_t features) : RMSNorm(RMSNormOptions({features})) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  RMSNormOptions options;
  Tensor weight;  // normalized_shape, when elementwise_affine
};

// Normalises each channel by its neighbours' energy (kiln::local_response_norm), as AlexNet.
class LocalResponseNorm : public Module {
public:
  explicit LocalResponseNorm(std::int64_t size, double alpha = 1e-4, double beta = 0.75, double k = 1.0);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  std::int64_t size;
  double alpha, beta, k;
};

struct GroupNormOptions {
  GroupNormOptions(std::int64_t num_groups, std::int64_t num_channels)
      : num_groups_(num_groups), num_channels_(num_channels) {}
  KILN_OPTION(std::int64_t, num_groups)
  KILN_OPTION(std::int64_t, num_channels)
  KILN_OPTION(double, eps)
  KILN_OPTION(bool, affine)
private:
  std::int64_t num_groups_, num_channels_;
  double eps_ = 1e-5;
  bool affine_ = true;
};

// Normalises each sample's groups of channels (kiln::group_norm), the same way in
// training and evaluation and whatever the batch size; weight (ones) and bias (zeros)
// per channel, when affine. GroupNorm(8, 64) on (N, 64, H, W): 8 groups of 8 channels.
class GroupNorm : public Module {
public:
  explicit GroupNorm(const GroupNormOptions& options);
  GroupNorm(std::int64_t num_groups, std::int64_t num_channels)
      : GroupNorm(GroupNormOptions(num_groups, num_channels)) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  GroupNormOptions options;
  Tensor weight, bias;  // (C), when affine
};

class Dropout : public Module {
public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;  // identity in eval mode
  std::string description() const override;
  double p;
};

// The dropout layers that differ from Dropout only in the op they call (identity in eval
// mode too): nn::Dropout2d(0.2) after a convolution drops whole feature maps
// (kiln::dropout2d); nn::AlphaDropout keeps selu networks self-normalising.
class DropoutVariant : public Module {
public:
  Tensor forward(const Tensor& x) override { return op_(x, p, is_training()); }
  std::string description() const override;
  double p;

protected:
  using Op = Tensor (*)(const Tensor&, double, bool);
  DropoutVariant(const char* name, Op op, double p);

private:
  const char* name_;
  Op op_;
};
class Dropout1d : public DropoutVariant {
public:
  explicit Dropout1d(double p = 0.5) : DropoutVariant("Dropout1d", dropout1d, p) {}
};
class Dropout2d : public DropoutVariant {
public:
  explicit Dropout2d(double p = 0.5) : DropoutVariant("Dropout2d", dropout2d, p) {}
};
class Dropout3d : public DropoutVariant {
public:
  explicit Dropout3d(double p = 0.5) : DropoutVariant("Dropout3d", dropout3d, p) {}
};
class AlphaDropout : public DropoutVariant {
public:
  explicit AlphaDropout(double p = 0.5) : DropoutVariant("AlphaDropout", alpha_dropout, p) {}
};
class FeatureAlphaDropout : public DropoutVariant {
public:
  explicit FeatureAlphaDropout(double p = 0.5)
      : DropoutVariant("FeatureAlphaDropout", feature_alpha_dropout, p) {}
};

// Upsampling (torch.nn.Upsample), e.g. before a convolution in a decoder: nn::Upsample(2)
// doubles every spatial size by nearest neighbours, of sequences (N, C, L), images
// (N, C, H, W) and volumes (N, C, D, H, W) alike; nn::Upsample(nn::UpsampleOptions()
// .scale_factor(2).mode(Interpolation::bilinear)) blends (linear for sequences, bilinear or
// bicubic for images, trilinear for volumes); .size({OH, OW}) sets the output size instead.
struct UpsampleOptions {
  // The output's spatial sizes, one per axis; wins over scale_factor.
  UpsampleOptions& size(std::vector<std::int64_t> s) {
    size_ = std::move(s);
    return *this;
  }
  // Whole factors: one for every spatial axis, or one per axis.
  UpsampleOptions& scale_factor(std::int64_t s) { return scale_factor(std::vector<std::int64_t>{s}); }
  UpsampleOptions& scale_factor(std::vector<std::int64_t> s) {
    scale_factor_ = std::move(s);
    return *this;
  }
  const std::vector<std::int64_t>& size() const { return size_; }  // empty: not set
  const std::vector<std::int64_t>& scale_factor() const { return scale_factor_; }
  KILN_OPTION(Interpolation, mode)
  KILN_OPTION(bool, align_corners)  // the blending modes (linear, bilinear, bicubic, trilinear) only

private:
  std::vector<std::int64_t> size_;
  std::vector<std::int64_t> scale_factor_{1};
  Interpolation mode_ = Interpolation::nearest;
  bool align_corners_ = false;
};

class Upsample : public Module {
public:
  explicit Upsample(std::int64_t scale) : Upsample(UpsampleOptions().scale_factor(scale)) {}
  explicit Upsample(Pair scale) : Upsample(UpsampleOptions().scale_factor({scale[0], scale[1]})) {}
  explicit Upsample(const UpsampleOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  UpsampleOptions options;
};

// torch.nn.PixelShuffle / PixelUnshuffle (kiln::pixel_shuffle): (*, C r^2, H, W) <-> (*, C, H r, W r).
class PixelShuffle : public Module {
public:
  explicit PixelShuffle(std::int64_t upscale_factor) : factor(upscale_factor) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  std::int64_t factor;
};
class PixelUnshuffle : public Module {
public:
  explicit PixelUnshuffle(std::int64_t downscale_factor) : factor(downscale_factor) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  std::int64_t factor;
};
// Interleaves groups of channels (kiln::channel_shuffle), between a ShuffleNet unit's
// grouped convolutions.
class ChannelShuffle : public Module {
public:
  explicit ChannelShuffle(std::int64_t groups);
  Tensor forward(const Tensor& x) override { return channel_shuffle(x, groups); }
  std::string description() const override { return "ChannelShuffle(groups=" + std::to_string(groups) + ")"; }
  std::int64_t groups;
};

// torch.nn.Unfold / Fold (kiln::unfold, kiln::fold): sliding blocks as columns, and back.
class Unfold : public Module {
public:
  explicit Unfold(Pair kernel_size, Pair dilation = {1, 1}, Pair padding = {0, 0}, Pair stride = {1, 1})
      : kernel_size(kernel_size), dilation(dilation), padding(padding), stride(stride) {}
  Tensor forward(const Tensor& x) override;  // (N, C, H, W) -> (N, C kh kw, L)
  std::string description() const override;
  Pair kernel_size, dilation, padding, stride;
};
class Fold : public Module {
public:
  Fold(Pair output_size, Pair kernel_size, Pair dilation = {1, 1}, Pair padding = {0, 0},
       Pair stride = {1, 1})
      : output_size(output_size),
        kernel_size(kernel_size),
        dilation(dilation),
        padding(padding),
        stride(stride) {}
  Tensor forward(const Tensor& columns) override;  // (N, C kh kw, L) -> (N, C, H, W)
  std::string description() const override;
  Pair output_size, kernel_size, dilation, padding, stride;
};

// Padding layers (kiln::pad with fixed sizes): torch.nn.ReflectionPad2d and its kin. The
// sizes are one for every side, or (left, right) for 1-d and (left, right, top, bottom)
// for 2-d, as PyTorch's; a layer for `dims` spatial dimensions takes inputs with one or
// two more (batched or not), e.g. nn::ReflectionPad2d(1) pads (N, C, H, W) to
// (N, C, H + 2, W + 2) with the image mirrored about its edges.
class Padding : public Module {
public:
  Padding(PadMode mode, int dims, std::vector<std::int64_t> pads, double value);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  PadMode mode;
  int dims;
  std::vector<std::int64_t> pads;
  double value;
};
template <PadMode Mode, int Dims>
class PadNd : public Padding {
public:
  explicit PadNd(std::int64_t pad, double value = 0.0)
      : Padding(Mode, Dims, std::vector<std::int64_t>(2 * Dims, pad), value) {}
  explicit PadNd(std::vector<std::int64_t> pads, double value = 0.0)
      : Padding(Mode, Dims, std::move(pads), value) {}
  // ReflectionPad2d({1, 1, 2, 0}): the list, not the (pad, value) pair
  PadNd(std::initializer_list<std::int64_t> pads, double value = 0.0)
      : PadNd(std::vector<std::int64_t>(pads), value) {}
};
using ReflectionPad1d = PadNd<PadMode::reflect, 1>;
using ReflectionPad2d = PadNd<PadMode::reflect, 2>;
using ReplicationPad1d = PadNd<PadMode::replicate, 1>;
using ReplicationPad2d = PadNd<PadMode::replicate, 2>;
using CircularPad1d = PadNd<PadMode::circular, 1>;
using CircularPad2d = PadNd<PadMode::circular, 2>;
using ConstantPad1d = PadNd<PadMode::constant, 1>;  // ConstantPad2d(1, 0.5): a frame of 0.5
using ConstantPad2d = PadNd<PadMode::constant, 2>;
using ZeroPad1d = ConstantPad1d;
using ZeroPad2d = ConstantPad2d;

class Flatten : public Module {
public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  std::int64_t start_dim, end_dim;
};

// Flatten's inverse (torch.nn.Unflatten): dimension `dim` viewed as `sizes`, e.g.
// nn::Unflatten(1, {64, 7, 7}) turns a decoder's (N, 3136) back into feature maps.
class Unflatten : public Module {
public:
  Unflatten(std::int64_t dim, Shape sizes) : dim(dim), sizes(std::move(sizes)) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  std::int64_t dim;
  Shape sizes;
};

// kiln::cosine_similarity and kiln::pairwise_distance as layers of two inputs.
class CosineSimilarity : public Module {
public:
  explicit CosineSimilarity(std::int64_t dim = 1, double eps = 1e-8) : dim(dim), eps(eps) {}
  Tensor forward(const Tensor& x) override;  // refuses: it takes two inputs
  Tensor forward(const Tensor& x1, const Tensor& x2);
  Tensor operator()(const Tensor& x1, const Tensor& x2) {
    return call_with_hooks([&] { return forward(x1, x2); });
  }
  using Module::operator();
  std::string description() const override;
  std::int64_t dim;
  double eps;
};
class PairwiseDistance : public Module {
public:
  explicit PairwiseDistance(double p = 2.0, double eps = 1e-6, bool keepdim = false)
      : p(p), eps(eps), keepdim(keepdim) {}
  Tensor forward(const Tensor& x) override;  // refuses: it takes two inputs
  Tensor forward(const Tensor& x1, const Tensor& x2);
  Tensor operator()(const Tensor& x1, const Tensor& x2) {
    return call_with_hooks([&] { return forward(x1, x2); });
  }
  using Module::operator();
  std::string description() const override;
  double p, eps;
  bool keepdim;
};

struct EmbeddingOptions {
  EmbeddingOptions(std::int64_t num, std::int64_t dim) : num_embeddings_(num), embedding_dim_(dim) {}
  KILN_OPTION(std::int64_t, num_embeddings)
  KILN_OPTION(std::int64_t, embedding_dim)
  // A row that starts at zero and gets no gradient (a padding token); negative from the end.
  KILN_OPTION(std::optional<std::int64_t>, padding_idx)
private:
  std::int64_t num_embeddings_, embedding_dim_;
  std::optional<std::int64_t> padding_idx_;
};

class Embedding : public Module {
public:
  explicit Embedding(const EmbeddingOptions& options);
  Embedding(std::int64_t num, std::int64_t dim) : Embedding(EmbeddingOptions(num, dim)) {}
  Tensor forward(const Tensor& indices) override;  // integer (...) -> (..., dim)
  std::string description() const override;
  EmbeddingOptions options;
  Tensor weight;  // (num, dim), initialised N(0, 1), the padding row 0
};

struct EmbeddingBagOptions {
  EmbeddingBagOptions(std::int64_t num, std::int64_t dim) : num_embeddings_(num), embedding_dim_(dim) {}
  KILN_OPTION(std::int64_t, num_embeddings)
  KILN_OPTION(std::int64_t, embedding_dim)
  KILN_OPTION(EmbeddingBagMode, mode)  // sum, mean (the default, as PyTorch's) or max
  KILN_OPTION(bool, include_last_offset)
  // A row left out of every bag, starting at zero (negative from the end).
  KILN_OPTION(std::optional<std::int64_t>, padding_idx)
private:
  std::int64_t num_embeddings_, embedding_dim_;
  EmbeddingBagMode mode_ = EmbeddingBagMode::mean;
  bool include_last_offset_ = false;
  std::optional<std::int64_t> padding_idx_;
};

// Bags of embeddings reduced to one vector each (torch.nn.EmbeddingBag; see
// embedding_bag in kiln/ops/nn_ops.hpp): a user's items averaged into one vector, say.
class EmbeddingBag : public Module {
public:
  explicit EmbeddingBag(const EmbeddingBagOptions& options);
  Tensor forward(const Tensor& input) override;  // (bags, n): one bag per row
  // A 1-D input cut into bags at offsets; per-sample weights with mode sum.
  Tensor forward(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights = Tensor());
  Tensor operator()(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights = Tensor()) {
    return call_with_hooks([&] { return forward(input, offsets, per_sample_weights); });
  }
  using Module::operator();
  std::string description() const override;
  EmbeddingBagOptions options;
  Tensor weight;  // (num, dim), initialised N(0, 1), the padding row 0
};

class Identity : public Module {  // returns its input: a placeholder where a layer is optional
public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string description() const override { return "Identity()"; }
};

// Holds modules in order, named "0", "1", ... (PyTorch's keys), for a forward written
// by hand: a loop over layers, or layers that take more than one input, e.g.
//   for (std::size_t i = 0; i < convs.size(); ++i) h = relu(convs.at<nn::GCNConv>(i)->forward(a_hat, h));
// Their parameters, buffers, train()/eval(), to(device) and state dict follow the list.
class ModuleList : public Module {
public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  std::size_t size() const { return named_children().size(); }
  std::shared_ptr<Module> operator[](std::size_t i) const;
  // The i-th module as its own type (an error if it is another).
  template <class M>
  std::shared_ptr<M> at(std::size_t i) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!typed)
      throw Error(kind() + ": module " + std::to_string(i) + " is " + (*this)[i]->description() +
                  ", not the type asked for");
    return typed;
  }
  std::string description() const override { return kind(); }

protected:
  virtual std::string kind() const { return "ModuleList"; }
};

// Modules by name, in insertion order (torch.nn.ModuleDict): their parameters take the
// names as prefixes ("heads.age.weight").
//   nn::ModuleDict heads;
//   heads.insert("age", std::make_shared<nn::Linear>(64, 1));
//   const Tensor age = (*heads["age"])(features);
class ModuleDict : public Module {
public:
  ModuleDict() = default;
  ModuleDict(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> modules);
  void insert(const std::string& name, std::shared_ptr<Module> module);  // a new name
  bool contains(const std::string& name) const;
  std::size_t size() const { return named_children().size(); }
  std::vector<std::string> keys() const;
  std::shared_ptr<Module> operator[](const std::string& name) const;  // an error naming the keys if absent
  template <class M>
  std::shared_ptr<M> at(const std::string& name) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[name]);
    if (!typed)
      throw Error("ModuleDict: module '" + name + "' is " + (*this)[name]->description() +
                  ", not the type asked for");
    return typed;
  }
  std::string description() const override { return "ModuleDict"; }
};

// Runs its children in order.
class Sequential : public ModuleList {
public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
    for (const auto& m : modules) push_back(m);  // here, errors name a Sequential
  }
  Tensor forward(const Tensor& x) override;

protected:
  std::string kind() const override { return "Sequential"; }
};

// seq(x) in `segments` runs of consecutive modules, as even as can be, each run but the
// last under kiln::checkpoint (torch.utils.checkpoint.checkpoint_sequential): training
// then keeps the activations of one run at a time and the runs' outputs, and each run
// but the last is computed twice. The last run's activations are needed at once by the
// backward pass, so it is not recomputed.
//   Tensor logits = nn::checkpoint_sequential(net, 4, x);  // same gradients as net(x)
Tensor checkpoint_sequential(const Sequential& seq, std::int64_t segments, const Tensor& x,
                             const CheckpointOptions& options = {});

}  // namespace kiln::nn
