#include "kiln/nn/layers.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/nn/init.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/loss.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/nn/describe.hpp"

namespace kiln::nn {

namespace {
// forward(x) of a layer that takes two inputs.
Tensor refuse_one_input(const char* layer) {
  KILN_CHECK(false, layer, ": it takes two inputs; call layer(x1, x2)");
  return Tensor();
}

}  // namespace

// ---- Linear --------------------------------------------------------------------------

Bilinear::Bilinear(std::int64_t in1, std::int64_t in2, std::int64_t out, bool with_bias) {
  KILN_CHECK(in1 > 0 && in2 > 0 && out > 0, "Bilinear: in1_features ", in1, ", in2_features ", in2,
             " and out_features ", out, " must be positive");
  register_parameter("weight", weight, empty({out, in1, in2}));
  if (with_bias) register_parameter("bias", bias, empty({out}));
  reset_parameters();
}
void Bilinear::reset_parameters() {
  const double bound = 1.0 / std::sqrt(static_cast<double>(weight.size(1)));
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}
Tensor Bilinear::forward(const Tensor&) { return refuse_one_input("Bilinear"); }
Tensor Bilinear::forward(const Tensor& x1, const Tensor& x2) { return bilinear(x1, x2, weight, bias); }
std::string Bilinear::description() const {
  return "Bilinear(in1_features=" + std::to_string(weight.size(1)) +
         ", in2_features=" + std::to_string(weight.size(2)) +
         ", out_features=" + std::to_string(weight.size(0)) +
         (bias.defined() ? ", bias=true)" : ", bias=false)");
}

Linear::Linear(const LinearOptions& o) : options(o) {
  KILN_CHECK(o.in_features() > 0 && o.out_features() > 0, "Linear: in_features ", o.in_features(),
             " and out_features ", o.out_features(), " must be positive");
  register_parameter("weight", weight, empty({o.out_features(), o.in_features()}));
  if (o.bias()) register_parameter("bias", bias, empty({o.out_features()}));
  reset_parameters();
}

void Linear::reset_parameters() {
  // PyTorch's kaiming_uniform_(a = sqrt 5): bound = sqrt(6 / ((1 + a^2) fan_in)) = 1 / sqrt(fan_in),
  // written out so that the bound is exactly 1 / sqrt(fan_in); the bias shares it.
  const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_features()));
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::description() const {
  std::ostringstream os;
  os << "Linear(in_features=" << options.in_features() << ", out_features=" << options.out_features()
     << ", bias=" << (options.bias() ? "true" : "false") << ")";
  return os.str();
}

// ---- Conv2d and ConvTranspose2d -------------------------------------------------------

namespace {

template <class Options>
void check_channels(const char* layer, const Options& o) {
  KILN_CHECK(o.in_channels() > 0 && o.out_channels() > 0 && o.groups() > 0 &&
                 o.in_channels() % o.groups() == 0 && o.out_channels() % o.groups() == 0,
             layer, ": channels ", o.in_channels(), " -> ", o.out_channels(), " with groups = ", o.groups(),
             ": channels must be positive and divisible by groups");
}

// As Linear's: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight and the bias, fan_in
// counted from the weight's dimension 1 as PyTorch does (in_channels / groups * kh * kw for
// Conv2d, out_channels / groups * kh * kw for ConvTranspose2d).
void uniform_by_fan_in(const Tensor& weight, const Tensor& bias) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(init::calculate_fans(weight).fan_in));
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

template <class Options>
std::string conv_description(const char* layer, const Options& o, Pair output_padding = {0, 0}) {
  std::ostringstream os;
  os << layer << "(" << o.in_channels() << ", " << o.out_channels()
     << ", kernel_size=" << pair_str(o.kernel_size()) << ", stride=" << pair_str(o.stride());
  if (o.padding() != Pair{0, 0}) os << ", padding=" << pair_str(o.padding());
  if (output_padding != Pair{0, 0}) os << ", output_padding=" << pair_str(output_padding);
  if (o.dilation() != Pair{1, 1}) os << ", dilation=" << pair_str(o.dilation());
  if (o.groups() != 1) os << ", groups=" << o.groups();
  if (!o.bias()) os << ", bias=false";
  if constexpr (requires { o.padding_mode(); })
    if (o.padding_mode() != PadMode::constant) os << ", padding_mode=" << pad_mode_name(o.padding_mode());
  os << ")";
  return os.str();
}

}  // namespace

