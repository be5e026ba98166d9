// Quantized layers and post-training quantization (see kiln/quant/layers.hpp).
#include "kiln/quant/layers.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"

namespace kiln::quant {

// ---- QuantizedLayer -------------------------------------------------------------------
QuantizedLayer::QuantizedLayer(const Tensor& float_weight_2d, const Tensor& bias, Format format,
                               Activations activations)
    : activations_(activations) {
  weight_ = QuantizedWeight::from_float(float_weight_2d, format);
  if (format == Format::int8) {
    values_ = register_buffer("weight_int8", weight_.values());
    scale_ = register_buffer("weight_scale", weight_.scale());
  } else {
    values_ = register_buffer("weight_q4_0", q4_0_as_bytes(weight_.values()));
  }
  if (bias.defined()) bias_ = register_buffer("bias", bias.detach().to(kFloat32).clone());
  if (activations == Activations::calibrated) input_scale_ = register_buffer("input_scale", zeros({1}));
}

void QuantizedLayer::state_loaded() {
  // The buffers hold the loaded values (or moved to another device): rebuild the
  // kernels' copy from them on the host, then put it where the buffers live.
  const Device device = values_.device();
  const Tensor values = values_.to(Device::cpu());
  if (weight_.format() == Format::int8)
    weight_ = QuantizedWeight::from_int8(Int8Rows{values, scale_.to(Device::cpu())});
  else
    weight_ = QuantizedWeight::from_q4_0(q4_0_from_bytes(values, weight_.values().size(1)), weight_.in_features());
  weight_ = weight_.to(device);
  if (input_scale_.defined()) options_.input_scale = input_scale_.item<float>();
}

void QuantizedLayer::begin_calibration() {
  KILN_CHECK(float_weight_.defined(), "begin_calibration: ", description(),
             " no longer has its float weights (calibration runs once, inside quantize())");
  calibrating_ = true;
  observed_max_ = 0.0f;
}

void QuantizedLayer::end_calibration() {
  calibrating_ = false;
  float_weight_ = Tensor();
  if (activations_ != Activations::calibrated) return;
  KILN_CHECK(std::isfinite(observed_max_), "quantize: ", description(),
             " saw a non-finite input during calibration; check the calibration data");
  options_.input_scale = int8_scale_for(observed_max_);
  input_scale_.fill_(options_.input_scale);
}

Tensor QuantizedLayer::observe(const Tensor& x) {
  if (x.numel() > 0) observed_max_ = std::max(observed_max_, kiln::max(abs(x.detach())).item<float>());
  return x;
}

std::string QuantizedLayer::format_description() const {
  std::ostringstream os;
  os << "format=" << format_name(weight_.format())
     << ", activations=" << (activations_ == Activations::dynamic ? "dynamic" : "calibrated");
  if (activations_ == Activations::calibrated) os << ", input_scale=" << options_.input_scale;
  if (options_.relu) os << ", relu";
  if (options_.max_pool_2x2) os << ", max_pool 2x2";
  return os.str();
}

namespace {
void require_scale(const QuantizedLayer& layer, Activations a, float scale) {
  KILN_CHECK(a == Activations::dynamic || scale > 0.0f, layer.description(),
             ": calibrated activations have no scale yet; pass calibration batches to quantize() or load a "
             "checkpoint that has input_scale");
}
}  // namespace

// ---- Linear ---------------------------------------------------------------------------------
Linear::Linear(const nn::Linear& source, Format format, Activations activations)
    : QuantizedLayer(source.weight, source.bias, format, activations) {
  float_weight_ = source.weight.detach();
}

Tensor Linear::forward(const Tensor& x) {
  NoGradGuard no_grad;
  if (calibrating()) {
    const Tensor y = kiln::linear(observe(x), float_weight_, bias_);
    return options_.relu ? relu(y) : y;
  }
  require_scale(*this, activations(), options_.input_scale);
  return quant::linear(x, weight_, bias_, options_);
}

std::string Linear::description() const {
  std::ostringstream os;
  os << "quant::Linear(in_features=" << weight_.in_features() << ", out_features=" << weight_.out_features()
     << ", bias=" << (bias_.defined() ? "true" : "false") << ", " << format_description() << ")";
  return os.str();
}

// ---- Conv2d ---------------------------------------------------------------------------------
namespace {
Tensor conv_matrix(const nn::Conv2d& source) {
  KILN_CHECK(source.options.groups() == 1, "quant::Conv2d: grouped convolutions (groups=", source.options.groups(),
             ") are not quantized; keep this layer in float with QuantConfig::layers");
  // Columns in (kh, kw, in) order, the order of quant::conv2d's channels-last im2col rows.
  return source.weight.detach().permute({0, 2, 3, 1}).contiguous().reshape({source.weight.size(0), -1});
}
}  // namespace

Conv2d::Conv2d(const nn::Conv2d& source, Format format, Activations activations)
    : QuantizedLayer(conv_matrix(source), source.bias, format, activations), options(source.options) {
  float_weight_ = source.weight.detach();
}

Tensor Conv2d::forward(const Tensor& x) {
  NoGradGuard no_grad;
  if (calibrating()) {
    Tensor y = kiln::conv2d(observe(x), float_weight_, bias_, options.stride(), options.padding(),
                            options.dilation());
    if (options_.relu) y = relu(y);
    return options_.max_pool_2x2 ? max_pool2d(y, {2, 2}) : y;
  }
  require_scale(*this, activations(), options_.input_scale);
  return quant::conv2d(x, weight_, bias_, options.kernel_size(), options.stride(), options.padding(),
                       options.dilation(), options_);
}

std::string Conv2d::description() const {
  std::ostringstream os;
  os << "quant::Conv2d(" << options.in_channels() << ", " << options.out_channels() << ", kernel_size=("
     << options.kernel_size()[0] << ", " << options.kernel_size()[1] << "), " << format_description() << ")";
  return os.str();
}

// ---- MaxPool2dReLU ---------------------------------------------------------------------
Tensor MaxPool2dReLU::forward(const Tensor& x) {
  return relu(max_pool2d(x, options.kernel_size(), options.stride(), options.padding()));
}

std::string MaxPool2dReLU::description() const {
  std::ostringstream os;
  os << "MaxPool2dReLU(kernel_size=(" << options.kernel_size()[0] << ", " << options.kernel_size()[1] << "))";
  return os.str();
}

// ---- quantize ---------------------------------------------------------------------------
namespace {

bool is_2x2_stride_2(const nn::PoolOptions& o) {
  const Pair stride = o.stride() == Pair{0, 0} ? o.kernel_size() : o.stride();
  return o.kernel_size() == Pair{2, 2} && stride == Pair{2, 2} && o.padding() == Pair{0, 0};
}

struct Builder {
  const QuantConfig& config;
  std::vector<std::shared_ptr<QuantizedLayer>> layers;
  std::vector<std::string> used;