Conv2d::Conv2d(const Conv2dOptions& o) : options(o) {
  check_channels("Conv2d", o);
  register_parameter(
      "weight", weight,
      empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size()[0], o.kernel_size()[1]}));
  if (o.bias()) register_parameter("bias", bias, empty({o.out_channels()}));
  reset_parameters();
}

void Conv2d::reset_parameters() { uniform_by_fan_in(weight, bias); }

Tensor Conv2d::forward(const Tensor& x) {
  const auto [ph, pw] = options.padding();
  if (options.padding_mode() != PadMode::constant)  // the frame first, then no zero padding
    return conv2d(pad(x, {pw, pw, ph, ph}, options.padding_mode()), weight, bias, options.stride(), {0, 0},
                  options.dilation(), options.groups());
  return conv2d(x, weight, bias, options.stride(), options.padding(), options.dilation(), options.groups());
}

std::string Conv2d::description() const { return conv_description("Conv2d", options); }

Conv3d::Conv3d(const Conv3dOptions& o) : options(o) {
  check_channels("Conv3d", o);
  const Triple k = o.kernel_size();
  KILN_CHECK(k[0] >= 1 && k[1] >= 1 && k[2] >= 1, "Conv3d: kernel_size must be >= 1, got (", k[0], ", ", k[1],
             ", ", k[2], ")");
  register_parameter("weight", weight,
                     empty({o.out_channels(), o.in_channels() / o.groups(), k[0], k[1], k[2]}));
  if (o.bias()) register_parameter("bias", bias, empty({o.out_channels()}));
  reset_parameters();
}
void Conv3d::reset_parameters() { uniform_by_fan_in(weight, bias); }
Tensor Conv3d::forward(const Tensor& x) {
  return conv3d(x, weight, bias, options.stride(), options.padding(), options.dilation(), options.groups());
}
namespace {
// PyTorch's printout of a 3-D convolution layer: the settings that differ from their defaults.
template <class Options>
std::string conv3d_description(const char* layer, const Options& o, Triple output_padding = {0, 0, 0}) {
  std::string s = std::string(layer) + "(" + std::to_string(o.in_channels()) + ", " +
                  std::to_string(o.out_channels()) + ", kernel_size=" + triple_str(o.kernel_size()) +
                  ", stride=" + triple_str(o.stride());
  if (o.padding() != Triple{0, 0, 0}) s += ", padding=" + triple_str(o.padding());
  if (output_padding != Triple{0, 0, 0}) s += ", output_padding=" + triple_str(output_padding);
  if (o.dilation() != Triple{1, 1, 1}) s += ", dilation=" + triple_str(o.dilation());
  if (o.groups() != 1) s += ", groups=" + std::to_string(o.groups());
  if (!o.bias()) s += ", bias=false";
  return s + ")";
}
}  // namespace

std::string Conv3d::description() const { return conv3d_description("Conv3d", options); }

ConvTranspose3d::ConvTranspose3d(const ConvTranspose3dOptions& o) : options(o) {
  check_channels("ConvTranspose3d", o);
  const Triple k = o.kernel_size();
  KILN_CHECK(k[0] >= 1 && k[1] >= 1 && k[2] >= 1, "ConvTranspose3d: kernel_size must be >= 1, got (", k[0],
             ", ", k[1], ", ", k[2], ")");
  register_parameter("weight", weight,
                     empty({o.in_channels(), o.out_channels() / o.groups(), k[0], k[1], k[2]}));
  if (o.bias()) register_parameter("bias", bias, empty({o.out_channels()}));
  reset_parameters();
}
void ConvTranspose3d::reset_parameters() { uniform_by_fan_in(weight, bias); }
Tensor ConvTranspose3d::forward(const Tensor& x) {
  return conv_transpose3d(x, weight, bias, options.stride(), options.padding(), options.output_padding(),
                          options.groups(), options.dilation());
}
std::string ConvTranspose3d::description() const {
  return conv3d_description("ConvTranspose3d", options, options.output_padding());
}

Conv1d::Conv1d(const Conv1dOptions& o) : options(o) {
  check_channels("Conv1d", o);
  KILN_CHECK(o.kernel_size() >= 1, "Conv1d: kernel_size must be >= 1, got ", o.kernel_size());
  register_parameter("weight", weight,
                     empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size()}));
  if (o.bias()) register_parameter("bias", bias, empty({o.out_channels()}));
  reset_parameters();
}

void Conv1d::reset_parameters() { uniform_by_fan_in(weight, bias); }

Tensor Conv1d::forward(const Tensor& x) {
  const std::int64_t p = options.padding();
  if (options.padding_mode() != PadMode::constant)
    return conv1d(pad(x, {p, p}, options.padding_mode()), weight, bias, options.stride(), 0,
                  options.dilation(), options.groups());
  return conv1d(x, weight, bias, options.stride(), p, options.dilation(), options.groups());
}

namespace {
// PyTorch's one-element tuples: kernel_size=(3,).
template <class Options>
std::string conv1d_description(const char* layer, const Options& o, std::int64_t output_padding = 0) {
  std::ostringstream os;
  os << layer << "(" << o.in_channels() << ", " << o.out_channels() << ", kernel_size=(" << o.kernel_size()
     << ",), stride=(" << o.stride() << ",)";
  if (o.padding() != 0) os << ", padding=(" << o.padding() << ",)";
  if (output_padding != 0) os << ", output_padding=(" << output_padding << ",)";
  if (o.dilation() != 1) os << ", dilation=(" << o.dilation() << ",)";
  if (o.groups() != 1) os << ", groups=" << o.groups();
  if (!o.bias()) os << ", bias=false";
  if constexpr (requires { o.padding_mode(); })
    if (o.padding_mode() != PadMode::constant) os << ", padding_mode=" << pad_mode_name(o.padding_mode());
  os << ")";
  return os.str();
}
}  // namespace

std::string Conv1d::description() const { return conv1d_description("Conv1d", options); }

ConvTranspose1d::ConvTranspose1d(const ConvTranspose1dOptions& o) : options(o) {
  check_channels("ConvTranspose1d", o);
  KILN_CHECK(o.kernel_size() >= 1, "ConvTranspose1d: kernel_size must be >= 1, got ", o.kernel_size());
  register_parameter("weight", weight,
                     empty({o.in_channels(), o.out_channels() / o.groups(), o.kernel_size()}));
  if (o.bias()) register_parameter("bias", bias, empty({o.out_channels()}));
  reset_parameters();
}

void ConvTranspose1d::reset_parameters() { uniform_by_fan_in(weight, bias); }

Tensor ConvTranspose1d::forward(const Tensor& x) {
  return conv_transpose1d(x, weight, bias, options.stride(), options.padding(), options.output_padding(),
                          options.groups(), options.dilation());
}

std::string ConvTranspose1d::description() const {
  return conv1d_description("ConvTranspose1d", options, options.output_padding());
}

ConvTranspose2d::ConvTranspose2d(const ConvTranspose2dOptions& o) : options(o) {
  check_channels("ConvTranspose2d", o);
  register_parameter(
      "weight", weight,
      empty({o.in_channels(), o.out_channels() / o.groups(), o.kernel_size()[0], o.kernel_size()[1]}));
  if (o.bias()) register_parameter("bias", bias, empty({o.out_channels()}));
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { uniform_by_fan_in(weight, bias); }

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, options.stride(), options.padding(), options.output_padding(),
                          options.groups(), options.dilation());
}

std::string ConvTranspose2d::description() const {
  return conv_description("ConvTranspose2d", options, options.output_padding());
}

// ---- BatchNorm -----------------------------------------------------------------------