  LayerChoice choice(const std::string& name, std::int64_t inputs) {
    auto it = config.layers.find(name);
    if (it == config.layers.end()) return {inputs >= config.min_inputs, config.format, config.activations};
    used.push_back(name);
    return it->second;
  }

  std::shared_ptr<nn::Sequential> convert(const nn::Sequential& model, const std::string& prefix) {
    auto out = std::make_shared<nn::Sequential>();
    std::shared_ptr<QuantizedLayer> previous;
    std::shared_ptr<Conv2d> conv_before;  // a quantized conv, possibly followed by its fused ReLU
    const auto& children = model.named_children();
    for (std::size_t i = 0; i < children.size(); ++i) {
      const auto& [name, child] = children[i];
      const std::string full = prefix.empty() ? name : prefix + "." + name;
      std::shared_ptr<nn::Module> next = child;
      std::shared_ptr<QuantizedLayer> made;
      // A float ReLU with a max pool after it: pool first, then the ReLU, in the pool's place.
      const auto pool_after = i + 1 < children.size() ? std::dynamic_pointer_cast<nn::MaxPool2d>(children[i + 1].second)
                                                      : nullptr;
      if (auto seq = std::dynamic_pointer_cast<nn::Sequential>(child)) {
        next = convert(*seq, full);
      } else if (auto lin = std::dynamic_pointer_cast<nn::Linear>(child)) {
        const LayerChoice c = choice(full, lin->weight.size(1));
        if (c.quantize) next = made = std::make_shared<Linear>(*lin, c.format, c.activations);
      } else if (auto conv = std::dynamic_pointer_cast<nn::Conv2d>(child)) {
        const LayerChoice c = choice(full, conv->weight.numel() / conv->weight.size(0));
        if (c.quantize) next = made = std::make_shared<Conv2d>(*conv, c.format, c.activations);
      } else if (config.fuse_relu && previous && std::dynamic_pointer_cast<nn::ReLU>(child)) {
        previous->set_fused_relu(true);
        next = std::make_shared<FusedReLU>();
        out->push_back(next);
        continue;  // conv_before stays: a pool may follow the ReLU
      } else if (config.pool_before_relu && pool_after && std::dynamic_pointer_cast<nn::ReLU>(child)) {
        out->push_back(std::make_shared<FusedReLU>());
        out->push_back(std::make_shared<MaxPool2dReLU>(pool_after->options));
        ++i;
        previous = nullptr;
        conv_before = nullptr;
        continue;
      } else if (auto pool = std::dynamic_pointer_cast<nn::MaxPool2d>(child);
                 pool && config.fuse_max_pool && conv_before && is_2x2_stride_2(pool->options)) {
        conv_before->set_fused_max_pool(true);
        next = std::make_shared<FusedMaxPool2d>();
      }
      if (made) layers.push_back(made);
      previous = made;
      conv_before = std::dynamic_pointer_cast<Conv2d>(made);
      out->push_back(next);
    }
    return out;
  }
};

}  // namespace

std::shared_ptr<nn::Sequential> quantize(const nn::Sequential& model, const QuantConfig& config) {
  Builder b{config, {}, {}};
  auto out = b.convert(model, "");
  for (const auto& [name, _] : config.layers)
    KILN_CHECK(std::find(b.used.begin(), b.used.end(), name) != b.used.end(), "quantize: QuantConfig::layers names '",
               name, "', which is not a Linear or Conv2d of the model; layer names are dotted child names such "
               "as \"0\" or \"features.3\"");
  const bool any_calibrated = std::any_of(b.layers.begin(), b.layers.end(), [](const auto& l) {
    return l->activations() == Activations::calibrated;
  });
  KILN_CHECK(!any_calibrated || !config.calibration.empty(),
             "quantize: calibrated activations need QuantConfig::calibration batches (float inputs of the model)");
  out->eval();
  if (any_calibrated) {
    for (auto& l : b.layers) l->begin_calibration();
    for (const Tensor& batch : config.calibration) out->forward(batch);
  }
  for (auto& l : b.layers) l->end_calibration();
  return out;
}

}  // namespace kiln::quant