BatchNorm::BatchNorm(const BatchNormOptions& o, int spatial_dims) : options(o), spatial_dims_(spatial_dims) {
  KILN_CHECK(o.num_features() > 0, "BatchNorm: num_features must be positive, got ", o.num_features());
  const std::int64_t c = o.num_features();
  if (o.affine()) {
    register_parameter("weight", weight, ones({c}));
    register_parameter("bias", bias, zeros({c}));
  }
  if (o.track_running_stats()) {
    running_mean = register_buffer("running_mean", zeros({c}));
    running_var = register_buffer("running_var", ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, kInt64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  const bool ok = spatial_dims_ == 1 ? (x.dim() == 2 || x.dim() == 3) : x.dim() == spatial_dims_ + 2;
  KILN_CHECK(ok, description(), ": expected ",
             spatial_dims_ == 1   ? "(N, C) or (N, C, L)"
             : spatial_dims_ == 2 ? "(N, C, H, W)"
                                  : "(N, C, D, H, W)",
             " input but got shape ", fmt(x.shape()));
  const bool use_batch_stats = is_training() || !running_mean.defined();
  if (is_training() && num_batches_tracked.defined()) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(detail::constant_like(num_batches_tracked, 1.0));
  }
  return batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, options.momentum(),
                    options.eps());
}

std::string BatchNorm::description() const {
  std::ostringstream os;
  os << "BatchNorm" << spatial_dims_ << "d(" << options.num_features() << ", eps=" << options.eps()
     << ", momentum=" << options.momentum() << ")";
  return os.str();
}

Tensor InstanceNorm::forward(const Tensor& x) {
  const std::int64_t d = spatial_dims_;
  KILN_CHECK(x.dim() == d + 1 || x.dim() == d + 2, description(), ": expected ",
             d == 1   ? "(N, C, L) or unbatched (C, L)"
             : d == 2 ? "(N, C, H, W) or unbatched (C, H, W)"
                      : "(N, C, D, H, W) or unbatched (C, D, H, W)",
             " input but got shape ", fmt(x.shape()));
  const Tensor batched = x.dim() == d + 1 ? x.unsqueeze(0) : x;
  const bool use_input_stats = is_training() || !running_mean.defined();
  if (is_training() && num_batches_tracked.defined()) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(detail::constant_like(num_batches_tracked, 1.0));
  }
  const Tensor y = instance_norm(batched, running_mean, running_var, weight, bias, use_input_stats,
                                 options.momentum(), options.eps());
  return x.dim() == d + 1 ? y.squeeze(0) : y;
}

std::string InstanceNorm::description() const {
  std::ostringstream os;
  os << "InstanceNorm" << spatial_dims_ << "d(" << options.num_features() << ", eps=" << options.eps()
     << ", momentum=" << options.momentum() << ", affine=" << (options.affine() ? "true" : "false")
     << ", track_running_stats=" << (options.track_running_stats() ? "true" : "false") << ")";
  return os.str();
}

// ---- LayerNorm ------------------------------------------------------------------------

LayerNorm::LayerNorm(const LayerNormOptions& o) : options(o) {
  const Shape& shape = o.normalized_shape();
  KILN_CHECK(!shape.empty() && std::all_of(shape.begin(), shape.end(), [](std::int64_t s) { return s > 0; }),
             "LayerNorm: normalized_shape ", fmt(shape), " must have at least one dimension, all positive");
  KILN_CHECK(o.eps() >= 0, "LayerNorm: eps must be >= 0, got ", o.eps());
  if (o.elementwise_affine()) {
    register_parameter("weight", weight, ones(shape));
    register_parameter("bias", bias, zeros(shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, options.normalized_shape(), weight, bias, options.eps());
}

std::string LayerNorm::description() const {
  std::ostringstream os;
  os << "LayerNorm(" << fmt(options.normalized_shape()) << ", eps=" << options.eps()
     << ", elementwise_affine=" << (options.elementwise_affine() ? "true" : "false") << ")";
  return os.str();
}

// ---- RMSNorm and LocalResponseNorm ------------------------------------------------------

RMSNorm::RMSNorm(const RMSNormOptions& o) : options(o) {
  const Shape& shape = o.normalized_shape();
  KILN_CHECK(!shape.empty() && std::all_of(shape.begin(), shape.end(), [](std::int64_t s) { return s > 0; }),
             "RMSNorm: normalized_shape ", fmt(shape), " must have at least one dimension, all positive");
  KILN_CHECK(!o.eps() || *o.eps() >= 0, "RMSNorm: eps must be >= 0, got ", o.eps().value_or(0));
  if (o.elementwise_affine()) register_parameter("weight", weight, ones(shape));
}

Tensor RMSNorm::forward(const Tensor& x) {
  return rms_norm(x, options.normalized_shape(), weight, options.eps());
}

std::string RMSNorm::description() const {
  std::ostringstream os;
  os << "RMSNorm(" << fmt(options.normalized_shape()) << ", eps=";
  if (options.eps())
    os << *options.eps();
  else
    os << "None";
  os << ", elementwise_affine=" << (options.elementwise_affine() ? "true" : "false") << ")";
  return os.str();
}

LocalResponseNorm::LocalResponseNorm(std::int64_t size, double alpha, double beta, double k)
    : size(size), alpha(alpha), beta(beta), k(k) {
  KILN_CHECK(size >= 1, "LocalResponseNorm: size must be >= 1, got ", size);
}

Tensor LocalResponseNorm::forward(const Tensor& x) { return local_response_norm(x, size, alpha, beta, k); }

std::string LocalResponseNorm::description() const {
  std::ostringstream os;
  os << "LocalResponseNorm(" << size << ", alpha=" << alpha << ", beta=" << beta << ", k=" << k << ")";
  return os.str();
}

// ---- GroupNorm ------------------------------------------------------------------------

GroupNorm::GroupNorm(const GroupNormOptions& o) : options(o) {
  KILN_CHECK(o.num_groups() > 0 && o.num_channels() > 0 && o.num_channels() % o.num_groups() == 0,
             "GroupNorm: ", o.num_channels(), " channels do not split into ", o.num_groups(),
             " groups; both must be positive and num_groups must divide num_channels");
  KILN_CHECK(o.eps() >= 0, "GroupNorm: eps must be >= 0, got ", o.eps());
  if (o.affine()) {
    register_parameter("weight", weight, ones({o.num_channels()}));
    register_parameter("bias", bias, zeros({o.num_channels()}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  KILN_CHECK(x.dim() >= 2 && x.size(1) == options.num_channels(), "GroupNorm: input of shape ",
             fmt(x.shape()), " has ", x.dim() >= 2 ? x.size(1) : 0, " channels but the layer was built for ",
             options.num_channels());
  return group_norm(x, options.num_groups(), weight, bias, options.eps());
}

std::string GroupNorm::description() const {
  std::ostringstream os;
  os << "GroupNorm(" << options.num_groups() << ", " << options.num_channels() << ", eps=" << options.eps()
     << ", affine=" << (options.affine() ? "true" : "false") << ")";
  return os.str();
}

// ---- Simple layers --------------------------------------------------------------------

Dropout::Dropout(double p) : p(p) { KILN_CHECK(p >= 0 && p <= 1, "Dropout: p = ", p, " must be in [0, 1]"); }
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }
std::string Dropout::description() const {
  std::ostringstream os;
  os << "Dropout(p=" << p << ")";
  return os.str();
}

DropoutVariant::DropoutVariant(const char* name, Op op, double p) : p(p), name_(name), op_(op) {
  KILN_CHECK(p >= 0 && p <= 1, name, ": p = ", p, " must be in [0, 1]");
}
std::string DropoutVariant::description() const {
  std::ostringstream os;
  os << name_ << "(p=" << p << ")";
  return os.str();
}

namespace {
// "2" for one value, "(2, 3)" for several.
std::string sizes_str(const std::vector<std::int64_t>& v) {
  if (v.size() == 1) return std::to_string(v[0]);
  std::ostringstream os;
  os << "(";
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ")";
  return os.str();
}
}  // namespace

Upsample::Upsample(const UpsampleOptions& o) : options(o) {
  const auto& f = o.scale_factor();
  KILN_CHECK(!o.size().empty() || (!f.empty() && f.size() <= 3 &&
                                   std::all_of(f.begin(), f.end(), [](std::int64_t s) { return s >= 1; })),
             "Upsample: scale factors must be 1 to 3 whole numbers >= 1, got ", sizes_str(f));
  KILN_CHECK(o.size().size() <= 3 &&
                 std::all_of(o.size().begin(), o.size().end(), [](std::int64_t s) { return s >= 1; }),
             "Upsample: size must be 1 to 3 sizes >= 1, got ", sizes_str(o.size()));
  const Interpolation m = o.mode();
  KILN_CHECK(!o.align_corners() || m == Interpolation::linear || m == Interpolation::bilinear ||
                 m == Interpolation::bicubic || m == Interpolation::trilinear,
             "Upsample: align_corners is for the linear, bilinear, bicubic and trilinear modes; ",
             interpolation_name(m), " takes none");
}
Tensor Upsample::forward(const Tensor& x) {
  const UpsampleOptions& o = options;
  const std::int64_t spatial = x.dim() - 2;
  KILN_CHECK(spatial >= 1 && spatial <= 3, description(),
             ": input must be (N, C, L), (N, C, H, W) or (N, C, D, H, W) but has shape ", fmt(x.shape()));
  const bool sized = !o.size().empty();
  const std::vector<std::int64_t>& given = sized ? o.size() : o.scale_factor();
  KILN_CHECK(given.size() == 1 || static_cast<std::int64_t>(given.size()) == spatial, description(), ": ",
             sized ? "size" : "scale_factor", " has ", given.size(), " values but the input ", fmt(x.shape()),
             " has ", spatial, " spatial dimensions; give one value or ", spatial);
  std::vector<std::int64_t> out(static_cast<std::size_t>(spatial));
  for (std::int64_t i = 0; i < spatial; ++i) {
    const std::int64_t v = given[given.size() == 1 ? 0 : static_cast<std::size_t>(i)];
    out[static_cast<std::size_t>(i)] = sized ? v : x.size(i + 2) * v;
  }
  if (spatial == 1) return interpolate1d(x, out[0], o.mode(), o.align_corners());
  if (spatial == 3) return interpolate3d(x, {out[0], out[1], out[2]}, o.mode(), o.align_corners());
  if (!sized && o.mode() == Interpolation::nearest)
    return upsample_nearest2d(x, {out[0] / x.size(2), out[1] / x.size(3)});
  return interpolate(x, {out[0], out[1]}, o.mode(), o.align_corners());
}
std::string Upsample::description() const {
  const UpsampleOptions& o = options;
  std::string s = "Upsample(" + (!o.size().empty() ? "size=" + sizes_str(o.size())
                                                   : "scale_factor=" + sizes_str(o.scale_factor()));
  s += std::string(", mode=") + interpolation_name(o.mode());
  if (o.align_corners()) s += ", align_corners=true";
  return s + ")";
}

Tensor PixelShuffle::forward(const Tensor& x) { return pixel_shuffle(x, factor); }
std::string PixelShuffle::description() const {
  return "PixelShuffle(upscale_factor=" + std::to_string(factor) + ")";
}
Tensor PixelUnshuffle::forward(const Tensor& x) { return pixel_unshuffle(x, factor); }
std::string PixelUnshuffle::description() const {
  return "PixelUnshuffle(downscale_factor=" + std::to_string(factor) + ")";
}

ChannelShuffle::ChannelShuffle(std::int64_t g) : groups(g) {
  KILN_CHECK(g >= 1, "ChannelShuffle: groups must be >= 1, got ", g);
}

Tensor Unfold::forward(const Tensor& x) { return unfold(x, kernel_size, dilation, padding, stride); }
std::string Unfold::description() const {
  return "Unfold(kernel_size=" + pair_str(kernel_size) + ", dilation=" + pair_str(dilation) +
         ", padding=" + pair_str(padding) + ", stride=" + pair_str(stride) + ")";
}
Tensor Fold::forward(const Tensor& columns) {
  return fold(columns, output_size, kernel_size, dilation, padding, stride);
}
std::string Fold::description() const {
  return "Fold(output_size=" + pair_str(output_size) + ", kernel_size=" + pair_str(kernel_size) +
         ", dilation=" + pair_str(dilation) + ", padding=" + pair_str(padding) +
         ", stride=" + pair_str(stride) + ")";
}

Padding::Padding(PadMode mode, int dims, std::vector<std::int64_t> pads, double value)
    : mode(mode), dims(dims), pads(std::move(pads)), value(value) {
  KILN_CHECK(this->pads.size() == static_cast<std::size_t>(2 * dims), description(), ": give one size or ",
             2 * dims, " (a before and after pair per dimension, the last first), got ", this->pads.size());
  for (std::int64_t p : this->pads) KILN_CHECK(p >= 0, description(), ": pad sizes must be >= 0");
  KILN_CHECK(mode == PadMode::constant || value == 0.0, description(),
             ": only constant padding takes a value");
}
Tensor Padding::forward(const Tensor& x) {
  KILN_CHECK(x.dim() == dims + 1 || x.dim() == dims + 2, description(), ": input must have ", dims + 1,
             " or ", dims + 2, " dimensions (unbatched or batched) but has shape ", fmt(x.shape()));
  return pad(x, pads, mode, value);
}
std::string Padding::description() const {
  std::ostringstream os;
  switch (mode) {
    case PadMode::reflect:
      os << "ReflectionPad";
      break;
    case PadMode::replicate:
      os << "ReplicationPad";
      break;
    case PadMode::circular:
      os << "CircularPad";
      break;
    case PadMode::constant:
      os << (value == 0.0 ? "ZeroPad" : "ConstantPad");
      break;
  }
  os << dims << "d((";
  for (std::size_t i = 0; i < pads.size(); ++i) os << (i ? ", " : "") << pads[i];
  os << ")";
  if (value != 0.0) os << ", value=" << value;
  os << ")";
  return os.str();
}

Tensor Unflatten::forward(const Tensor& x) {
  const std::int64_t d = dim < 0 ? dim + x.dim() : dim;
  KILN_CHECK(d >= 0 && d < x.dim(), "Unflatten: dimension ", dim, " is out of range for shape ",
             fmt(x.shape()));
  Shape shape(x.shape().begin(), x.shape().begin() + d);
  shape.insert(shape.end(), sizes.begin(), sizes.end());
  shape.insert(shape.end(), x.shape().begin() + d + 1, x.shape().end());
  return x.reshape(shape);
}
std::string Unflatten::description() const {
  std::ostringstream os;
  os << "Unflatten(dim=" << dim << ", unflattened_size=" << fmt(sizes) << ")";
  return os.str();
}

Tensor CosineSimilarity::forward(const Tensor&) { return refuse_one_input("CosineSimilarity"); }
Tensor CosineSimilarity::forward(const Tensor& x1, const Tensor& x2) {
  return cosine_similarity(x1, x2, dim, eps);
}
std::string CosineSimilarity::description() const {
  std::ostringstream os;
  os << "CosineSimilarity(dim=" << dim << ", eps=" << eps << ")";
  return os.str();
}
Tensor PairwiseDistance::forward(const Tensor&) { return refuse_one_input("PairwiseDistance"); }
Tensor PairwiseDistance::forward(const Tensor& x1, const Tensor& x2) {
  return pairwise_distance(x1, x2, p, eps, keepdim);
}
std::string PairwiseDistance::description() const {
  std::ostringstream os;
  os << "PairwiseDistance(p=" << p << ", eps=" << eps << (keepdim ? ", keepdim=true)" : ")");
  return os.str();
}

Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_dim, end_dim); }
std::string Flatten::description() const {
  return "Flatten(start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim) + ")";
}

Embedding::Embedding(const EmbeddingOptions& o) : options(o) {
  KILN_CHECK(o.num_embeddings() > 0 && o.embedding_dim() > 0, "Embedding: sizes ", o.num_embeddings(), " x ",
             o.embedding_dim(), " must be positive");
  Tensor table = randn({o.num_embeddings(), o.embedding_dim()});
  if (const auto pad = o.padding_idx()) {
    KILN_CHECK(*pad >= -o.num_embeddings() && *pad < o.num_embeddings(), "Embedding: padding_idx ", *pad,
               " must be in -", o.num_embeddings(), " .. ", o.num_embeddings() - 1);
    table[*pad < 0 ? *pad + o.num_embeddings() : *pad].fill_(0.0);
  }
  register_parameter("weight", weight, table);
}
Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices, options.padding_idx()); }
std::string Embedding::description() const {
  std::string padding;
  if (options.padding_idx()) padding = ", padding_idx=" + std::to_string(*options.padding_idx());
  return "Embedding(" + std::to_string(options.num_embeddings()) + ", " +
         std::to_string(options.embedding_dim()) + padding + ")";
}

EmbeddingBag::EmbeddingBag(const EmbeddingBagOptions& o) : options(o) {
  Embedding table(EmbeddingOptions(o.num_embeddings(), o.embedding_dim()).padding_idx(o.padding_idx()));
  register_parameter("weight", weight, table.weight.detach());
}
Tensor EmbeddingBag::forward(const Tensor& input) { return forward(input, Tensor()); }
Tensor EmbeddingBag::forward(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights) {
  return embedding_bag(weight, input, offsets, options.mode(), per_sample_weights,
                       options.include_last_offset(), options.padding_idx());
}
std::string EmbeddingBag::description() const {
  std::string padding;
  if (options.padding_idx()) padding = ", padding_idx=" + std::to_string(*options.padding_idx());
  return "EmbeddingBag(" + std::to_string(options.num_embeddings()) + ", " +
         std::to_string(options.embedding_dim()) + ", mode=" + embedding_bag_mode_name(options.mode()) +
         padding + ")";
}

// ---- Sequential -----------------------------------------------------------------------

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  KILN_CHECK(module != nullptr, kind(), ": cannot add a null module");
  register_module(std::to_string(size()), std::move(module));
}

std::shared_ptr<Module> ModuleList::operator[](std::size_t i) const {
  KILN_CHECK(i < size(), kind(), ": index ", i, " is out of range for ", size(), " modules");
  return named_children()[i].second;
}

ModuleDict::ModuleDict(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> modules) {
  for (const auto& [name, m] : modules) insert(name, m);
}

void ModuleDict::insert(const std::string& name, std::shared_ptr<Module> module) {
  KILN_CHECK(module != nullptr, "ModuleDict: cannot add a null module as '", name, "'");
  register_module(name, std::move(module));  // refuses a name taken, or one with a '.'
}

bool ModuleDict::contains(const std::string& name) const {
  for (const auto& [n, _] : named_children())
    if (n == name) return true;
  return false;
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : named_children()) out.push_back(n);
  return out;
}

std::shared_ptr<Module> ModuleDict::operator[](const std::string& name) const {
  for (const auto& [n, m] : named_children())
    if (n == name) return m;
  std::string names;
  for (const auto& n : keys()) names += (names.empty() ? "" : ", ") + n;
  throw Error("ModuleDict: no module named '" + name + "' (keys: " + (names.empty() ? "none" : names) + ")");
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [_, m] : named_children()) h = (*m)(h);
  return h;
}

Tensor checkpoint_sequential(const Sequential& seq, std::int64_t segments, const Tensor& x,
                             const CheckpointOptions& options) {
  const auto n = static_cast<std::int64_t>(seq.size());
  KILN_CHECK(segments >= 1 && segments <= std::max<std::int64_t>(n, 1), "checkpoint_sequential: ", segments,
             " segments for a Sequential of ", n, " modules; ask for 1 to ", std::max<std::int64_t>(n, 1));
  std::vector<std::shared_ptr<Module>> modules;
  for (std::size_t i = 0; i < seq.size(); ++i) modules.push_back(seq[i]);
  Tensor h = x;
  for (std::int64_t s = 0; s < segments; ++s) {
    // Segment s holds modules [n s / segments, n (s + 1) / segments).
    const std::vector<std::shared_ptr<Module>> run(modules.begin() + n * s / segments,
                                                   modules.begin() + n * (s + 1) / segments);
    auto forward = [run](const Tensor& in) {
      Tensor out = in;
      for (const auto& m : run) out = (*m)(out);
      return out;
    };
    h = s + 1 < segments ? checkpoint(forward, h, options) : forward(h);
  }
  return h;
}

}  // namespace kiln::nn
